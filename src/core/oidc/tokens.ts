import * as client from 'openid-client';
import { providerError } from '../../errors.js';
import { revokeGithubToken } from '../providers/github.js';
import { canonicalTokenType, expiryFrom, presetOf, type NarrowToken, type SessionRecord } from '../session/record.js';
import { printable } from '../text.js';
import { translateOidcError } from './errors.js';
import { dpopProof, type StoredDpopKey } from './dpop.js';

export { providerConfig } from './provider-config.js';
export { dpopHandle } from './dpop.js';

/**
 * One refresh-token grant (RFC 6749 §6), with the checks every use of its
 * answer needs: an access token, and an ID token (if any) about the same user.
 */
async function refreshGrant(config: client.Configuration, record: SessionRecord, parameters: Record<string, string> | undefined, dpop: client.DPoPHandle | undefined) {
  let response: Awaited<ReturnType<typeof client.refreshTokenGrant>>;
  try {
    response = await client.refreshTokenGrant(config, record.refreshToken!, parameters, { DPoP: dpop });
  } catch (err) {
    throw translateOidcError(err, 'refresh', record.issuer);
  }
  if (!response.access_token) throw providerError('The provider returned no access token on refresh.', { code: 'malformed_response' });
  const claims = response.claims();
  // OpenID Connect Core §12.2: a refreshed ID token must be about the same user.
  if (claims && claims.sub !== record.subject) {
    throw providerError('The provider returned an ID token for another user on refresh; refused.', { code: 'invalid_id_token' });
  }
  return response;
}

/**
 * Refreshes the access token (RFC 6749 §6). The session's hard end
 * (sessionExpiresAt) never moves; a response without a new refresh token
 * keeps the old one (§6: the server MAY issue a new one).
 */
export async function refreshTokens(config: client.Configuration, record: SessionRecord, nowSeconds: number, dpop?: client.DPoPHandle): Promise<SessionRecord> {
  const response = await refreshGrant(config, record, undefined, dpop);
  return {
    ...record,
    tokenType: canonicalTokenType(response.token_type),
    accessToken: response.access_token,
    accessTokenExpiresAt: expiryFrom(response.expires_in, nowSeconds),
    accessTokenRefreshedAt: nowSeconds,
    ...(response.refresh_token ? { refreshToken: response.refresh_token } : {}),
    ...(response.id_token ? { idToken: response.id_token } : {}),
    ...(typeof response.scope === 'string' && response.scope.trim() ? { scope: response.scope.trim() } : {}),
  };
}

export interface NarrowRequest {
  /** Space-separated, each one granted to the session. */
  scope: string;
  /** RFC 8707 §2.2: the resource the token is for. */
  resource?: string | undefined;
}

export interface NarrowResult {
  /** The session with the rotated refresh token, if the provider sent one; its own access token unchanged. */
  record: SessionRecord;
  token: NarrowToken;
}

/**
 * RFC 6749 §6: a refresh request with a narrower `scope` (and, RFC 8707
 * §2.2, a `resource`) gets an access token for just that. The refresh token
 * the provider rotates in the same response is the session's from then on
 * (it keeps the full grant: §6 says the scope of the new refresh token is the
 * original one). A response granting more than was asked is refused: the
 * point of the request is least privilege.
 */
export async function narrowTokens(config: client.Configuration, record: SessionRecord, request: NarrowRequest, nowSeconds: number, dpop?: client.DPoPHandle): Promise<NarrowResult> {
  const parameters: Record<string, string> = { scope: request.scope };
  if (request.resource) parameters.resource = request.resource;
  const response = await refreshGrant(config, record, parameters, dpop);
  const asked = new Set(request.scope.split(' '));
  // RFC 6749 §5.1: no scope in the response means the scope asked for.
  const granted = typeof response.scope === 'string' && response.scope.trim() ? response.scope.trim().split(/\s+/) : [...asked];
  const extra = granted.filter((scope) => !asked.has(scope));
  if (extra.length > 0) {
    throw providerError(`The provider granted more than the narrower scope asked for (${printable(extra.join(' '), 120)}); the token was not used.`, { code: 'scope_widened' });
  }
  return {
    record: { ...record, ...(response.refresh_token ? { refreshToken: response.refresh_token } : {}) },
    token: {
      scope: granted.join(' '),
      ...(request.resource ? { resource: request.resource } : {}),
      tokenType: canonicalTokenType(response.token_type),
      accessToken: response.access_token,
      accessTokenExpiresAt: expiryFrom(response.expires_in, nowSeconds),
      accessTokenRefreshedAt: nowSeconds,
    },
  };
}

export type RevocationOutcome = 'revoked' | 'no_endpoint' | 'cannot_revoke';

/**
 * How to end the session at the provider when this client has no way to
 * (the preset's own instructions), or undefined when it can: Entra has no
 * revocation endpoint [MS4]; GitHub revokes only with the app's secret [GH6].
 */
export function revocationUnavailable(record: SessionRecord): string | undefined {
  const preset = presetOf(record);
  if (!preset.revokeElsewhere) return undefined;
  if (preset.revocation === 'github') return record.clientSecret ? undefined : preset.revokeElsewhere;
  return record.providerMetadata.revocation_endpoint ? undefined : preset.revokeElsewhere;
}

