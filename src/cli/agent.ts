import { spawn } from 'node:child_process';
import { existsSync, lstatSync, rmSync } from 'node:fs';
import { platform } from 'node:os';
import { pid } from 'node:process';
import { setTimeout as delay } from 'node:timers/promises';
import { formatDuration, parseDuration } from '../core/duration.js';
import { createVault } from '../core/vault/vault.js';
import { DevloginError, EXIT, usageError } from '../errors.js';
import { agentListens, exchangeSync } from './agent-exchange.js';
import { AGENT_PROTOCOL, agentDir, requestsPipe, type AgentStatus } from './agent-protocol.js';
import { writeJsonLine, type CommandContext } from './context.js';

export type AgentAction = 'start' | 'stop' | 'status';

export interface AgentOptions {
  action: AgentAction;
  /** start: stay in the foreground instead of starting in the background. */
  foreground: boolean;
  /** start: stop after this many seconds without a whoami or token. */
  idleSeconds: number;
  /** status: one JSON object on stdout. */
  json: boolean;
}

const DEFAULT_IDLE_SECONDS = 3600;
/** As long as the longest session (DESIGN.md: --max-session at most 12h). */
const MAX_IDLE_SECONDS = 12 * 3600;
const START_TIMEOUT_MS = 5000;
const STATUS_TIMEOUT_MS = 2000;
const STOP_TIMEOUT_MS = 3000;

export function parseAgentOptions(action: string | undefined, flags: Record<string, unknown>): AgentOptions {
  if (action !== 'start' && action !== 'stop' && action !== 'status') {
    throw usageError(action === undefined ? 'Missing agent action.' : `Unknown agent action "${action.slice(0, 40)}".`, 'Use "devlogin agent start", "devlogin agent stop" or "devlogin agent status".');
  }
  const onlyWith = (flag: string, allowed: AgentAction) => {
    if (action !== allowed) throw usageError(`${flag} goes with "devlogin agent ${allowed}", not "${action}".`);
  };
  if (flags.foreground === true) onlyWith('--foreground', 'start');
  if (flags.json === true) onlyWith('--json', 'status');
  let idleSeconds = DEFAULT_IDLE_SECONDS;
  if (typeof flags.idle === 'string') {
    onlyWith('--idle', 'start');
    idleSeconds = parseDuration(flags.idle, 'idle time');
    if (idleSeconds > MAX_IDLE_SECONDS) throw usageError(`Invalid idle time "${flags.idle}": at most 12h.`);
  }
  return { action, foreground: flags.foreground === true, idleSeconds, json: flags.json === true };
}

/**
 * `devlogin agent start|stop|status`: the opt-in agent that holds session
 * keys in memory so that whoami and token skip the keychain (agent-server.ts).
 * `self` is how to run devlogin again ([node, script]), for the background start.
 */
export async function runAgent(options: AgentOptions, ctx: CommandContext, self: readonly string[]): Promise<void> {
  const dir = agentDir(ctx.paths);
  if (options.action === 'status') return showStatus(ctx, dir, options.json);
  if (options.action === 'stop') return stopAgent(ctx, dir);
  if (platform() === 'win32') throw usageError('The agent needs named pipes, which devlogin uses only on Linux and macOS.');
  // Whether an agent reads its pipes, not whether it answers: the pipes of a
  // busy agent must never be taken for stale ones and removed.
  if (agentListens(dir)) {
    const running = askStatus(dir);
    ctx.io.stderr.write(`The agent is already running${running ? ` (pid ${running.pid})` : ''}.\n`);
    return;
  }
  removeStaleDir(dir);
  if (options.foreground) await serveInForeground(options, ctx, dir);
  else await startInBackground(options, ctx, dir, self);
}

async function serveInForeground(options: AgentOptions, ctx: CommandContext, dir: string): Promise<void> {
  const { startAgentServer } = await import('./agent-server.js');
  const controller = new AbortController();
  ctx.trapSignals((signal) => {
    if (signal === 'SIGINT' || signal === 'SIGTERM' || signal === 'SIGHUP') controller.abort();
  });
  const { stopped } = await startAgentServer({
    paths: ctx.paths,
    dir,
    env: withoutSecrets(ctx.io.env),
    idleMs: options.idleSeconds * 1000,
    pid,
    signal: controller.signal,
  });
  ctx.io.stderr.write(`Agent listening in ${dir} (pid ${pid}); it stops after ${formatDuration(options.idleSeconds)} without use. Ctrl-C stops it.\n`);
  await stopped;
  ctx.io.stderr.write('Agent stopped; the keys it held are forgotten.\n');
}

