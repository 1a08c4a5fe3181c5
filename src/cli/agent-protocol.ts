import { join } from 'node:path';
import type { Paths } from '../core/paths.js';
import type { FastRequest } from './fast-args.js';

// How the command line talks to the agent (agent-server.ts): one JSON line
// each way over a unix socket in the state folder, which is 0700, the socket
// itself 0600. Shared by the client on the fast path and by `devlogin agent`.

export const AGENT_PROTOCOL = 1;

/** Set by the bundler (scripts/bundle.mjs) from package.json. */
declare const DEVLOGIN_VERSION: string;

/**
 * This build's version. A client answers itself when the agent is of another
 * version (devlogin upgraded while an agent ran): the two never mix.
 */
export const agentVersion = (): string => DEVLOGIN_VERSION;

/** Lines longer than this are not ours: the connection is dropped. */
export const MAX_MESSAGE_BYTES = 64 * 1024;

/**
 * The environment that decides where a session is and which key opens it.
 * The agent answers only a client whose values match its own; any other
 * client reads the vault itself.
 */
export const IDENTITY_ENV = ['HOME', 'DEVLOGIN_HOME', 'XDG_STATE_HOME', 'XDG_CONFIG_HOME', 'DEVLOGIN_KEYCHAIN_SERVICE', 'DEVLOGIN_VAULT', 'DBUS_SESSION_BUS_ADDRESS'] as const;

/** The environment that shapes the answer: the client's values are used. */
export const ANSWER_ENV = ['DEVLOGIN_PROFILE', 'DEVLOGIN_HTTP_TIMEOUT', 'NO_COLOR', 'FORCE_COLOR', 'TERM', 'CI', 'SSH_CONNECTION', 'SSH_TTY', 'SSH_CLIENT'] as const;

export type AgentRequest =
  | {
    v: typeof AGENT_PROTOCOL;
    op: 'answer';
    /** The client's devlogin version. */
    version: string;
    request: FastRequest;
    /** IDENTITY_ENV and ANSWER_ENV, as the client has them (unset ones absent). */
    env: Record<string, string>;
    stdoutIsTTY: boolean;
    stderrIsTTY: boolean;
    stdinIsTTY: boolean;
  }
  | { v: typeof AGENT_PROTOCOL; op: 'status' | 'stop' };

export type AnswerRequest = Extract<AgentRequest, { op: 'answer' }>;

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
  socket: string;
  started_at: string;
  /** When it stops if nothing asks it anything before. */
  idle_stop_at: string;
  /** Profiles whose session key it holds, and when each session ends. */
  keys_held: Array<{ profile: string; session_expires_at: string }>;
}

/** The agent's socket: one agent per state folder. */
export const agentSocketPath = (paths: Paths): string => join(paths.stateDir, 'agent.sock');

/** The values of `names` that are set in `env`. */
export function pickEnv(env: Readonly<Record<string, string | undefined>>, names: readonly string[]): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const name of names) {
    const value = env[name];
    if (value !== undefined) picked[name] = value;
  }
  return picked;
}
