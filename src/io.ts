import { closeSync, fstatSync, openSync, statSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { ReadStream } from 'node:tty';
import { interruptedError } from './errors.js';

/**
 * Everything devlogin says goes through an IO: results on stdout, words for
 * people on stderr. main.ts builds one over the process; tests build one over
 * buffers (createBufferIO) with whatever TTY flags they need.
 */

export interface OutputStream {
  write(chunk: string): unknown;
}

/**
 * What a spinner draws on: a terminal stream (process.stderr), or a buffer
 * that pretends to be one in tests.
 */
export interface TerminalStream extends OutputStream {
  isTTY: boolean;
  columns?: number;
  cursorTo(x: number): boolean;
  moveCursor(dx: number, dy: number): boolean;
  clearLine(dir: -1 | 0 | 1): boolean;
}

export interface IO {
  stdout: OutputStream;
  /** A terminal stream when stderrIsTTY, so the spinner can draw on it. */
  stderr: OutputStream | TerminalStream;
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
}

/** A person is at the keyboard and can be shown a browser. */
export function isInteractive(io: IO): boolean {
  return io.stderrIsTTY && io.stdinIsTTY && !io.ci && !io.ssh;
}

/**
 * stderr as a terminal the spinner may draw on, or undefined. A terminal
 * that reports no width (a pseudo-terminal nobody sized, as `script` makes)
 * gets none: ora would count its lines as endless and clear them forever.
 */
export function terminalOf(io: IO): TerminalStream | undefined {
  const stream = io.stderr as Partial<TerminalStream>;
  return io.stderrIsTTY && typeof stream.cursorTo === 'function' && (stream.columns ?? 0) > 0 ? (stream as TerminalStream) : undefined;
}

type Env = Readonly<Record<string, string | undefined>>;

/** https://no-color.org and FORCE_COLOR, with the --no-color flag winning. */
export function chooseColor(isTTY: boolean, env: Env, noColorFlag: boolean): boolean {
  if (noColorFlag) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  return isTTY && env.TERM !== 'dumb';
}

/** The process's IO: only main.ts calls this. */
export function createProcessIO(env: Env, flags: { noColor: boolean; verbose: boolean }): IO {
  const stdoutIsTTY = isTerminal(1);
  const stderrIsTTY = isTerminal(2);
  return {
    // A pipe or a file (what scripts read, `TOKEN=$(devlogin token)`) is written
    // to directly: process.stdout would load node:net and node:tty, a few
    // milliseconds of every whoami and token.
    stdout: stdoutIsTTY ? processStream('stdout') : directWriter(1, 'stdout'),
    stderr: stderrIsTTY ? processStream('stderr') : directWriter(2, 'stderr'),
    stdoutIsTTY,
    stderrIsTTY,
    stdinIsTTY: isTerminal(0),
    color: chooseColor(stderrIsTTY, env, flags.noColor),
    ci: isTruthy(env.CI),
    ssh: Boolean(env.SSH_CONNECTION || env.SSH_TTY || env.SSH_CLIENT),
    verbose: flags.verbose,
  };
}

let nullDevice: number | undefined;
const devNull = (): number | undefined => {
  try {
    return (nullDevice ??= statSync('/dev/null').rdev);
  } catch {
    return undefined; // no /dev/null (Windows): ask
  }
};

/**
 * Whether fd is a terminal. Only a character device can be one: a pipe, a
 * socket or a file is told apart by fstat alone, without loading node:tty
 * (and node:net with it), and so is /dev/null (`devlogin whoami >/dev/null
 * 2>&1`, `</dev/null` in cron), by its device number; other devices are asked.
 */
function isTerminal(fd: number): boolean {
  try {
    const info = fstatSync(fd);
    if (!info.isCharacterDevice() || info.rdev === devNull()) return false;
  } catch {
    return false; // closed
  }
  return (createRequire(import.meta.url)('node:tty') as typeof import('node:tty')).isatty(fd);
}

/** The process streams in use: flushProcessStreams waits for them. */
const opened = new Set<NodeJS.WriteStream>();

function processStream(name: 'stdout' | 'stderr'): NodeJS.WriteStream {
  const stream = process[name];
  // A reader that went away (`devlogin token | less`, quit early) is no error of ours.
  stream.on('error', () => undefined);
  opened.add(stream);
  return stream;
}

/**
 * Waits until what was written through process.stdout and process.stderr
 * has reached its descriptor: a write to a pipe that is full (a slow reader
 * of a non-blocking pipe) is queued, and process.exit would drop it. main.ts
 * calls this before it exits. An empty write's callback runs after every
 * earlier write, or at the stream's error (a reader that went away).
 */
export function flushProcessStreams(): Promise<void> {
  return Promise.all([...opened].map((stream) => new Promise<void>((resolve) => {
    if (stream.writableLength === 0) resolve();
    else stream.write('', () => resolve());
  }))).then(() => undefined);
}

/**
 * Writes straight to fd, synchronously, so nothing is left unwritten when
 * main.ts exits. A reader that went away (EPIPE: `devlogin token | true`) is
 * no error of ours: the rest is dropped. A descriptor some other process made
 * non-blocking can refuse a write (EAGAIN) when the reader is slow; the rest
 * then goes through process.stdout/stderr, which queues it until the reader
 * reads (and main.ts waits for that: flushProcessStreams).
 */
function directWriter(fd: number, name: 'stdout' | 'stderr'): OutputStream {
  let fallback: NodeJS.WriteStream | undefined;
  let gone = false;
  return {
    write(chunk: string) {
      if (fallback) return fallback.write(chunk);
      if (gone) return false;
      let bytes = Buffer.from(chunk, 'utf8');
      while (bytes.length > 0) {
        try {
          bytes = bytes.subarray(writeSync(fd, bytes));
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'EAGAIN') {
            fallback = processStream(name);
            return fallback.write(bytes);
          }
          gone = true; // EPIPE, or the descriptor is closed
          return false;
        }
      }
      return true;
    },
  };
}

