import { DevloginError } from '../../errors.js';
import { audit } from '../audit.js';
import type { LoadedSession } from '../vault/vault.js';
import { nowSeconds, sessionEnded, type SessionDeps } from './active.js';
import { endLocked } from './end.js';
import { idTokenExpiresAt, needsRefresh, type SessionRecord } from './record.js';

/** Which of the session's tokens is handed out: its own expiry decides whether to refresh. */
export type HandedToken = 'access' | 'id';

const expiryOf = (record: SessionRecord, token: HandedToken): number | null =>
  token === 'id' ? idTokenExpiresAt(record) : record.accessTokenExpiresAt;

/**
 * The session with an access token (or, for `token` "id", an ID token: what
 * an OpenID Connect Kubernetes cluster checks) valid for at least `minTtlSeconds`,
 * refreshing (and storing the rotated refresh token) when needed (RFC 6749
 * §6). Call inside withSession: the lock makes exactly one process refresh,
 * and the others find the new token when they re-read after taking it.
 */
export async function ensureFresh(loaded: LoadedSession, minTtlSeconds: number, deps: SessionDeps, token: HandedToken = 'access'): Promise<LoadedSession> {
  const { record } = loaded;
  const now = nowSeconds(deps);
  const stale = (candidate: SessionRecord) =>
    needsRefresh({ accessTokenExpiresAt: expiryOf(candidate, token), accessTokenRefreshedAt: candidate.accessTokenRefreshedAt }, minTtlSeconds, nowSeconds(deps));
  if (!stale(record)) return loaded;
  if (!record.refreshToken) {
    // Still valid, only closer to its end than asked: hand it out; it cannot be renewed.
    const expiresAt = expiryOf(record, token);
    if (expiresAt !== null && expiresAt > now) return loaded;
    await endLocked(record.profile, 'expired', deps, { loaded, reason: 'no_refresh_token' });
    throw sessionEnded(record.profile, `The ${token === 'id' ? 'ID' : 'access'} token has expired and the provider gave this session no refresh token.`, 'session_expired');
  }
  const oidc = await import('../oidc/tokens.js');
  const config = oidc.providerConfig(record, { fetch: deps.fetch, timeoutSeconds: deps.httpTimeoutSeconds });
  let refreshed: SessionRecord;
  try {
    const dpop = record.dpop ? await oidc.dpopHandle(config, record.dpop) : undefined;
    refreshed = await oidc.refreshTokens(config, record, now, dpop);
  } catch (err) {
    if (!(err instanceof DevloginError) || err.code !== 'invalid_grant') throw err;
    // A second look before declaring the session dead: a process that did not
    // wait for the lock (a stale-lock takeover) may have rotated it already.
    const again = await deps.vault.load(record.profile);
    if (again && again.record.refreshToken !== record.refreshToken && !stale(again.record)) {
      return again;
    }
    return rejectedSession(loaded, deps);
  }
  await deps.vault.update(loaded, refreshed);
  // A refresh may not widen a session behind the user's back (login warns as well).
  const had = new Set(record.scope.split(' '));
  const widened = refreshed.scope.split(' ').filter((scope) => scope && !had.has(scope));
  if (widened.length > 0) deps.warn?.(`the provider granted more on refresh than the session had: ${widened.join(' ')}`);
  await audit(deps, 'refresh', refreshed, widened.length > 0 ? { reason: 'scope_widened' } : {});
  return { ...loaded, record: refreshed };
}

/** The provider refused the session's refresh token (invalid_grant): end it here too, exit 4. */
export async function rejectedSession(loaded: LoadedSession, deps: SessionDeps): Promise<never> {
  await endLocked(loaded.record.profile, 'invalid', deps, { loaded, reason: 'invalid_grant' });
  throw sessionEnded(loaded.record.profile, 'The provider no longer accepts this session (invalid_grant): it was revoked or expired there.', 'invalid_grant');
}
