import { DevloginError, vaultError } from '../../errors.js';
import { audit } from '../audit.js';
import type { LoadedSession, Reservation } from '../vault/vault.js';
import { loginCommand, nowSeconds, sessionEnded, type SessionDeps } from './active.js';
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
  return withRoomToStore(loaded, deps, async (reservation) => {
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
    const stored = await storeRenewed(loaded, refreshed, reservation, deps);
    // A refresh may not widen a session behind the user's back (login warns as well).
    const had = new Set(record.scope.split(' '));
    const widened = refreshed.scope.split(' ').filter((scope) => scope && !had.has(scope));
    if (widened.length > 0) deps.warn?.(`the provider granted more on refresh than the session had: ${widened.join(' ')}`);
    await audit(deps, 'refresh', refreshed, widened.length > 0 ? { reason: 'scope_widened' } : {});
    return stored;
  });
}

/**
 * Runs a grant that spends the session's refresh token (a refresh, a narrow
 * token) with room made for the session's next write first: on a full disk
 * it fails before anything is spent (exit 6, the session as it was).
 */
export async function withRoomToStore<T>(loaded: LoadedSession, deps: SessionDeps, grant: (reservation: Reservation) => Promise<T>): Promise<T> {
  const reservation = await deps.vault.reserveUpdate(loaded);
  try {
    return await grant(reservation);
  } finally {
    reservation.release();
  }
}

/** How many times a renewed session's write is tried before it is given up. */
const STORE_ATTEMPTS = 3;

/**
 * Stores a session the provider has just renewed. Its old refresh token is
 * spent, so the session exists only in this process until the write lands:
 * a write that fails for want of space (on a copy-on-write file system the
 * room made beforehand may not be enough) is tried again after a pause,
 * never dropped at the first failure.
 */
export async function storeRenewed(loaded: LoadedSession, record: SessionRecord, reservation: Reservation, deps: SessionDeps): Promise<LoadedSession> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await deps.vault.update(loaded, record, attempt === 1 ? reservation : undefined);
    } catch (err) {
      if (!(err instanceof DevloginError) || err.code !== 'no_space') throw err;
      if (attempt === STORE_ATTEMPTS) {
        throw vaultError(`The provider renewed the session's tokens, but they could not be saved: ${err.message.replace(/^Cannot write /, 'writing ')}`, {
          hint: `Free some space; the provider has spent the stored refresh token, so the next command may find the session ended (then run ${loginCommand(record.profile)}).`,
          code: 'no_space',
        });
      }
      await deps.sleep(1000 * attempt);
    }
  }
}

/** The provider refused the session's refresh token (invalid_grant): end it here too, exit 4. */
export async function rejectedSession(loaded: LoadedSession, deps: SessionDeps): Promise<never> {
  await endLocked(loaded.record.profile, 'invalid', deps, { loaded, reason: 'invalid_grant' });
  throw sessionEnded(loaded.record.profile, 'The provider no longer accepts this session (invalid_grant): it was revoked or expired there.', 'invalid_grant');
}
