import { join } from 'node:path';
import type { Paths } from '../core/paths.js';
import type { FastRequest } from './fast-args.js';

// How the command line talks to the agent (agent-server.ts), shared by the
// client on the fast path (agent-exchange.ts) and by `devlogin agent`.
//
// Named pipes (FIFOs) in `agent/` in the state folder, a 0700 folder whose
// pipes are 0600, rather than a unix socket: a client reads and writes them
// with Node's synchronous file calls, which are loaded in every Node process,
// while a socket needs Node's socket and stream code, whose loading alone
// costs more than the rest of the answer (README, Performance). GNU make's
// jobserver shares work between processes through a FIFO in the same way.
//
// - `requests`: every client writes one JSON line to it. A line of at most
//   PIPE_BUF bytes is written atomically (POSIX write(2)), so lines from
//   clients writing at once never mix. The agent holds it open for reading
//   and writing: while the agent lives a client's open succeeds, and once it
//   is gone the open fails (ENXIO) at once.
// - `reply-N`: one per slot. A client takes slot N by creating
//   `reply-N.lock` exclusively, opens `reply-N` for reading, then sends its
//   request naming the slot and a random nonce; the agent writes the reply,
//   one JSON line carrying that nonce, to `reply-N`.

export const AGENT_PROTOCOL = 1;

/** How many clients can wait for a reply at once; more read the vault themselves. */
export const REPLY_SLOTS = 8;

/** POSIX guarantees atomic pipe writes up to PIPE_BUF, at least 512 bytes; Linux and macOS give 4096... */
export const MAX_REQUEST_BYTES = 4096;

/** ...and a reply longer than this is not ours. */
export const MAX_REPLY_BYTES = 1024 * 1024;

/**
 * The environment that decides where a session is and which key opens it.
 * The agent answers only a client whose values match its own; any other
 * client reads the vault itself.
 */
export const IDENTITY_ENV = ['HOME', 'DEVLOGIN_HOME', 'XDG_STATE_HOME', 'XDG_CONFIG_HOME', 'DEVLOGIN_KEYCHAIN_SERVICE', 'DEVLOGIN_VAULT', 'DBUS_SESSION_BUS_ADDRESS'] as const;

/**
 * The rest of the environment the fast path reads (createContext): the
 * client's values are used. What whoami and token print depends on no
 * terminal or colour setting, so none is sent; if that changes, it must be.
 */
export const ANSWER_ENV = ['DEVLOGIN_PROFILE', 'DEVLOGIN_HTTP_TIMEOUT'] as const;

export type AgentRequest =
  | {
    v: typeof AGENT_PROTOCOL;
    op: 'answer';
    /** The client's devlogin version. */
    version: string;
    request: FastRequest;
    /** IDENTITY_ENV and ANSWER_ENV, as the client has them (unset ones absent). */
    env: Record<string, string>;
  }
  | { v: typeof AGENT_PROTOCOL; op: 'status' }
  | { v: typeof AGENT_PROTOCOL; op: 'stop' };

export type AnswerRequest = Extract<AgentRequest, { op: 'answer' }>;

/** What travels on `requests`: a request, and where and how to reply. */
export type RequestLine = AgentRequest & { slot: number; nonce: string };

/**
 * The agent's reply to an answer request: what to print and the exit code,
 * or where to go instead: 'cli' when the full CLI must act (no session, a
 * session to purge or refresh, a refusal to explain), 'local' when the agent
 * could not help (another environment, a vault error) and the client should
 * read the vault itself.
 */
export type AgentAnswer =
  | { v: typeof AGENT_PROTOCOL; exit: number; stdout: string; stderr: string }
  | { v: typeof AGENT_PROTOCOL; pass: 'cli' | 'local' };

export interface AgentStatus {
  v: typeof AGENT_PROTOCOL;
  pid: number;
  version: string;
  /** The agent's folder of pipes. */
  dir: string;
  started_at: string;
  /** When it stops if nothing asks it anything before. */
  idle_stop_at: string;
  /** Profiles whose session key it holds, and when each session ends. */
  keys_held: Array<{ profile: string; session_expires_at: string }>;
}

/** The agent's folder: one agent per state folder. */
export const agentDir = (paths: Paths): string => join(paths.stateDir, 'agent');
export const requestsPipe = (dir: string): string => join(dir, 'requests');
export const replyPipe = (dir: string, slot: number): string => join(dir, `reply-${slot}`);
export const replyLock = (dir: string, slot: number): string => join(dir, `reply-${slot}.lock`);

/** The values of `names` that are set in `env`. */
export function pickEnv(env: Readonly<Record<string, string | undefined>>, names: readonly string[]): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const name of names) {
    const value = env[name];
    if (value !== undefined) picked[name] = value;
  }
  return picked;
}
