import { audit, type AuditEvent } from '../audit.js';
import { assertBearer, withSession, type SessionDeps } from './active.js';
import { narrowFresh } from './narrow.js';
import type { SessionRecord } from './record.js';
import { ensureFresh, type HandedToken } from './refresh.js';

/** What a token_read (or exec) event adds about where the token went. */
export type TokenReadDetails = Partial<Pick<AuditEvent, 'command' | 'host' | 'hostRule'>>;

export interface HandOutOptions {
  minTtlSeconds: number;
  /** The access token (the default), or the ID token (kubectl's OpenID clusters). */
  token?: HandedToken;
  /** An access token narrowed to these of the session's scopes (RFC 6749 §6), for this use only. */
  scopes?: readonly string[] | undefined;
  /** With scopes: the RFC 8707 resource the token is for. */
  resource?: string | undefined;
  /** token, exec, git and kubectl hand out Bearer tokens; api proves a DPoP binding itself. */
  bearer?: boolean;
  /** The audit event (default token_read). */
  event?: 'token_read' | 'exec';
  /** Runs before any request, with the unlocked session: throws to refuse; what it returns goes into the audit event. */
  check?(record: SessionRecord): TokenReadDetails | undefined;
  /** Added to the audit event. */
  details?: TokenReadDetails;
}

/** The token handed out, and the fresh session it came from. */
export interface HandedOut {
  record: SessionRecord;
  accessToken: string;
  tokenType: string;
  expiresAt: number | null;
  scope: string;
}

/**
 * The one path by which a token leaves devlogin for another program (token,
 * exec, api, git-credential, kube-credential): the live session under the
 * profile's lock, the caller's check, the token refreshed when it is within
 * `minTtlSeconds` of its end (or one narrowed to `scopes`), and an audit
 * event with the scope actually handed out.
 */
export function handOutToken(profile: string, deps: SessionDeps, options: HandOutOptions): Promise<HandedOut> {
  return withSession(profile, deps, async (loaded) => {
    const checked = options.check?.(loaded.record);
    // An ID token is never DPoP-bound; an access token that is cannot be used without the key.
    if (options.token !== 'id' && options.bearer !== false) assertBearer(loaded.record);
    const event = options.event ?? 'token_read';
    if (options.scopes) {
      const narrowed = await narrowFresh(loaded, { scopes: options.scopes, resource: options.resource, minTtlSeconds: options.minTtlSeconds }, deps);
      const { token } = narrowed;
      await audit(deps, event, narrowed.loaded.record, { ...options.details, ...checked, scope: token.scope });
      return { record: narrowed.loaded.record, accessToken: token.accessToken, tokenType: token.tokenType, expiresAt: token.accessTokenExpiresAt, scope: token.scope };
    }
    const { record } = await ensureFresh(loaded, options.minTtlSeconds, deps, options.token);
    await audit(deps, event, record, { ...options.details, ...checked });
    return { record, accessToken: record.accessToken, tokenType: record.tokenType, expiresAt: record.accessTokenExpiresAt, scope: record.scope };
  });
}
