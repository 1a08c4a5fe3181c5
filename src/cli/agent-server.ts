import { chmodSync, lstatSync, rmSync, watch, type FSWatcher } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { ensurePrivateDir } from '../core/fs-safe.js';
import { sessionsDir, type Paths } from '../core/paths.js';
import { isSessionExpired, toIso } from '../core/session.js';
import { createKeyCache } from '../core/vault/key-cache.js';
import { createVault } from '../core/vault/vault.js';
import { createBufferIO, describeTerminal } from '../io.js';
import { AGENT_PROTOCOL, agentVersion, ANSWER_ENV, IDENTITY_ENV, MAX_MESSAGE_BYTES, type AgentAnswer, type AgentRequest, type AgentStatus, type AnswerRequest } from './agent-protocol.js';
import { answerFast } from './fast-path.js';

export interface AgentServerOptions {
  paths: Paths;
  socketPath: string;
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
  const { paths, socketPath, env, idleMs, pid, signal } = options;
  const keyCache = createKeyCache();
  const vault = createVault({ paths, env, keyCache });
  const startedAt = Date.now();
  let idleStopAt = startedAt + idleMs;
  // One request at a time: each is well under a millisecond once the key is held.
  let queue: Promise<unknown> = Promise.resolve();

  await ensurePrivateDir(paths.stateDir);
  await ensurePrivateDir(sessionsDir(paths));
  const server = createServer({ allowHalfOpen: true }, (socket) => serve(socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // The folder is already 0700; the socket is made 0600 as well.
  chmodSync(socketPath, 0o600);
  const socketIno = lstatSync(socketPath).ino;

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
    server.close(() => resolveStopped());
    // Remove the socket only if it is still this agent's.
    try {
      if (lstatSync(socketPath).ino === socketIno) rmSync(socketPath, { force: true });
    } catch {
      // already gone
    }
  }

  /** Forgets the key of every session that has ended, gone, or been replaced by a new sign-in. */
  async function recheckKeys(): Promise<void> {
    const now = Date.now() / 1000;
    for (const held of keyCache.entries()) {
      const stored = await vault.readMeta(held.profile).catch(() => null);
      if (!stored || stored.meta.sessionId !== held.sessionId || isSessionExpired(stored.meta, now)) keyCache.forget(held.profile);
    }
  }

  function serve(socket: Socket): void {
    const chunks: Buffer[] = [];
    let size = 0;
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_MESSAGE_BYTES) socket.destroy();
      else chunks.push(chunk);
    });
    socket.on('end', () => {
      const message = parseRequest(Buffer.concat(chunks).toString('utf8'));
      if (!message) {
        socket.destroy();
        return;
      }
      if (message.op === 'answer') {
        clearTimeout(idleTimer);
        idleStopAt = Date.now() + idleMs;
        idleTimer = setTimeout(stop, idleMs);
        const reply = queue.then(() => answer(message));
        queue = reply.catch(() => undefined);
        void reply.then((value) => socket.end(`${JSON.stringify(value)}\n`));
      } else if (message.op === 'status') {
        socket.end(`${JSON.stringify(status())}\n`);
      } else {
        socket.end(`${JSON.stringify({ v: AGENT_PROTOCOL, stopping: true })}\n`, stop);
      }
    });
  }

  async function answer(message: AnswerRequest): Promise<AgentAnswer> {
    // A client of another version, or with another home, keychain service or bus, reads its own vault.
    if (message.version !== agentVersion()) return { v: AGENT_PROTOCOL, pass: 'local' };
    for (const name of IDENTITY_ENV) {
      if ((message.env[name] ?? undefined) !== env[name]) return { v: AGENT_PROTOCOL, pass: 'local' };
    }
    const clientEnv: Record<string, string | undefined> = { ...env };
    for (const name of ANSWER_ENV) clientEnv[name] = message.env[name];
    const ttys = { stdoutIsTTY: message.stdoutIsTTY, stderrIsTTY: message.stderrIsTTY, stdinIsTTY: message.stdinIsTTY };
    const io = createBufferIO({ ...describeTerminal(clientEnv, ttys, message.request.noColor), env: clientEnv });
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
      version: agentVersion(),
      socket: socketPath,
      started_at: new Date(startedAt).toISOString(),
      idle_stop_at: new Date(idleStopAt).toISOString(),
      keys_held: keyCache.entries().map(({ profile, sessionExpiresAt }) => ({ profile, session_expires_at: toIso(sessionExpiresAt) })),
    };
  }

  return { stopped };
}

/** One request line, shape-checked; undefined for anything else. */
function parseRequest(text: string): AgentRequest | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const message = value as Record<string, unknown>;
  if (message.v !== AGENT_PROTOCOL) return undefined;
  if (message.op === 'status' || message.op === 'stop') return { v: AGENT_PROTOCOL, op: message.op };
  if (message.op !== 'answer') return undefined;
  const request = message.request as Record<string, unknown> | null;
  const env = message.env as Record<string, unknown> | null;
  if (typeof request !== 'object' || request === null || typeof env !== 'object' || env === null) return undefined;
  if (request.command !== 'whoami' && request.command !== 'token') return undefined;
  const optionalString = (field: unknown) => field === undefined || typeof field === 'string';
  if (!optionalString(request.profile) || !optionalString(request.minTtl) || typeof request.json !== 'boolean' || typeof request.noColor !== 'boolean') return undefined;
  if (typeof message.version !== 'string' || !Object.values(env).every((field) => typeof field === 'string')) return undefined;
  if (![message.stdoutIsTTY, message.stderrIsTTY, message.stdinIsTTY].every((flag) => typeof flag === 'boolean')) return undefined;
  return {
    v: AGENT_PROTOCOL,
    op: 'answer',
    version: message.version,
    request: { command: request.command, profile: request.profile as string | undefined, json: request.json, minTtl: request.minTtl as string | undefined, noColor: request.noColor },
    env: env as Record<string, string>,
    stdoutIsTTY: message.stdoutIsTTY as boolean,
    stderrIsTTY: message.stderrIsTTY as boolean,
    stdinIsTTY: message.stdinIsTTY as boolean,
  };
}
