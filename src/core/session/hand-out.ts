import { audit, type AuditEvent } from '../audit.js';
import { assertBearer, withSession, type SessionDeps } from './active.js';
import type { SessionRecord } from './record.js';
import { ensureFresh, type HandedToken } from './refresh.js';

/** What a token_read event adds about where the token went. */
export type TokenReadDetails = Partial<Pick<AuditEvent, 'command' | 'host' | 'hostRule'>>;

export interface HandOutOptions {
  minTtlSeconds: number;
  /** The access token (a Bearer token: a DPoP-bound one is refused), or the ID token. */
  token?: HandedToken;
  /** Runs before any request, with the unlocked session: throws to refuse; what it returns goes into the audit event. */
  check?(record: SessionRecord): TokenReadDetails | undefined;
  /** Added to the token_read audit event. */
  details?: TokenReadDetails;
}

/**
 * The one path by which a token leaves devlogin for another program (token,
 * git-credential, kube-credential): the live session under the profile's
 * lock, refreshed when the token is within `minTtlSeconds` of its end, and a
 * `token_read` audit event. Returns the fresh session.
 */
export function handOutToken(profile: string, deps: SessionDeps, options: HandOutOptions): Promise<SessionRecord> {
  return withSession(profile, deps, async (loaded) => {
    const checked = options.check?.(loaded.record);
    // An ID token is never DPoP-bound; an access token that is cannot be used without the key.
    if (options.token !== 'id') assertBearer(loaded.record);
    const fresh = await ensureFresh(loaded, options.minTtlSeconds, deps, options.token);
    await audit(deps, 'token_read', fresh.record, { ...options.details, ...checked });
    return fresh.record;
  });
}
