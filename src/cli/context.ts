import { homedir } from 'node:os';
import { DEFAULT_PROFILE, validateProfileName } from '../core/config.js';
import { parseDuration } from '../core/duration.js';
import { resolvePaths, type Paths } from '../core/paths.js';
import type { IO } from '../io.js';

/** Options every command accepts. */
export interface GlobalOptions {
  profile?: string;
  verbose?: boolean;
  color?: boolean;
}

/** What every command needs, built once from the IO and the global flags. */
export interface CommandContext {
  io: IO;
  profile: string;
  paths: Paths;
  /** Aborted on Ctrl-C. */
  signal: AbortSignal;
  httpTimeoutSeconds: number;
  /**
   * Takes over the signals the entry point would otherwise handle (Ctrl-C
   * ends devlogin): `exec` forwards them to its child instead.
   */
  trapSignals(handler: (signal: NodeJS.Signals) => void): void;
}

export const DEFAULT_HTTP_TIMEOUT_SECONDS = 15;
const DEFAULT_MIN_TTL_SECONDS = 60;

/** Parses --min-ttl (default 60 s). */
export function parseMinTtl(value: unknown): number {
  return typeof value === 'string' ? parseDuration(value, 'min TTL', { allowZero: true }) : DEFAULT_MIN_TTL_SECONDS;
}

export function createContext(
  io: IO,
  globals: GlobalOptions,
  signal: AbortSignal,
  trapSignals: CommandContext['trapSignals'],
): CommandContext {
  const profile = validateProfileName(globals.profile ?? io.env.DEVLOGIN_PROFILE ?? DEFAULT_PROFILE);
  const timeout = io.env.DEVLOGIN_HTTP_TIMEOUT;
  return {
    io,
    profile,
    paths: resolvePaths(io.env, homedir()),
    signal,
    httpTimeoutSeconds: timeout ? parseDuration(timeout, 'DEVLOGIN_HTTP_TIMEOUT') : DEFAULT_HTTP_TIMEOUT_SECONDS,
    trapSignals,
  };
}

/** --verbose lines on stderr, prefixed so they are easy to tell apart. */
export function verboseLog(io: IO): ((line: string) => void) | undefined {
  return io.verbose ? (line) => io.stderr.write(`[devlogin] ${line}\n`) : undefined;
}

/** One JSON document per line on stdout. */
export function writeJsonLine(io: IO, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value)}\n`);
}
