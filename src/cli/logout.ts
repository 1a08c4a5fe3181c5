import { purge, type SessionDeps } from '../core/active-session.js';
import { withProfileLock } from '../core/vault/lock.js';
import { describeThrown, DevloginError } from '../errors.js';
import type { CommandContext } from './context.js';
import { sessionDeps } from './session-deps.js';

export interface LogoutOptions {
  all: boolean;
  local: boolean;
}

export function parseLogoutOptions(flags: Record<string, unknown>): LogoutOptions {
  return { all: flags.all === true, local: flags.local === true };
}

/**
 * Ends sessions here: revokes them at the provider first (best effort, short
 * timeout; skipped with --local), then deletes the key and the file. A failed
 * revocation is a warning, not a failure; nothing to do is exit 0.
 */
export async function runLogout(options: LogoutOptions, ctx: CommandContext): Promise<void> {
  const deps = sessionDeps(ctx);
  const profiles = options.all ? await deps.vault.profiles() : [ctx.profile];
  let ended = 0;
  for (const profile of profiles) {
    if (await logoutProfile(profile, options, deps, ctx)) ended += 1;
  }
  if (ended === 0) ctx.io.stderr.write(`Not signed in${options.all ? '' : ` (profile "${ctx.profile}")`}; nothing to do.\n`);
}

async function logoutProfile(profile: string, options: LogoutOptions, deps: SessionDeps, ctx: CommandContext): Promise<boolean> {
  const say = (line: string) => void ctx.io.stderr.write(`${line}\n`);
  return withProfileLock(deps.paths, profile, async () => {
    let meta;
    try {
      const stored = await deps.vault.readMeta(profile);
      if (!stored) return false;
      meta = stored.meta;
    } catch {
      meta = undefined; // corrupt: still removed below
    }
    let loaded;
    try {
      loaded = options.local ? undefined : ((await deps.vault.load(profile)) ?? undefined);
    } catch (err) {
      say(`warning: cannot open the session of profile "${profile}" (${err instanceof DevloginError ? err.message : 'unreadable'}); removing it without revoking.`);
    }
    let outcome;
    try {
      outcome = await purge(profile, deps, { event: 'logout', reason: options.local ? 'local' : 'user' }, loaded, { revoke: !options.local && loaded !== undefined });
    } catch (err) {
      say(`warning: the key of profile "${profile}" could not be deleted from the OS keychain (${describeThrown(err)}); the session file was deleted.`);
      return true;
    }
    const who = loaded?.record.claims.name ?? meta?.subject ?? 'unknown';
    const where = loaded?.record.issuer ?? meta?.issuer ?? 'the provider';
    if (options.local || !loaded) {
      say(`Signed out of ${where} (profile "${profile}", ${who}) on this machine; the provider was not told.`);
    } else if (outcome.revoked) {
      say(`Signed out of ${where} (profile "${profile}", ${who}); the tokens were revoked at the provider.`);
    } else {
      const why = outcome.revokeError ? outcome.revokeError.message : 'the provider has no revocation endpoint';
      say(`warning: could not revoke the tokens at the provider: ${why}`);
      say(`Signed out of ${where} (profile "${profile}", ${who}) on this machine. Use "devlogin revoke" before logout to make sure the provider ends it too.`);
    }
    return true;
  });
}
