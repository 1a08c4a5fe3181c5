import { isatty } from 'node:tty';

/**
 * Everything devlogin says goes through an IO: results on stdout, words for
 * people on stderr. The entry point builds one from the process; tests build
 * one over buffers (createBufferIO).
 */

export interface OutputStream {
  write(chunk: string): unknown;
}

export interface IO {
  stdout: OutputStream;
  stderr: OutputStream;
  /** stdout/stderr/stdin are terminals. */
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  stdinIsTTY: boolean;
  /** Colour on stderr (TTY, NO_COLOR, FORCE_COLOR, --no-color already applied). */
  color: boolean;
  /** Running in CI (the CI variable is set): never interactive. */
  ci: boolean;
  /** Connected over SSH: the browser would open on the wrong machine. */
  ssh: boolean;
  verbose: boolean;
  env: Readonly<Record<string, string | undefined>>;
  /** Raw stderr stream for spinners; absent in tests. */
  stderrStream?: NodeJS.WriteStream;
}

/** A person is at the keyboard and can be shown a browser. */
export function isInteractive(io: IO): boolean {
  return io.stderrIsTTY && io.stdinIsTTY && !io.ci && !io.ssh;
}

export interface ColorChoice {
  isTTY: boolean;
  env: Readonly<Record<string, string | undefined>>;
  noColorFlag: boolean;
}

/** https://no-color.org and FORCE_COLOR, with the --no-color flag winning. */
export function chooseColor({ isTTY, env, noColorFlag }: ColorChoice): boolean {
  if (noColorFlag) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  return isTTY && env.TERM !== 'dumb';
}

export function createProcessIO(options: { noColor: boolean; verbose: boolean }): IO {
  const env = process.env;
  const stderrIsTTY = process.stderr.isTTY === true;
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdoutIsTTY: process.stdout.isTTY === true,
    stderrIsTTY,
    // isatty(0), not process.stdin.isTTY: touching process.stdin builds a stream, a cost on every run.
    stdinIsTTY: isatty(0),
    color: chooseColor({ isTTY: stderrIsTTY, env, noColorFlag: options.noColor }),
    ci: isTruthyEnv(env.CI),
    ssh: Boolean(env.SSH_CONNECTION || env.SSH_TTY || env.SSH_CLIENT),
    verbose: options.verbose,
    env,
    stderrStream: process.stderr,
  };
}

function isTruthyEnv(value: string | undefined): boolean {
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}

export interface BufferIO extends IO {
  out(): string;
  err(): string;
}

/** An IO over string buffers, TTY and colour off: for tests, and the agent's answers. */
export function createBufferIO(overrides: Partial<IO> = {}): BufferIO {
  let out = '';
  let err = '';
  return {
    stdout: { write: (chunk: string) => (out += chunk) },
    stderr: { write: (chunk: string) => (err += chunk) },
    stdoutIsTTY: false,
    stderrIsTTY: false,
    stdinIsTTY: false,
    color: false,
    ci: false,
    ssh: false,
    verbose: false,
    env: {},
    ...overrides,
    out: () => out,
    err: () => err,
  };
}
