import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { basename } from 'node:path';
import { audit } from '../core/audit.js';
import { assertBearer, withSession } from '../core/session/active.js';
import { ensureFresh } from '../core/session/refresh.js';
import type { Deps } from '../deps.js';
import { usageError } from '../errors.js';
import { parseMinTtlFlag } from './token.js';

export interface ExecOptions {
  profile: string;
  minTtlSeconds: number;
  command: string;
  args: string[];
}

export function parseExecOptions(profile: string, argv: string[], flags: Record<string, unknown>): ExecOptions {
  const [command, ...args] = argv;
  if (!command) throw usageError('exec needs a command to run.', 'Use: devlogin exec -- COMMAND [ARGS...]');
  return { profile, minTtlSeconds: parseMinTtlFlag(flags.minTtl), command, args };
}

/**
 * Runs a command with a fresh access token in its environment (never in its
 * argv, where other users could read it from the process list), passes
 * stdin/stdout/stderr and signals through, and returns the child's exit code
 * (128 + signal number when a signal ended it, 127 when it could not start).
 */
export async function runExec(options: ExecOptions, deps: Deps): Promise<number> {
  const record = await withSession(options.profile, deps, async (loaded) => {
    assertBearer(loaded.record);
    const fresh = await ensureFresh(loaded, options.minTtlSeconds, deps);
    await audit(deps, 'exec', fresh.record, { command: basename(options.command) });
    return fresh.record;
  });
  const env = {
    ...deps.env,
    DEVLOGIN_ACCESS_TOKEN: record.accessToken,
    DEVLOGIN_TOKEN_TYPE: record.tokenType,
    DEVLOGIN_ISSUER: record.issuer,
    DEVLOGIN_PROFILE: record.profile,
  };
  return new Promise<number>((resolve) => {
    const child = spawn(options.command, options.args, { env, stdio: 'inherit' });
    deps.trapSignals((signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    });
    child.once('error', (err: NodeJS.ErrnoException) => {
      deps.io.stderr.write(`devlogin: cannot run ${JSON.stringify(options.command)}: ${err.code === 'ENOENT' ? 'command not found' : err.message}\n`);
      resolve(127);
    });
    child.once('exit', (code, signal) => {
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
}
