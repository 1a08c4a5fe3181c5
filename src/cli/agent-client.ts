import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolvePaths } from '../core/paths.js';
import { AGENT_PROTOCOL, agentSocketPath, agentVersion, ANSWER_ENV, IDENTITY_ENV, pickEnv, type AgentAnswer } from './agent-protocol.js';
import type { FastRequest } from './fast-args.js';

/** How long a client waits for a running agent before reading the vault itself. */
const AGENT_TIMEOUT_MS = 10_000;

export interface ClientTerminal {
  env: Readonly<Record<string, string | undefined>>;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  stdinIsTTY: boolean;
}

/**
 * Asks the agent of this state folder, when one runs, to answer a fast-path
 * request. Undefined when there is no agent or it could not be asked: the
 * caller then reads the vault itself, so an agent can only ever make an
 * answer faster, never different or missing.
 */
export async function askAgent(request: FastRequest, terminal: ClientTerminal): Promise<AgentAnswer | undefined> {
  const { env } = terminal;
  const socket = agentSocketPath(resolvePaths(env, homedir()));
  // Most machines run no agent: a stat, and no socket code loaded.
  if (!existsSync(socket)) return undefined;
  try {
    const { exchange } = await import('./agent-exchange.js');
    const reply = await exchange(socket, {
      v: AGENT_PROTOCOL,
      op: 'answer',
      version: agentVersion(),
      request,
      env: pickEnv(env, [...IDENTITY_ENV, ...ANSWER_ENV]),
      stdoutIsTTY: terminal.stdoutIsTTY,
      stderrIsTTY: terminal.stderrIsTTY,
      stdinIsTTY: terminal.stdinIsTTY,
    }, AGENT_TIMEOUT_MS);
    return isAnswer(reply) ? reply : undefined;
  } catch {
    return undefined;
  }
}

function isAnswer(value: unknown): value is AgentAnswer {
  if (typeof value !== 'object' || value === null) return false;
  const reply = value as Record<string, unknown>;
  if (reply.v !== AGENT_PROTOCOL) return false;
  if (reply.pass === 'cli' || reply.pass === 'local') return true;
  return Number.isInteger(reply.exit) && (reply.exit as number) >= 0 && (reply.exit as number) < 256
    && typeof reply.stdout === 'string' && typeof reply.stderr === 'string';
}
