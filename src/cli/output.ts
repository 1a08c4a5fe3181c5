import type { IO } from '../io.js';

/** One JSON document per line on stdout. */
export function writeJsonLine(io: IO, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value)}\n`);
}

