import { homedir, hostname } from 'node:os';
import type { CustomFetch } from 'openid-client';
import { auditSinkFor } from './core/audit-forward.js';
import { createHttpFetch } from './core/http.js';
import { resolvePaths } from './core/paths.js';
import type { SessionDeps } from './core/session/active.js';
import { resolveHttpTimeout, type Env } from './core/settings.js';
import { createVault } from './core/vault/vault.js';
import { promptSecretOnTty, type IO } from './io.js';

/**
 * Everything a command needs from the world, built once by main.ts for the
 * process and by the tests for each run (a buffer IO, a key store in memory,
 * a virtual clock): commands receive it and build none of it themselves.
 */
export interface Deps extends SessionDeps {
  io: IO;
  env: Env;
  /** Aborted on Ctrl-C. */
  signal: AbortSignal;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Opens the URL in the user's browser; rejects when it cannot. */
  openBrowser(url: string): Promise<void>;
  /** A QR code of the text, as lines for a terminal. */
  renderQr(text: string): Promise<string>;
  /**
   * Asks the person at the terminal for a secret without echo (the
   * passphrase vault, when DEVLOGIN_VAULT_PASSPHRASE is unset); null when
   * there is no terminal.
   */
  promptSecret(question: string): Promise<string | null>;
  /** All of standard input (api -d @-). */
  readStdin(): Promise<Buffer>;
  /**
   * Takes over the signals main.ts would otherwise handle (Ctrl-C ends
   * devlogin): exec forwards them to its child instead.
   */
  trapSignals(handler: (signal: NodeJS.Signals) => void): void;
}

/** --verbose lines on stderr, prefixed so they are easy to tell apart. */
export function verboseLog(io: IO): ((line: string) => void) | undefined {
  return io.verbose ? (line) => io.stderr.write(`[devlogin] ${line}\n`) : undefined;
}

export interface ProcessDepsOptions {
  io: IO;
  signal: AbortSignal;
  trapSignals: Deps['trapSignals'];
}

/** The process's Deps: only main.ts calls this. */
export function createProcessDeps({ io, signal, trapSignals }: ProcessDepsOptions): Deps {
  const env = process.env;
  const paths = resolvePaths(env, homedir());
  const fetch: CustomFetch = createHttpFetch({ signal, env, log: verboseLog(io) });
  return {
    io,
    env,
    paths,
    clock: { now: Date.now },
    sleep,
    fetch,
    vault: createVault({ paths, env, promptSecret: promptSecretOnTty }),
    processes: { pid: process.pid, isAlive },
    httpTimeoutSeconds: resolveHttpTimeout(env),
    warn: (message) => io.stderr.write(`warning: ${message}\n`),
    auditSink: auditSinkFor(env, { hostname: hostname(), pid: process.pid, warn: verboseLog(io) }),
    signal,
    openBrowser: async (url) => {
      // open() resolves once the launcher has started, and rejects when it cannot.
      const { default: open } = await import('open');
      const child = await open(url);
      child.once('error', () => undefined);
    },
    renderQr: async (text) => {
      const { default: qrcode } = await import('qrcode-terminal');
      return new Promise((resolve) => qrcode.generate(text, { small: true }, resolve));
    },
    promptSecret: promptSecretOnTty,
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    },
    trapSignals,
  };
}

/**
 * Waits, rejecting at once when `abort` fires. Not node:timers/promises:
 * loading it would cost every whoami and token, which never sleep.
 */
function sleep(ms: number, abort?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (abort?.aborted) return reject(abort.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abort!.reason);
    };
    const timer = setTimeout(() => {
      abort?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    abort?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Signal 0 checks that a process exists; EPERM means it does, as another user's. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
