import { withStoredSession, type SessionDeps } from '../core/active-session.js';
import { audit } from '../core/audit.js';
import { profileFlag } from '../core/config.js';
import { DevloginError, EXIT, providerError } from '../errors.js';
import type { CommandContext } from './context.js';
import { sessionDeps } from './session-deps.js';

export interface RevokeOptions {
  all: boolean;
}

export function parseRevokeOptions(flags: Record<string, unknown>): RevokeOptions {
  return { all: flags.all === true };
}

/**
 * Revokes sessions at the provider (RFC 7009) and only then deletes them
 * here. Unlike logout it fails loudly: when the provider could not be told,
 * the session is KEPT so the revoke can be retried, and the exit code is 7.
 */
export async function runRevoke(options: RevokeOptions, ctx: CommandContext): Promise<void> {
  const deps = sessionDeps(ctx);
  const profiles = options.all ? await deps.vault.profiles() : [ctx.profile];
  if (profiles.length === 0) throw new DevloginError(EXIT.notSignedIn, 'No sessions to revoke.', { code: 'not_signed_in' });
  let failure: DevloginError | undefined;
  for (const profile of profiles) {
    try {
      await revokeProfile(profile, deps, ctx);
    } catch (err) {
      if (!(err instanceof DevloginError) || !options.all) throw err;
      ctx.io.stderr.write(`devlogin: ${err.message}${err.hint ? ` ${err.hint}` : ''}\n`);
      failure ??= err;
    }
  }
  if (failure) throw new DevloginError(failure.exitCode, 'Some sessions could not be revoked (see above).', { code: failure.code });
}

async function revokeProfile(profile: string, deps: SessionDeps, ctx: CommandContext): Promise<void> {
  const keep = `The session of profile "${profile}" was kept so that you can retry "devlogin revoke"; "devlogin logout --local${profileFlag(profile)}" drops it without telling the provider.`;
  const oidc = await import('../core/oidc/tokens.js');
  await withStoredSession(profile, deps, async (loaded) => {
    const { record } = loaded;
    const config = oidc.providerConfig(record, { fetch: deps.fetch, timeoutSeconds: deps.httpTimeoutSeconds });
    let outcome;
    try {
      outcome = await oidc.revokeTokens(config, record);
    } catch (err) {
      const error = err instanceof DevloginError ? err : providerError('Revocation failed.', { cause: err });
      await audit(deps, 'revoke', record, { outcome: 'failure', reason: error.code ?? 'provider_error' });
      throw new DevloginError(EXIT.provider, `Could not revoke the session at ${record.issuer}: ${error.message}`, { hint: keep, code: error.code, cause: err });
    }
    if (outcome === 'no_endpoint') {
      await audit(deps, 'revoke', record, { outcome: 'failure', reason: 'no_revocation_endpoint' });
      throw new DevloginError(EXIT.provider, `The provider ${record.issuer} offers no revocation endpoint.`, { hint: keep, code: 'no_revocation_endpoint' });
    }
    // Confirm with introspection where the provider offers it (RFC 7662 §2.2: active false).
    const active = await oidc.introspectActive(config, record.refreshToken ?? record.accessToken, record.issuer).catch(() => undefined);
    if (active === true) {
      await audit(deps, 'revoke', record, { outcome: 'failure', reason: 'still_active' });
      throw new DevloginError(EXIT.provider, `The provider accepted the revocation but still reports the token as active.`, { hint: keep, code: 'still_active' });
    }
    await deps.vault.remove(profile);
    await audit(deps, 'revoke', record);
    const confirmation = active === false ? 'revoked, confirmed by the provider' : 'revoked (the provider offers no introspection to confirm it)';
    ctx.io.stderr.write(`Session of profile "${profile}" (${record.claims.name ?? record.subject}) at ${record.issuer}: ${confirmation}.\n`);
  });
}
