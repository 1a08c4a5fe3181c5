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

/** True when the access token is missing its expiry margin (null expiry: assume valid). */
export function needsRefresh(session: Pick<SessionMeta, 'accessTokenExpiresAt'>, minTtlSeconds: number, nowSeconds: number): boolean {
  return session.accessTokenExpiresAt !== null && session.accessTokenExpiresAt - nowSeconds <= minTtlSeconds;
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
