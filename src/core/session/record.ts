import { randomUUID, type JsonWebKey } from 'node:crypto';

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
  /** The DPoP key this session's tokens are bound to (RFC 9449): private and public JWK. */
  dpop?: { alg: string; privateJwk: JsonWebKey; publicJwk: JsonWebKey };
}

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

/** True when the access token is missing its expiry margin (null expiry: assume valid). */
export function needsRefresh(session: Pick<SessionMeta, 'accessTokenExpiresAt'>, minTtlSeconds: number, nowSeconds: number): boolean {
  return session.accessTokenExpiresAt !== null && session.accessTokenExpiresAt - nowSeconds <= minTtlSeconds;
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

export const toIso = (epochSeconds: number): string => new Date(epochSeconds * 1000).toISOString();

/**
 * Token types compare case-insensitively (RFC 6749 §7.1); openid-client hands
 * them over lower-cased. Scripts build headers from this, so use the usual spelling.
 */
export function canonicalTokenType(type: string): string {
  const lower = type.toLowerCase();
  return lower === 'bearer' ? 'Bearer' : lower === 'dpop' ? 'DPoP' : type;
}