/**
 * Revocation as the provider does it: RFC 7009 of the refresh token (which,
 * per §2.1, should also end the access tokens of the same grant) and then of
 * the access token; Google's `?token=` query, which ends the whole grant
 * [GO1]; GitHub's DELETE with the app's secret [GH6].
 */
export async function revokeTokens(config: client.Configuration, record: SessionRecord, http: { fetch: client.CustomFetch; timeoutSeconds: number }): Promise<RevocationOutcome> {
  if (revocationUnavailable(record) !== undefined) return 'cannot_revoke';
  const preset = presetOf(record);
  if (preset.revocation === 'github') {
    await revokeGithubToken(record.issuer, record.clientId, record.clientSecret!, record.accessToken, http);
    return 'revoked';
  }
  const endpoint = config.serverMetadata().revocation_endpoint;
  if (!endpoint) return 'no_endpoint';
  if (preset.revocation === 'query') {
    await revokeByQuery(endpoint, record.refreshToken ?? record.accessToken, record.issuer, config);
    return 'revoked';
  }
  const restore = record.dpop ? withDpopProofs(config, record.dpop) : () => undefined;
  try {
    return await revokeBoth(config, record);
  } finally {
    restore();
  }
}

/** POST {endpoint}?token=…: 200 is revoked, 400 an invalid (already dead) token [GO1]. */
async function revokeByQuery(endpoint: string, token: string, issuer: string, config: client.Configuration): Promise<void> {
  const url = new URL(endpoint);
  url.searchParams.set('token', token);
  let response: Response;
  try {
    response = await config[client.customFetch]!(url.href, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '', redirect: 'manual',
      signal: AbortSignal.timeout((config.timeout ?? 15) * 1000),
    });
  } catch (err) {
    throw translateOidcError(err, 'revocation', issuer);
  }
  await response.body?.cancel();
  if (response.status !== 200) throw providerError(`The provider refused the revocation (HTTP ${response.status}).`, { code: `http_${response.status}` });
}

async function revokeBoth(config: client.Configuration, record: SessionRecord): Promise<RevocationOutcome> {
  const revoke = async (token: string, hint: 'refresh_token' | 'access_token') => {
    try {
      await client.tokenRevocation(config, token, { token_type_hint: hint });
    } catch (err) {
      throw translateOidcError(err, 'revocation', record.issuer);
    }
  };
  if (record.refreshToken) await revoke(record.refreshToken, 'refresh_token');
  await revoke(record.accessToken, 'access_token');
  // Narrow tokens came from the same grant (RFC 7009 §2.1 lets revoking the
  // refresh token end them too, but does not promise it): revoke each.
  for (const narrow of Object.values(record.narrowTokens ?? {})) await revoke(narrow.accessToken, 'access_token');
  return 'revoked';
}

/**
 * Adds a DPoP proof to every POST this configuration sends, until the
 * returned function is called (for revocation, which openid-client sends bare).
 */
function withDpopProofs(config: client.Configuration, stored: StoredDpopKey): () => void {
  const previous = config[client.customFetch];
  const inner = previous ?? ((url: string, init: client.CustomFetchOptions) => fetch(url, init));
  config[client.customFetch] = async (url, init) => {
    const headers = { ...init.headers, ...(init.method === 'POST' ? { dpop: await dpopProof(stored, init.method, url) } : {}) };
    return inner(url, { ...init, headers });
  };
  return () => {
    if (previous) config[client.customFetch] = previous;
  };
}

/** RFC 7662 introspection: true/false for active, undefined when the provider offers none. */
export async function introspectActive(config: client.Configuration, token: string, issuer: string): Promise<boolean | undefined> {
  if (!config.serverMetadata().introspection_endpoint) return undefined;
  try {
    const result = await client.tokenIntrospection(config, token);
    return result.active === true;
  } catch (err) {
    throw translateOidcError(err, 'introspection', issuer);
  }
}

/** OpenID Connect userinfo, checked to be about the session's subject. */
export async function fetchUserinfo(config: client.Configuration, record: SessionRecord, dpop?: client.DPoPHandle): Promise<Record<string, unknown> | undefined> {
  if (!config.serverMetadata().userinfo_endpoint) return undefined;
  try {
    return await client.fetchUserInfo(config, record.accessToken, record.subject, { DPoP: dpop });
  } catch (err) {
    throw translateOidcError(err, 'userinfo', record.issuer);
  }
}

export interface ApiRequest {
  url: URL;
  method: string;
  body: Buffer | undefined;
  headers: Headers;
  dpop?: client.DPoPHandle | undefined;
}

/** A request to a resource server with the session's access token (and a DPoP proof when bound). */
export async function callApi(config: client.Configuration, record: SessionRecord, request: ApiRequest): Promise<Response> {
  try {
    return await client.fetchProtectedResource(config, record.accessToken, request.url, request.method, request.body, request.headers, { DPoP: request.dpop });
  } catch (err) {
    if (err instanceof client.WWWAuthenticateChallengeError) return err.response;
    throw translateOidcError(err, 'api', request.url.origin);
  }
}
