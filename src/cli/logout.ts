import { endSession, type EndOutcome, type Revocation } from '../core/session/end.js';
import type { Deps } from '../deps.js';
import { describeThrown } from '../errors.js';

export interface LogoutOptions {
  profile: string;
  all: boolean;
  local: boolean;
}

export function parseLogoutOptions(profile: string, flags: Record<string, unknown>): LogoutOptions {
  return { profile, all: flags.all === true, local: flags.local === true };
}

/**
 * Ends sessions here: revokes them at the provider first (best effort, short
 * timeout; skipped with --local), then deletes the key and the file. A failed
 * revocation is a warning, not a failure; nothing to do is exit 0.
 */
export async function runLogout(options: LogoutOptions, deps: Deps): Promise<void> {
  const profiles = options.all ? await deps.vault.profiles() : [options.profile];
  let ended = 0;
  for (const profile of profiles) {
    const outcome = await endSession(profile, options.local ? 'local' : 'logout', deps);
    if (outcome.kind !== 'ended') continue;
    ended += 1;
    for (const line of describeLogout(profile, outcome)) deps.io.stderr.write(`${line}\n`);
  }
  if (ended === 0) deps.io.stderr.write(`Not signed in${options.all ? '' : ` (profile "${options.profile}")`}; nothing to do.\n`);
}

function describeLogout(profile: string, outcome: Extract<EndOutcome, { kind: 'ended' }>): string[] {
  const who = outcome.record?.claims.name ?? outcome.meta?.subject ?? 'unknown';
  const where = outcome.meta?.issuer ?? 'the provider';
  const lines: string[] = [];
  if (outcome.unreadable) lines.push(`warning: cannot open the session of profile "${profile}" (${outcome.unreadable.message}); it was removed without being revoked.`);
  if (outcome.keyError !== undefined) {
    lines.push(`warning: the key of profile "${profile}" could not be deleted from the vault (${describeThrown(outcome.keyError)}); the session file was deleted.`);
  }
  const told = whatTheProviderHeard(outcome.revocation);
  if (told === undefined) {
    lines.push(`Signed out of ${where} (profile "${profile}", ${who}); the tokens were revoked at the provider.`);
  } else if (outcome.revocation.kind === 'cannot_revoke') {
    lines.push(`warning: ${told}`);
    lines.push(`Signed out of ${where} (profile "${profile}", ${who}) on this machine; the tokens stay valid at the provider until revoked there.`);
  } else if (outcome.revocation.kind === 'not_asked') {
    lines.push(`Signed out of ${where} (profile "${profile}", ${who}) on this machine; the provider was not told.`);
  } else {
    lines.push(`warning: could not revoke the tokens at the provider: ${told}`);
    lines.push(`Signed out of ${where} (profile "${profile}", ${who}) on this machine. Use "devlogin revoke" before logout to make sure the provider ends it too.`);
  }
  return lines;
}

/** Why the provider was not told, or undefined when it revoked the tokens. */
export function whatTheProviderHeard(revocation: Revocation): string | undefined {
  switch (revocation.kind) {
    case 'revoked': return undefined;
    case 'no_endpoint': return 'the provider has no revocation endpoint.';
    case 'cannot_revoke': return `devlogin cannot revoke at this provider: ${revocation.how}.`;
    case 'failed': return revocation.error.message;
    case 'not_asked': return 'it was not asked.';
  }
}
