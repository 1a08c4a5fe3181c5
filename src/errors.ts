/**
 * The one error class of devlogin and the only place exit codes are named.
 * Every failure that reaches the entry point is a DevloginError; anything else
 * is a bug and maps to EXIT.internal.
 */

/** Exit codes, as documented in the README and DESIGN.md. */
export const EXIT = {
  ok: 0,
  internal: 1,
  usage: 2,
  notSignedIn: 3,
  sessionEnded: 4,
  signInNotCompleted: 5,
  vault: 6,
  provider: 7,
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export interface DevloginErrorOptions {
  /** What the user can do about it, printed after the message. */
  hint?: string;
  /** A stable machine-readable code, e.g. a provider error (`access_denied`). */
  code?: string;
  cause?: unknown;
}

export class DevloginError extends Error {
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;
  readonly code: string | undefined;

  constructor(exitCode: ExitCode, message: string, options: DevloginErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DevloginError';
    this.exitCode = exitCode;
    this.hint = options.hint;
    this.code = options.code;
  }
}

export const usageError = (message: string, hint?: string): DevloginError =>
  new DevloginError(EXIT.usage, message, { hint });

export const vaultError = (message: string, options?: DevloginErrorOptions): DevloginError =>
  new DevloginError(EXIT.vault, message, options);

export const providerError = (message: string, options?: DevloginErrorOptions): DevloginError =>
  new DevloginError(EXIT.provider, message, options);

export const interruptedError = (): DevloginError =>
  new DevloginError(EXIT.interrupted, 'Interrupted; nothing was stored.');

/** True when the value is an AbortError/TimeoutError raised by an AbortSignal. */
export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');
}

/**
 * What was thrown, as text, whatever it is: String() itself throws for some
 * values (an object whose toString is not a function, one without a
 * prototype), and an error report must never fail in turn.
 */
export function describeThrown(value: unknown): string {
  if (value instanceof Error) return value.message;
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/**
 * Turns anything thrown into a DevloginError. Foreign errors that were not
 * translated where they happened are bugs: exit 1 with a hint to use --verbose.
 */
export function toDevloginError(err: unknown): DevloginError {
  if (err instanceof DevloginError) return err;
  const message = describeThrown(err);
  return new DevloginError(EXIT.internal, `Unexpected error: ${firstLine(message)}`, {
    hint: 'This is a bug in devlogin. Run again with --verbose and report what it prints.',
    cause: err,
  });
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? '';
}
