import { toDevloginError, EXIT, type DevloginError } from '../errors.js';
import type { IO } from '../io.js';

/**
 * Prints a failure as one line on stderr (what happened, and what to do),
 * with its causes under --verbose, and returns its exit code.
 */
export function reportError(io: IO, err: unknown): number {
  const error = toDevloginError(err);
  if (error.exitCode === EXIT.interrupted) io.stderr.write('\n');
  io.stderr.write(`devlogin: ${error.message}${error.hint ? ` ${error.hint}` : ''}\n`);
  if (io.verbose) io.stderr.write(`${describeCause(error)}\n`);
  return error.exitCode;
}

function describeCause(error: DevloginError): string {
  const lines: string[] = [];
  let cause: unknown = error;
  for (let depth = 0; depth < 6 && cause instanceof Error; depth += 1) {
    lines.push(`[devlogin] ${depth === 0 ? '' : 'caused by: '}${cause.stack ?? cause.message}`);
    cause = cause.cause;
  }
  return lines.join('\n');
}
