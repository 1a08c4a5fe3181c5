import { usageError } from '../errors.js';

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600 };

/**
 * Parses a duration as the CLI accepts it: a whole number of seconds, or a
 * number with a unit (`90s`, `15m`, `1h`, `8h`). Returns seconds.
 */
export function parseDuration(text: string, what: string, options: { allowZero?: boolean } = {}): number {
  const match = /^\s*(\d{1,9})\s*([smh]?)\s*$/i.exec(text);
  if (!match) {
    throw usageError(
      `Invalid ${what} "${printable(text)}".`,
      'Use a number of seconds or a value like 90s, 15m, 1h.',
    );
  }
  const seconds = Number(match[1]) * (UNIT_SECONDS[(match[2] || 's').toLowerCase()] ?? 1);
  if (seconds <= 0 && !(options.allowZero && seconds === 0)) throw usageError(`Invalid ${what} "${printable(text)}": it must be more than zero.`);
  return seconds;
}

/** Formats seconds for people: `45s`, `15m`, `1h`, `1h 30m`. */
export function formatDuration(totalSeconds: number): string {
  const seconds = Math.max(0, Math.round(totalSeconds));
  if (seconds < 60) return `${seconds}s`;
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = seconds % 60;
  if (hours === 0) return rest === 0 || minutes >= 10 ? `${minutes}m` : `${minutes}m ${rest}s`;
  return minutes === 0 ? `${hours}h` : `${hours}h ${minutes}m`;
}

function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 40);
}
