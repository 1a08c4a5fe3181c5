import type * as client from 'openid-client';
import { DevloginError, EXIT } from '../errors.js';
import { appendAudit, audit } from './audit.js';
import { profileFlag } from './config.js';
import type { Paths } from './paths.js';
import { isSessionExpired, needsRefresh, toIso, type SessionRecord } from './session.js';
import { withProfileLock } from './vault/lock.js';
import type { LoadedSession, Vault } from './vault/vault.js';

export interface SessionDeps {
  paths: Paths;
  vault: Vault;
  /** Epoch milliseconds. */
  now: () => number;
  fetch?: client.CustomFetch | undefined;
  httpTimeoutSeconds: number;
}

/**
 * The OIDC client is loaded only when a command talks to the provider: the
 * offline paths (whoami, token with a valid token) never pay for it.
 */
const loadOidc = () => import('./oidc/tokens.js');

/** Best-effort revocation must not hold a command up for long. */
export const BEST_EFFORT_TIMEOUT_SECONDS = 3;

const seconds = (deps: SessionDeps): number => Math.floor(deps.now() / 1000);
const loginCommand = (profile: string): string => `"devlogin login${profileFlag(profile)}"`;

export function notSignedIn(profile: string): DevloginError {
  return new DevloginError(EXIT.notSignedIn, `Not signed in (profile "${profile}").`, { hint: `Run ${loginCommand(profile)}.`, code: 'not_signed_in' });
}

function sessionEnded(profile: string, message: string, code: string): DevloginError {
  return new DevloginError(EXIT.sessionEnded, message, { hint: `Run ${loginCommand(profile)} to sign in again.`, code });
}

/**
 * Runs `fn` with the profile's session, holding the profile's lock: reads
 * and refreshes of one profile are serialized across processes. A session
 * past its maximum lifetime is purged first (exit 4); none at all is exit 3.
 */
export async function withSession<T>(profile: string, deps: SessionDeps, fn: (loaded: LoadedSession) => Promise<T>): Promise<T> {
  return withProfileLock(deps.paths, profile, async () => fn(await loadActive(profile, deps)));
}

/** Like withSession, without the lifetime check: for ending a session (revoke). */
export async function withStoredSession<T>(profile: string, deps: SessionDeps, fn: (loaded: LoadedSession) => Promise<T>): Promise<T> {
  return withProfileLock(deps.paths, profile, async () => {
    const loaded = await deps.vault.load(profile);
    if (!loaded) throw notSignedIn(profile);
    return fn(loaded);
  });
}

async function loadActive(profile: string, deps: SessionDeps): Promise<LoadedSession> {
  // The expiry is in the clear part of the file: check it before unlocking anything.
  const stored = await deps.vault.readMeta(profile);
  if (!stored) throw notSignedIn(profile);
  if (isSessionExpired(stored.meta, seconds(deps))) {
    await purge(profile, deps, { event: 'session_expired', reason: 'max_session' });
    throw sessionEnded(profile, `The session reached its maximum lifetime at ${toIso(stored.meta.sessionExpiresAt)} and was ended.`, 'session_expired');
  }
  const loaded = await deps.vault.load(profile);
  if (!loaded) throw notSignedIn(profile);
  return loaded;
}

/**
 * The session with an access token valid for at least `minTtlSeconds`,
 * refreshing (and rotating the refresh token) when needed. Call inside
 * withSession: the lock makes exactly one process refresh, and the others
 * find the new token when they re-read after taking the lock.
 */
export async function ensureFresh(loaded: LoadedSession, minTtlSeconds: number, deps: SessionDeps): Promise<LoadedSession> {
  const { record } = loaded;
  if (!needsRefresh(record, minTtlSeconds, seconds(deps))) return loaded;
  if (!record.refreshToken) {
    if (record.accessTokenExpiresAt !== null && record.accessTokenExpiresAt > seconds(deps)) return loaded;
    await purge(record.profile, deps, { event: 'session_expired', reason: 'no_refresh_token' }, loaded);
    throw sessionEnded(record.profile, 'The access token has expired and the provider gave this session no refresh token.', 'session_expired');
  }
  const oidc = await loadOidc();
  const config = oidc.providerConfig(record, { fetch: deps.fetch, timeoutSeconds: deps.httpTimeoutSeconds });
  let refreshed: SessionRecord;
  try {
    const dpop = record.dpop ? await oidc.dpopHandle(config, record.dpop) : undefined;
    refreshed = await oidc.refreshTokens(config, record, seconds(deps), dpop);
  } catch (err) {
    if (!(err instanceof DevloginError) || err.code !== 'invalid_grant') throw err;
    // A second look before declaring the session dead: a process that did not
    // wait for the lock (a stale-lock takeover) may have rotated it already.
    const again = await deps.vault.load(record.profile);
    if (again && again.record.refreshToken !== record.refreshToken && !needsRefresh(again.record, minTtlSeconds, seconds(deps))) {
      return again;
    }
    await purge(record.profile, deps, { event: 'session_expired', reason: 'invalid_grant' }, loaded, { revoke: false });
    throw sessionEnded(record.profile, 'The provider no longer accepts this session (invalid_grant): it was revoked or expired there.', 'invalid_grant');
  }
  await deps.vault.update(loaded, refreshed);
  await audit(deps, 'refresh', refreshed);
  return { ...loaded, record: refreshed };
}