async function startInBackground(options: AgentOptions, ctx: CommandContext, dir: string, self: readonly string[]): Promise<void> {
  const [command, ...args] = self;
  const child = spawn(command!, [...args, 'agent', 'start', '--foreground', '--idle', `${options.idleSeconds}s`], {
    detached: true,
    // The caller's folder stays its working folder: a relative DEVLOGIN_HOME means the same place to both.
    stdio: 'ignore',
    env: withoutSecrets(ctx.io.env),
  });
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  child.once('error', () => (exited = null));
  const deadline = Date.now() + START_TIMEOUT_MS;
  let status: AgentStatus | undefined;
  while (!status && exited === undefined && Date.now() < deadline) {
    await delay(25);
    status = askStatus(dir);
  }
  if (!status) {
    if (exited === undefined) child.kill();
    throw new DevloginError(EXIT.internal, `The agent did not start${exited === undefined ? ` within ${START_TIMEOUT_MS / 1000} s` : ` (it exited with ${exited ?? 'an error'})`}.`, {
      hint: 'Run "devlogin agent start --foreground" to see why.',
    });
  }
  child.unref();
  const unserved = await passphraseProfiles(ctx);
  ctx.io.stderr.write([
    `Agent started (pid ${status.pid}). whoami and token now take session keys from its memory instead of the keychain.`,
    `It forgets a key when its session ends or changes, and stops after ${formatDuration(options.idleSeconds)} without use.`,
    ...(unserved.length > 0 ? [`Sessions in the passphrase vault (${unserved.join(', ')}) are still read by each call: the agent serves keychain sessions only.`] : []),
    'Stop it with "devlogin agent stop".',
  ].join('\n') + '\n');
}

/** Profiles whose session is in the passphrase vault, which the agent leaves to the client. */
async function passphraseProfiles(ctx: CommandContext): Promise<string[]> {
  const vault = createVault({ paths: ctx.paths, env: ctx.io.env });
  const profiles = await vault.profiles().catch(() => []);
  const stored = await Promise.all(profiles.map((profile) => vault.readMeta(profile).catch(() => null)));
  return profiles.filter((_, index) => stored[index]?.backend === 'passphrase');
}

async function stopAgent(ctx: CommandContext, dir: string): Promise<void> {
  if (!agentListens(dir)) {
    ctx.io.stderr.write('No agent is running; nothing to do.\n');
    return;
  }
  const running = askStatus(dir);
  exchangeSync(dir, { v: AGENT_PROTOCOL, op: 'stop' }, STOP_TIMEOUT_MS, { waitForSlot: true });
  // It removes its pipes as it goes; wait for that so that a start right after finds the place free.
  for (let waited = 0; waited < STOP_TIMEOUT_MS && existsSync(requestsPipe(dir)); waited += 25) await delay(25);
  if (agentListens(dir)) {
    throw new DevloginError(EXIT.internal, `The agent${running ? ` (pid ${running.pid})` : ''} did not stop within ${STOP_TIMEOUT_MS / 1000} s.`, {
      hint: running ? `Stop it with "kill ${running.pid}".` : 'Stop its process (devlogin agent start --foreground) by hand.',
    });
  }
  ctx.io.stderr.write(`Agent stopped${running ? ` (pid ${running.pid})` : ''}; the keys it held are forgotten.\n`);
}

async function showStatus(ctx: CommandContext, dir: string, json: boolean): Promise<void> {
  const status = askStatus(dir);
  // Listening but silent: every reply slot stayed busy, or it is stuck.
  const silent = !status && agentListens(dir);
  if (json) {
    const fields: Record<string, unknown> = { ...status };
    // The wire protocol's version and the reply's nonce are not the status.
    delete fields.v;
    delete fields.nonce;
    writeJsonLine(ctx.io, { running: status !== undefined || silent, ...(silent ? { answering: false } : fields) });
    return;
  }
  if (!status) {
    ctx.io.stdout.write(silent ? `Agent running in ${dir}, but it did not answer within ${STATUS_TIMEOUT_MS / 1000} s.\n` : 'No agent is running.\n');
    return;
  }
  const held = status.keys_held.map(({ profile, session_expires_at }) => `${profile} (session ends ${session_expires_at})`);
  ctx.io.stdout.write([
    `Agent running (pid ${status.pid}, devlogin ${status.version}) in ${status.dir}`,
    `  started    ${status.started_at}`,
    `  idle stop  ${status.idle_stop_at}`,
    `  keys held  ${held.length === 0 ? 'none' : held.join(', ')}`,
  ].join('\n') + '\n');
}

/** The agent's status, or undefined when none answers. */
function askStatus(dir: string): AgentStatus | undefined {
  const reply = exchangeSync(dir, { v: AGENT_PROTOCOL, op: 'status' }, STATUS_TIMEOUT_MS, { waitForSlot: true });
  return reply && isStatus(reply) ? reply : undefined;
}

function isStatus(status: Record<string, unknown>): status is AgentStatus & Record<string, unknown> {
  // version is not required: an agent of any version that answers is running, and its pipes are not stale.
  return status.v === AGENT_PROTOCOL && Number.isInteger(status.pid) && typeof status.dir === 'string' && Array.isArray(status.keys_held);
}

/** The pipes of an agent that is gone. Anything but a folder at that path is not ours to delete. */
function removeStaleDir(dir: string): void {
  let isDirectory: boolean;
  try {
    isDirectory = lstatSync(dir).isDirectory();
  } catch {
    return; // nothing there
  }
  if (!isDirectory) throw usageError(`${dir} is in the way of the agent's folder and is not one.`, 'Move it away, then start the agent again.');
  rmSync(dir, { recursive: true, force: true });
}

/**
 * The agent's environment: never the vault passphrase (it serves keychain
 * sessions only), nor a token handed down by `devlogin exec`.
 */
function withoutSecrets(env: Readonly<Record<string, string | undefined>>): Record<string, string | undefined> {
  const rest = { ...env };
  delete rest.DEVLOGIN_VAULT_PASSPHRASE;
  delete rest.DEVLOGIN_ACCESS_TOKEN;
  return rest;
}
