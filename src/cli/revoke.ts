import { profileFlag } from '../core/config.js';
import { endSession, type EndOutcome } from '../core/session/end.js';
import type { Deps } from '../deps.js';
import { DevloginError, EXIT } from '../errors.js';
import { whatTheProviderHeard } from './logout.js';

export interface RevokeOptions {
  profile: string;
  all: boolean;
}

export function parseRevokeOptions(profile: string, flags: Record<string, unknown>): RevokeOptions {
  return { profile, all: flags.all === true };
}

/**
 * Revokes sessions at the provider (RFC 7009) and only then deletes them
 * here. Unlike logout it fails loudly: when the provider could not be told,
 * the session is KEPT so the revoke can be retried, and the exit code is 7.
 */
export async function runRevoke(options: RevokeOptions, deps: Deps): Promise<void> {
  const profiles = options.all ? await deps.vault.profiles() : [options.profile];
  if (profiles.length === 0) throw new DevloginError(EXIT.notSignedIn, 'No sessions to revoke.', { code: 'not_signed_in' });
  let failure: DevloginError | undefined;
  for (const profile of profiles) {
    try {
      const outcome = await endSession(profile, 'revoke', deps);
      deps.io.stderr.write(`${describeRevoked(profile, outcome)}\n`);
    } catch (err) {
      if (!(err instanceof DevloginError) || !options.all) throw err;
      deps.io.stderr.write(`devlogin: ${err.message}${err.hint ? ` ${err.hint}` : ''}\n`);
      failure ??= err;
    }
  }
  if (failure) throw new DevloginError(failure.exitCode, 'Some sessions could not be revoked (see above).', { code: failure.code });
}

/** The line for a revoked session; a session kept is thrown as exit 7 naming the real cause. */
function describeRevoked(profile: string, outcome: EndOutcome): string {
  if (outcome.kind === 'nothing') throw new Error('endSession(revoke) reports a missing session as not signed in');
  if (outcome.kind === 'kept') {
    const { record, revocation, confirmation } = outcome;
    const keep = `The session of profile "${profile}" was kept so that you can retry "devlogin revoke"; "devlogin logout --local${profileFlag(profile)}" drops it without telling the provider.`;
    if (confirmation?.kind === 'still_active') {
      throw new DevloginError(EXIT.provider, 'The provider accepted the revocation but still reports the token as active.', { hint: keep, code: 'still_active' });
    }
    if (revocation.kind === 'cannot_revoke') {
      throw new DevloginError(EXIT.provider, `devlogin cannot revoke this session at ${record.issuer}: ${revocation.how}.`, {
        hint: `The session was kept here; "devlogin logout${profileFlag(profile)}" ends it on this machine.`,
        code: 'cannot_revoke',
      });
    }
    if (revocation.kind === 'no_endpoint') {
      throw new DevloginError(EXIT.provider, `The provider ${record.issuer} offers no revocation endpoint.`, { hint: keep, code: 'no_revocation_endpoint' });
    }
    const code = revocation.kind === 'failed' ? revocation.error.code : undefined;
    throw new DevloginError(EXIT.provider, `Could not revoke the session at ${record.issuer}: ${whatTheProviderHeard(revocation)}`, { hint: keep, code, cause: revocation.kind === 'failed' ? revocation.error : undefined });
  }
  const who = outcome.record?.claims.name ?? outcome.meta?.subject ?? 'unknown';
  const confirmation = outcome.confirmation;
  const how = confirmation?.kind === 'confirmed' ? 'revoked, confirmed by the provider'
    : confirmation?.kind === 'failed' ? `revoked (the provider's introspection could not confirm it: ${confirmation.error.message})`
      : 'revoked (the provider offers no introspection to confirm it)';
  return `Session of profile "${profile}" (${who}) at ${outcome.meta?.issuer ?? 'the provider'}: ${how}.`;
}
