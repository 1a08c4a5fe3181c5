import { homedir } from 'node:os';
import { resolvePaths } from '../core/paths.js';
import { exchangeSync } from './agent-exchange.js';
import { AGENT_PROTOCOL, agentDir, ANSWER_ENV, IDENTITY_ENV, pickEnv, type AgentAnswer } from './agent-protocol.js';
import type { FastRequest } from './fast-args.js';
import { devloginVersion } from './version.js';

/** How long a client waits for a running agent before reading the vault itself. */
const AGENT_TIMEOUT_MS = 10_000;

/**
 * Asks the agent of this state folder, when one runs, to answer a fast-path
 * request. Undefined when there is no agent or it could not be asked: the
 * caller then reads the vault itself, so an agent can only ever make an
 * answer faster, never different or missing.
 */
export function askAgent(request: FastRequest, env: Readonly<Record<string, string | undefined>>): AgentAnswer | undefined {
  const dir = agentDir(resolvePaths(env, homedir()));
  const reply = exchangeSync(dir, {
    v: AGENT_PROTOCOL,
    op: 'answer',
    version: devloginVersion(),
    request,
    env: pickEnv(env, [...IDENTITY_ENV, ...ANSWER_ENV]),
  }, AGENT_TIMEOUT_MS);
  return reply && isAnswer(reply) ? reply : undefined;
}

function isAnswer(reply: Record<string, unknown>): reply is AgentAnswer & Record<string, unknown> {
  if (reply.v !== AGENT_PROTOCOL) return false;
  if (reply.pass === 'cli' || reply.pass === 'local') return true;
  return Number.isInteger(reply.exit) && (reply.exit as number) >= 0 && (reply.exit as number) < 256
    && typeof reply.stdout === 'string' && typeof reply.stderr === 'string';
}
