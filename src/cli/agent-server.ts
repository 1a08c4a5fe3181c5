import { execFileSync } from 'node:child_process';
import { constants, lstatSync, openSync, rmSync, watch, type FSWatcher } from 'node:fs';
import { Socket } from 'node:net';
import { ensurePrivateDir } from '../core/fs-safe.js';
import { sessionsDir, type Paths } from '../core/paths.js';
import { isSessionExpired, toIso } from '../core/session.js';
import { createKeyCache } from '../core/vault/key-cache.js';
import { createVault } from '../core/vault/vault.js';
import { usageError } from '../errors.js';
import { createBufferIO } from '../io.js';
import { AGENT_PROTOCOL, ANSWER_ENV, IDENTITY_ENV, MAX_REQUEST_BYTES, REPLY_SLOTS, replyPipe, requestsPipe, type AgentAnswer, type AgentStatus, type AnswerRequest, type RequestLine } from './agent-protocol.js';
import { answerFast } from './fast-path.js';
import { devloginVersion } from './version.js';

export interface AgentServerOptions {
  paths: Paths;
  /** The folder for the pipes (agent-protocol.ts); it must not exist yet. */
  dir: string;
  /** The agent's own environment, without DEVLOGIN_VAULT_PASSPHRASE or DEVLOGIN_ACCESS_TOKEN. */
  env: Readonly<Record<string, string | undefined>>;
  /** Stops after this long without a whoami or token to answer. */
  idleMs: number;
  pid: number;
  /** Stops the agent when aborted. */
  signal: AbortSignal;
}

/** The agent waits this long for a profile lock; a busier profile is left to the client. */
const LOCK_TIMEOUT_MS = 2000;
/** Held keys are checked against the session files this often, besides on every change the OS reports. */
const RECHECK_MS = 30_000;

/**
 * The agent (`devlogin agent start`): answers whoami and token for the
 * clients of one state folder with the same fast path they would run
 * themselves (fast-path.ts), except that session keys, once read from the
 * keychain, stay in memory. Sessions stay in the vault: every answer reads
 * and decrypts the session file again, under the profile lock, so refreshes,
 * logouts and ends seen by the vault are seen here at once. A key is
 * forgotten when its session file goes or changes session, when the session
 * ends, and when the agent stops. Anything but a plain answer (no session,
 * a refresh, an error) is handed back to the client.
 *
 * Resolves once listening, with a promise that settles when the agent has stopped.
 */
