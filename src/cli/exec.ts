import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { basename } from 'node:path';
import { endSession } from '../core/session/end.js';
import { handOutToken } from '../core/session/hand-out.js';
import type { Deps } from '../deps.js';
import { DevloginError, EXIT, usageError } from '../errors.js';
import { whatTheProviderHeard } from './logout.js';
import { parseMinTtlFlag, parseNarrowing, type HandOutRequest } from './token-flags.js';

export interface ExecOptions extends HandOutRequest {
  command: string;
  args: string[];
  /** End the session (revoke, else remove here) when the command ends, however it ends. */
  endSession: boolean;
}

export function parseExecOptions(profile: string, argv: string[], flags: Record<string, unknown>): ExecOptions {
  const [command, ...args] = argv;
  if (!command) throw usageError('exec needs a command to run.', 'Use: devlogin exec -- COMMAND [ARGS...]');
  return { profile, minTtlSeconds: parseMinTtlFlag(flags.minTtl), ...parseNarrowing(flags), command, args, endSession: flags.endSession === true };
}

/** Secrets devlogin reads that no child of it may inherit (it was given them, the child was not). */
const WITHHELD = ['DEVLOGIN_VAULT_PASSPHRASE', 'DEVLOGIN_VAULT_KEY', 'DEVLOGIN_CLIENT_SECRET'];

/**
 * Runs a command with a fresh access token in its environment (never in its
 * argv, where other users could read it from the process list), passes
 * stdin/stdout/stderr and signals through, and returns the child's exit code
 * (128 + signal number when a signal ended it, 127 when it could not start).
 * With --end-session the session ends when the command does: revoked at the
 * provider, or removed here when the provider cannot be told (then exit 7,
 * unless the command itself failed).
 */
export async function runExec(options: ExecOptions, deps: Deps): Promise<number> {
  let token;
  try {
    token = await handOutToken(options.profile, deps, {
      minTtlSeconds: options.minTtlSeconds,
      scopes: options.scopes,
      resource: options.resource,
      event: 'exec',
      // The program's name only: its arguments may hold secrets.
      details: { command: basename(options.command) },
    });
  } catch (err) {
    // A job that could not get its token still must not leave its session behind,
    // unless nothing happened yet (a usage error) or there is no session.
    const nothingHappened = err instanceof DevloginError && ([EXIT.usage, EXIT.notSignedIn, EXIT.sessionEnded] as number[]).includes(err.exitCode);
    if (options.endSession && !nothingHappened) await endForJob(options.profile, deps).catch(() => undefined);
    throw err;
  }
  const env: Record<string, string | undefined> = {
    ...deps.env,
    DEVLOGIN_ACCESS_TOKEN: token.accessToken,
    DEVLOGIN_TOKEN_TYPE: token.tokenType,
    DEVLOGIN_ISSUER: token.record.issuer,
    DEVLOGIN_PROFILE: token.record.profile,
  };
  for (const name of WITHHELD) delete env[name];
  const code = await new Promise<number>((resolve) => {
    const child = spawn(options.command, options.args, { env, stdio: 'inherit' });
    // From here Ctrl-C, SIGTERM and SIGHUP go to the child; devlogin ends when it does.
    deps.trapSignals((signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    });
    child.once('error', (err: NodeJS.ErrnoException) => {
      deps.io.stderr.write(`devlogin: cannot run ${JSON.stringify(options.command)}: ${err.code === 'ENOENT' ? 'command not found' : err.message}\n`);
      resolve(127);
    });
    child.once('exit', (exitCode, signal) => {
      resolve(exitCode ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
  if (!options.endSession) return code;
  const revoked = await endForJob(options.profile, deps);
  return code !== 0 ? code : revoked ? EXIT.ok : EXIT.provider;
}

/**
 * exec --end-session: ends the session as `revoke` does, and when the
 * provider could not be told, as `logout --local` does. True when the
 * provider revoked it (or the command had ended it already).
 */
async function endForJob(profile: string, deps: Deps): Promise<boolean> {
  const say = (line: string) => void deps.io.stderr.write(`${line}\n`);
  let outcome;
  try {
    outcome = await endSession(profile, 'revoke', deps, { reason: 'end_session' });
  } catch (err) {
    if (err instanceof DevloginError && err.exitCode === EXIT.notSignedIn) {
      say(`devlogin: the session of profile "${profile}" had already ended.`);
      return true;
    }
    // Unreadable (a vault error): nothing can be revoked; remove it here.
    await endSession(profile, 'local', deps, { reason: 'end_session_unreadable' });
    say(`devlogin: warning: the session of profile "${profile}" could not be opened to revoke it (${err instanceof Error ? err.message : 'error'}); it was removed here, and its tokens stay valid at the provider until they expire.`);
    return false;
  }
  if (outcome.kind === 'nothing') {
    say(`devlogin: the session of profile "${profile}" had already ended.`);
    return true;
  }
  if (outcome.kind === 'ended') {
    say(`devlogin: the session of profile "${profile}" ended with the command: revoked at the provider.`);
    return true;
  }
  await endSession(profile, 'local', deps, { reason: 'end_session_not_revoked' });
  const why = outcome.confirmation?.kind === 'still_active' ? 'the provider still reports the token as active.' : whatTheProviderHeard(outcome.revocation);
  say(`devlogin: warning: the session of profile "${profile}" could not be revoked at the provider (${why?.replace(/\.$/, '')}); it was removed here, and its tokens stay valid at the provider until they expire.`);
  return false;
}