export interface PurgeEvent {
  event: 'session_expired' | 'logout';
  reason: string;
}

/**
 * Ends a session locally: revokes its tokens at the provider (best effort,
 * short timeout) unless told not to, deletes the key then the file, and
 * writes the audit event. Returns whether the provider confirmed revocation.
 */
export async function purge(
  profile: string,
  deps: SessionDeps,
  event: PurgeEvent,
  loaded?: LoadedSession,
  options: { revoke?: boolean } = {},
): Promise<{ revoked: boolean; revokeError?: DevloginError }> {
  let session = loaded;
  if (!session && options.revoke !== false) session = (await deps.vault.load(profile).catch(() => null)) ?? undefined;
  let revoked = false;
  let revokeError: DevloginError | undefined;
  if (session && options.revoke !== false) {
    try {
      const oidc = await loadOidc();
      const config = oidc.providerConfig(session.record, { fetch: deps.fetch, timeoutSeconds: Math.min(BEST_EFFORT_TIMEOUT_SECONDS, deps.httpTimeoutSeconds) });
      revoked = (await oidc.revokeTokens(config, session.record)) === 'revoked';
    } catch (err) {
      revokeError = err instanceof DevloginError ? err : undefined;
    }
  }
  const meta = session?.record ?? (await deps.vault.readMeta(profile).catch(() => null))?.meta;
  await deps.vault.remove(profile);
  await appendAudit(deps.paths, {
    event: event.event,
    profile,
    outcome: 'success',
    reason: event.reason,
    ...(meta ? { issuer: meta.issuer, subject: meta.subject, clientId: meta.clientId, sessionId: meta.sessionId } : {}),
  });
  return { revoked, ...(revokeError ? { revokeError } : {}) };
}

export interface OnlineCheck {
  /** Which provider endpoints confirmed the session. */
  checkedWith: ('introspection' | 'userinfo')[];
  /** Userinfo claims, when the provider has a userinfo endpoint. */
  userinfo?: Record<string, unknown>;
}

/**
 * Asks the provider whether the session is still valid: introspection
 * (RFC 7662) where offered, and userinfo. A definite "no" (inactive, or the
 * token rejected with 401) ends the session locally and is exit 4; a
 * provider that cannot be reached is exit 7 and the session is kept.
 */
export async function checkOnline(loaded: LoadedSession, deps: SessionDeps): Promise<OnlineCheck> {
  const oidc = await loadOidc();
  const { record } = loaded;
  const config = oidc.providerConfig(record, { fetch: deps.fetch, timeoutSeconds: deps.httpTimeoutSeconds });
  const checkedWith: OnlineCheck['checkedWith'] = [];
  const dead = async (reason: string): Promise<never> => {
    await purge(record.profile, deps, { event: 'session_expired', reason }, loaded, { revoke: false });
    throw sessionEnded(record.profile, 'The provider says this session is no longer valid; it was ended here too.', reason);
  };

  let active: boolean | undefined;
  try {
    active = await oidc.introspectActive(config, record.refreshToken ?? record.accessToken, record.issuer);
  } catch (err) {
    // Many providers only let confidential clients introspect: a refusal is "not offered".
    if (err instanceof DevloginError && (err.code === 'network' || err.code === 'timeout' || err.code === 'certificate' || err.code === 'server_error')) throw err;
    active = undefined;
  }
  if (active === false) return dead('inactive');
  if (active === true) checkedWith.push('introspection');

  let userinfo: Record<string, unknown> | undefined;
  try {
    userinfo = await oidc.fetchUserinfo(config, record, record.dpop ? await oidc.dpopHandle(config, record.dpop) : undefined);
  } catch (err) {
    if (err instanceof DevloginError && (err.code === 'invalid_token' || err.code === 'http_401')) return dead('invalid_token');
    throw err;
  }
  if (userinfo) checkedWith.push('userinfo');
  return { checkedWith, ...(userinfo ? { userinfo } : {}) };
}

/**
 * A DPoP-bound access token is useless without a proof from the session's
 * key, which never leaves the vault: token and exec refuse, and point to api.
 */
export function assertBearer(record: SessionRecord): void {
  if (!record.dpop) return;
  throw new DevloginError(EXIT.usage, 'This session\'s access token is bound to a DPoP key (RFC 9449) and is useless as a plain Bearer token.', {
    hint: `Use "devlogin api URL" to call APIs with it${profileFlag(record.profile)}, or sign in with --no-dpop to get a Bearer token.`,
    code: 'dpop_bound',
  });
}
