import { describeThrown } from '../errors.js';

/**
 * Removes control characters (C0, DEL, C1 and the bidi/format controls that
 * can reorder text) from a string that came from the provider, so that it
 * cannot move the cursor, clear the screen or hide text when printed.
 */
export function stripControl(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g, '');
}

/** A provider-sent value made safe to print, cut to a sane length. */
export function printable(value: unknown, maxLength = 300): string {
  const text = stripControl(typeof value === 'string' ? value : describeThrown(value));
  return text.length > maxLength ? `${text.slice(0, maxLength)}…` : text;
}
