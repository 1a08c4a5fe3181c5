import { describeThrown } from '../errors.js';

/**
 * Removes control characters (C0, DEL, C1), format characters (the bidi
 * controls that reorder text, zero-width and invisible characters, tag
 * characters) and the line and paragraph separators from a string that came
 * from the provider, so that it cannot move the cursor, clear the screen,
 * hide or reorder text when printed, nor start a new line in a log.
 */
export function stripControl(text: string): string {
  // Whole escape sequences first, so that no remnant ("[31m", "]52;c;…") is left
  // to read as text: ECMA-48 CSI (ESC [ or C1 0x9b, parameters, final byte),
  // OSC/DCS/APC/PM strings up to BEL or ST, and two-character ESC sequences.
  // Printable ASCII, nearly every string, has none of them: the Unicode
  // property classes below cost a millisecond to compile on first use.
  if (/^[\x20-\x7e]*$/.test(text)) return text;
  return text
    .replace(/(?:\u001b\[|\u009b)[0-?]*[ -/]*[@-~]/g, '')
    .replace(/(?:\u001b[\]P^_X]|[\u0090\u009d\u009e\u009f])[^\u0007\u001b\u009c]*(?:\u0007|\u001b\\|\u009c)?/g, '')
    .replace(/\u001b[ -~]/g, '')
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, '');
}

/** A provider-sent value made safe to print, cut to a sane length. */
export function printable(value: unknown, maxLength = 300): string {
  const text = stripControl(typeof value === 'string' ? value : describeThrown(value));
  return text.length > maxLength ? `${text.slice(0, maxLength)}…` : text;
}

const pad = (value: number, width = 2): string => String(value).padStart(width, '0');

/**
 * What Date#toISOString prints, built from the UTC getters: V8's first
 * toISOString in a process costs about a millisecond (measured here), which
 * every whoami and token paid. Years outside 0-9999 (the extended
 * ±YYYYYY form) and an invalid time go to toISOString itself.
 */
export function isoTime(epochMs: number): string {
  const date = new Date(epochMs);
  const year = date.getUTCFullYear();
  if (!(year >= 0 && year <= 9999)) return date.toISOString();
  return `${pad(year, 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}T${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}.${pad(date.getUTCMilliseconds(), 3)}Z`;
}