export async function startAgentServer(options: AgentServerOptions): Promise<{ stopped: Promise<void> }> {
  const { paths, dir, env, idleMs, pid, signal } = options;
  const keyCache = createKeyCache();
  const vault = createVault({ paths, env, keyCache });
  const startedAt = Date.now();
  let idleStopAt = startedAt + idleMs;
  // One request at a time: each is well under a millisecond once the key is held.
  let queue: Promise<unknown> = Promise.resolve();

  await ensurePrivateDir(paths.stateDir);
  await ensurePrivateDir(sessionsDir(paths));
  await ensurePrivateDir(dir);
  makePipes([requestsPipe(dir), ...Array.from({ length: REPLY_SLOTS }, (_, slot) => replyPipe(dir, slot))]);
  // Open for reading and writing: the agent is always a reader (so a client's
  // open succeeds) and a writer (so it never reads an end of file).
  const requests = new Socket({ fd: openSync(requestsPipe(dir), constants.O_RDWR), readable: true, writable: false });
  const requestsIno = lstatSync(requestsPipe(dir)).ino;
  let pending = '';
  requests.setEncoding('utf8');
  requests.on('data', (chunk: string) => {
    pending += chunk;
    for (let newline = pending.indexOf('\n'); newline !== -1; newline = pending.indexOf('\n')) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      const message = parseRequest(line);
      if (message) dispatch(message);
    }
    // No client writes more than this without a newline: what is there is not a request.
    if (pending.length > MAX_REQUEST_BYTES) pending = '';
  });
  requests.on('error', () => stop());

  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(sessionsDir(paths), { persistent: false }, () => void recheckKeys());
    watcher.on('error', () => watcher?.close());
  } catch {
    // No file-change events here: the timer below still rechecks.
  }
  const recheck = setInterval(() => void recheckKeys(), RECHECK_MS);
  let idleTimer = setTimeout(stop, idleMs);

  let resolveStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  let stopping = false;
  signal.addEventListener('abort', stop, { once: true });
  if (signal.aborted) stop();

  function stop(): void {
    if (stopping) return;
    stopping = true;
    clearTimeout(idleTimer);
    clearInterval(recheck);
    watcher?.close();
    keyCache.forgetAll();
    requests.destroy();
    // Remove the pipes only if they are still this agent's.
    try {
      if (lstatSync(requestsPipe(dir)).ino === requestsIno) rmSync(dir, { recursive: true, force: true });
    } catch {
      // already gone
    }
    // Replies still being written finish first.
    void queue.then(() => resolveStopped());
  }

  /** Forgets the key of every session that has ended, gone, or been replaced by a new sign-in. */
  async function recheckKeys(): Promise<void> {
    const now = Date.now() / 1000;
    for (const held of keyCache.entries()) {
      const stored = await vault.readMeta(held.profile).catch(() => null);
      if (!stored || stored.meta.sessionId !== held.sessionId || isSessionExpired(stored.meta, now)) keyCache.forget(held.profile);
    }
  }

  function dispatch(message: RequestLine): void {
    if (message.op === 'answer') {
      clearTimeout(idleTimer);
      idleStopAt = Date.now() + idleMs;
      idleTimer = setTimeout(stop, idleMs);
      const reply = queue.then(() => answer(message)).then((value) => send(message, value));
      queue = reply.catch(() => undefined);
    } else if (message.op === 'status') {
      send(message, status());
    } else {
      send(message, { v: AGENT_PROTOCOL, stopping: true });
      stop();
    }
  }

  /** Writes the reply to the client's slot; a client that has given up (nobody reading) gets nothing. */
  function send(to: RequestLine, body: object): void {
    let fd: number;
    try {
      fd = openSync(replyPipe(dir, to.slot), constants.O_WRONLY | constants.O_NONBLOCK);
    } catch {
      return;
    }
    const out = new Socket({ fd, readable: false, writable: true });
    out.on('error', () => out.destroy());
    out.end(`${JSON.stringify({ ...body, nonce: to.nonce })}\n`);
  }

  async function answer(message: AnswerRequest): Promise<AgentAnswer> {
    // A client of another version (devlogin upgraded while this agent ran), or
    // with another home, keychain service or bus, reads its own vault.
    if (message.version !== devloginVersion()) return { v: AGENT_PROTOCOL, pass: 'local' };
    for (const name of IDENTITY_ENV) {
      if ((message.env[name] ?? undefined) !== env[name]) return { v: AGENT_PROTOCOL, pass: 'local' };
    }
    const clientEnv: Record<string, string | undefined> = { ...env };
    for (const name of ANSWER_ENV) clientEnv[name] = message.env[name];
    // No terminal: what whoami and token print does not depend on one (agent-protocol.ts).
    const io = createBufferIO({ env: clientEnv });
    try {
      const outcome = await answerFast(message.request, io, { keyCache, lockTimeoutMs: LOCK_TIMEOUT_MS });
      if (outcome === 'full') return { v: AGENT_PROTOCOL, pass: 'cli' };
      return { v: AGENT_PROTOCOL, exit: outcome, stdout: io.out(), stderr: io.err() };
    } catch {
      // The client meets the same error itself and reports it; the agent holds nothing it doubts.
      keyCache.forgetAll();
      return { v: AGENT_PROTOCOL, pass: 'local' };
    }
  }

  function status(): AgentStatus {
    return {
      v: AGENT_PROTOCOL,
      pid,
      version: devloginVersion(),
      dir,
      started_at: new Date(startedAt).toISOString(),
      idle_stop_at: new Date(idleStopAt).toISOString(),
      keys_held: keyCache.entries().map(({ profile, sessionExpiresAt }) => ({ profile, session_expires_at: toIso(sessionExpiresAt) })),
    };
  }

  return { stopped };
}

/** One request line, shape-checked; undefined for anything else. */
function parseRequest(text: string): RequestLine | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const message = value as Record<string, unknown>;
  if (message.v !== AGENT_PROTOCOL || typeof message.nonce !== 'string') return undefined;
  if (!Number.isInteger(message.slot) || (message.slot as number) < 0 || (message.slot as number) >= REPLY_SLOTS) return undefined;
  const route = { slot: message.slot as number, nonce: message.nonce };
  if (message.op === 'status' || message.op === 'stop') return { v: AGENT_PROTOCOL, op: message.op, ...route };
  if (message.op !== 'answer') return undefined;
  const request = message.request as Record<string, unknown> | null;
  const env = message.env as Record<string, unknown> | null;
  if (typeof request !== 'object' || request === null || typeof env !== 'object' || env === null) return undefined;
  if (request.command !== 'whoami' && request.command !== 'token') return undefined;
  const optionalString = (field: unknown) => field === undefined || typeof field === 'string';
  if (!optionalString(request.profile) || !optionalString(request.minTtl) || typeof request.json !== 'boolean' || typeof request.noColor !== 'boolean') return undefined;
  if (typeof message.version !== 'string' || !Object.values(env).every((field) => typeof field === 'string')) return undefined;
  return {
    v: AGENT_PROTOCOL,
    op: 'answer',
    version: message.version,
    request: { command: request.command, profile: request.profile as string | undefined, json: request.json, minTtl: request.minTtl as string | undefined, noColor: request.noColor },
    env: env as Record<string, string>,
    ...route,
  };
}

/** Creates the named pipes, readable and writable by the user only. */
function makePipes(paths: string[]): void {
  try {
    // Node has no mkfifo; the command is part of every Linux and macOS base system.
    execFileSync('mkfifo', ['-m', '600', ...paths], { stdio: 'ignore' });
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw usageError(missing ? 'The agent needs the mkfifo command, which is not installed.' : `Cannot create the agent's pipes in ${paths[0]}.`, missing ? 'Install coreutils.' : undefined);
  }
}
