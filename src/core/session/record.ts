import { randomUUID, type JsonWebKey } from 'node:crypto';
import { PRESETS, isProviderName, type IdentitySource, type Preset, type ProviderName } from '../providers/presets.js';
import { isoTime } from '../text.js';

/** Identity claims kept from the verified ID token (never a token). */
export interface IdentityClaims {
  name?: string;
  email?: string;
  preferred_username?: string;
}

/**
 * One signed-in session. It holds tokens, so it only ever exists in memory
 * or sealed in the vault. Times are epoch seconds.
 */
export interface SessionRecord {
  version: 1;
  sessionId: string;
  profile: string;
  issuer: string;
  clientId: string;
  requestedScope: string;
  /** The scope the provider granted. */
  scope: string;
  audience?: string;
  subject: string;
  claims: IdentityClaims;
  tokenType: string;
  accessToken: string;
  /** null when the provider did not say (no expires_in). */
  accessTokenExpiresAt: number | null;
  /** When the access token was last refreshed (unset for the one from sign-in). */
  accessTokenRefreshedAt?: number;
  refreshToken?: string;
  idToken?: string;
  createdAt: number;
  /** The hard end of the session; refreshing never moves it. */
  sessionExpiresAt: number;
  /**
   * The provider's discovery document as seen at login: later commands reuse
   * it instead of discovering again (it is sealed with the session).
   */
  providerMetadata: Record<string, unknown>;
  /** The provider preset the session was signed in with (absent in older sessions: generic). */
  provider?: ProviderName;
  /** How `subject` and `claims` were verified: an ID token, or the provider's user API over TLS (GitHub). */
  identityVerifiedBy?: IdentitySource;
  /** The client's secret (DEVLOGIN_CLIENT_SECRET at login), for refreshes: only ever inside the sealed record. */
  clientSecret?: string;
  /** The DPoP key this session's tokens are bound to (RFC 9449): private and public JWK. */
  dpop?: { alg: string; privateJwk: JsonWebKey; publicJwk: JsonWebKey };
  /**
   * Access tokens narrowed to fewer scopes (token/exec/api --scope), keyed by
   * narrowKey(): kept so that a loop asking for the same narrow token does not
   * refresh every time; sealed with the session and gone with it.
   */
  narrowTokens?: Record<string, NarrowToken>;
}

/** An access token obtained with the session's refresh token for fewer scopes (RFC 6749 §6). */
export interface NarrowToken {
  scope: string;
  /** RFC 8707 resource indicator it was asked for, if any. */
  resource?: string;
  tokenType: string;
  accessToken: string;
  accessTokenExpiresAt: number | null;
  accessTokenRefreshedAt?: number;
}

/** The cache key of a narrow token: its scopes in a fixed order, and its resource. */
export const narrowKey = (scopes: readonly string[], resource: string | undefined): string =>
  `${[...scopes].sort().join(' ')}${resource ? ` @${resource}` : ''}`;

/** What may be read without unlocking the vault: no secret, authenticated by the cipher. */
export interface SessionMeta {
  profile: string;
  sessionId: string;
  issuer: string;
  clientId: string;
  subject: string;
  createdAt: number;
  sessionExpiresAt: number;
  accessTokenExpiresAt: number | null;
}

export const newSessionId = (): string => randomUUID();

export function metaOf(record: SessionRecord): SessionMeta {
  const { profile, sessionId, issuer, clientId, subject, createdAt, sessionExpiresAt, accessTokenExpiresAt } = record;
  return { profile, sessionId, issuer, clientId, subject, createdAt, sessionExpiresAt, accessTokenExpiresAt };
}

export function isSessionExpired(meta: Pick<SessionMeta, 'sessionExpiresAt'>, nowSeconds: number): boolean {
  return nowSeconds >= meta.sessionExpiresAt;
}

/** How long a refreshed token counts as just refreshed (see needsRefresh). */
const JUST_REFRESHED_SECONDS = 60;

/** True when the access token is within --min-ttl of its end (null expiry: assume valid), unless it was just refreshed. */
export function needsRefresh(
  session: Pick<SessionMeta, 'accessTokenExpiresAt'> & { accessTokenRefreshedAt?: number | undefined },
  minTtlSeconds: number,
  nowSeconds: number,
): boolean {
  const expiresAt = session.accessTokenExpiresAt;
  if (expiresAt === null) return false;
  const left = expiresAt - nowSeconds;
  if (left > minTtlSeconds) return false;
  // A provider whose tokens live less than --min-ttl cannot give a better one:
  // a token refreshed a moment ago (under a minute, or half its life if that
  // is shorter) is used by every caller, instead of each spending a refresh
  // (DESIGN.md "The vault": no refresh storm).
  const refreshedAt = session.accessTokenRefreshedAt;
  if (refreshedAt === undefined || left <= 0) return true;
  return nowSeconds - refreshedAt >= Math.min((expiresAt - refreshedAt) / 2, JUST_REFRESHED_SECONDS);
}

/** The longest lifetime a provider's expires_in is taken at: a year (a larger or broken one is clamped, never stored as is). */
const MAX_LIFETIME_SECONDS = 365 * 24 * 3600;

/**
 * An access token's end from the provider's expires_in (RFC 6749 §5.1:
 * seconds): null when absent or not a positive finite number, at most a year.
 */
export function expiryFrom(expiresIn: unknown, nowSeconds: number): number | null {
  if (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn) || expiresIn <= 0) return null;
  return nowSeconds + Math.min(Math.floor(expiresIn), MAX_LIFETIME_SECONDS);
}

/**
 * The `exp` of the session's ID token (epoch seconds), read without checking
 * the signature: it was verified when the provider issued it (at login, or
 * by openid-client on refresh). null when there is none or it has no `exp`.
 */
export function idTokenExpiresAt(record: Pick<SessionRecord, 'idToken'>): number | null {
  const payload = record.idToken?.split('.')[1];
  if (!payload) return null;
  try {
    const exp = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp : null;
  } catch {
    return null;
  }
}

export const toIso = (epochSeconds: number): string => isoTime(epochSeconds * 1000);

/**
 * Token types compare case-insensitively (RFC 6749 §7.1); openid-client hands
 * them over lower-cased. Scripts build headers from this, so use the usual spelling.
 */
export function canonicalTokenType(type: string): string {
  const lower = type.toLowerCase();
  return lower === 'bearer' ? 'Bearer' : lower === 'dpop' ? 'DPoP' : type;
}

/** The session's preset; `generic` for sessions stored before presets existed. */
export function presetOf(record: Pick<SessionRecord, 'provider'>): Preset {
  return record.provider && isProviderName(record.provider) ? PRESETS[record.provider] : PRESETS.generic;
}