/**
 * Asks for a secret on the controlling terminal, /dev/tty (never stdin,
 * which may be a pipe, and never argv), with echo off: the terminal is put
 * in raw mode and restored on every path, Enter, Ctrl-C (exit 130), an
 * error, or the process exiting meanwhile. Resolves null when there is no
 * terminal to ask on.
 */
export async function promptSecretOnTty(question: string): Promise<string | null> {
  let fd: number;
  try {
    fd = openSync('/dev/tty', 'r+');
  } catch {
    return null; // no controlling terminal: CI, a service, a container without -t
  }
  let input: ReadStream;
  try {
    input = new (await import('node:tty')).ReadStream(fd);
  } catch {
    closeSync(fd);
    return null;
  }
  const restore = () => {
    try {
      input.setRawMode(false);
    } catch {
      // the terminal is gone
    }
  };
  process.once('exit', restore);
  try {
    // Echo off before the question shows: keys typed as soon as it appears must not be echoed.
    input.setRawMode(true);
    writeSync(fd, question);
    return await new Promise<string>((resolve, reject) => {
      let answer = '';
      input.on('error', reject);
      input.on('data', (chunk: Buffer) => {
        for (const char of chunk.toString('utf8')) {
          if (char === '\r' || char === '\n' || char === '\u0004') return resolve(answer);
          if (char === '\u0003') return reject(interruptedError());
          if (char === '\u007f' || char === '\b') answer = [...answer].slice(0, -1).join('');
          else if (char === '\u0015') answer = '';
          else if (char >= ' ') answer += char;
        }
      });
    });
  } finally {
    restore();
    process.off('exit', restore);
    try {
      writeSync(fd, '\n');
    } catch {
      // the terminal is gone
    }
    input.destroy(); // closes fd
  }
}

function isTruthy(value: string | undefined): boolean {
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}

export interface BufferIO extends IO {
  out(): string;
  err(): string;
}

/**
 * An IO over string buffers for tests: TTY, colour, CI and SSH off unless
 * set. With stderrIsTTY, stderr is a pretend terminal (cursor moves are
 * dropped, the text kept), so the spinner and QR code paths run as on a
 * real terminal.
 */
export function createBufferIO(flags: Partial<Omit<IO, 'stdout' | 'stderr'>> = {}): BufferIO {
  let out = '';
  let err = '';
  const stderr: TerminalStream = {
    isTTY: flags.stderrIsTTY ?? false,
    columns: 80,
    write: (chunk: string) => ((err += chunk), true),
    cursorTo: () => true,
    moveCursor: () => true,
    clearLine: () => true,
  };
  return {
    stdout: { write: (chunk: string) => (out += chunk) },
    stderr,
    stdoutIsTTY: false,
    stderrIsTTY: false,
    stdinIsTTY: false,
    color: false,
    ci: false,
    ssh: false,
    verbose: false,
    ...flags,
    out: () => out,
    err: () => err,
  };
}
