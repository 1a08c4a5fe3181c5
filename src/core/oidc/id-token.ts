import * as client from 'openid-client';
import { providerError } from '../../errors.js';
import type { IdentityClaims } from '../session/record.js';
import { printable } from '../text.js';
import type { TokenResponse } from './device-flow.js';
import { translateOidcError } from './errors.js';
import { acceptedTokenIssuers } from '../providers/issuer.js';
import type { ProviderName } from '../providers/presets.js';

export interface VerifiedIdentity {
  subject: string;
  claims: IdentityClaims;
}

export interface IdentityOptions {
  issuer: string;
  /** Epoch milliseconds. */
  now: number;
  onWarning?: ((message: string) => void) | undefined;
  /** The DPoP handle when the access token is bound. */
  dpop?: client.DPoPHandle | undefined;
  /** The provider's preset: its issuer rule for an ID token taken out of the response. */
  provider?: ProviderName;
  /** An ID token openid-client could not check (providers/issuer.ts), verified here instead. */
  takenIdToken?: string | undefined;
}

/** Asymmetric signatures only: an HS* or `none` token proves nothing about the provider. */
const SIGNING_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

/**
 * Who signed in, from the ID token only. By the time the token response
 * reaches here openid-client has checked the ID token's signature against the
 * provider's JWKS (enableNonRepudiationChecks) and its iss, aud, exp and iat
 * (OpenID Connect Core §3.1.3.7); this re-checks the claims that decide
 * identity so that a change in the library cannot silently weaken them.
 * A user code is not proof of identity: without a valid ID token nothing is stored.
 */
export async function verifiedIdentity(config: client.Configuration, response: TokenResponse, options: IdentityOptions): Promise<VerifiedIdentity> {
  const idToken = response.id_token ?? options.takenIdToken;
  if (!idToken) {
    throw providerError('The provider returned no ID token, so the signed-in identity cannot be verified.', {
      code: 'invalid_id_token',
      hint: 'Make sure the client is an OpenID Connect client and the scope includes "openid".',
    });
  }
  const alg = jwtAlg(idToken);
  if (!alg || alg === 'none' || alg.startsWith('HS')) {
    throw invalid(`it is not signed with the provider's key (alg ${printable(alg ?? 'missing', 20)})`);
  }
  const metadata = config.serverMetadata();
  const clientId = config.clientMetadata().client_id;
  const claims = response.id_token ? response.claims() : await verifyTakenIdToken(config, idToken, options);
  if (!claims) throw invalid('its claims cannot be read');
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  const issuers = response.id_token ? [metadata.issuer] : acceptedTokenIssuers(options.provider ?? 'generic', metadata.issuer, claims);
  if (typeof claims.iss !== 'string' || !issuers.includes(claims.iss)) throw invalid(`unexpected issuer ${printable(claims.iss, 80)}`);
  if (!audiences.includes(clientId)) throw invalid('it was issued to another client (aud)');
  if (typeof claims.exp !== 'number' || claims.exp * 1000 <= options.now - 60_000) throw invalid('it has expired');
  if (typeof claims.sub !== 'string' || claims.sub === '') throw invalid('it has no subject');

  const identity: IdentityClaims = pickIdentity(claims);
  if (!identity.name && !identity.email && metadata.userinfo_endpoint) {
    // Many providers keep profile claims in userinfo only; its subject must match the ID token's.
    try {
      const userinfo = await client.fetchUserInfo(config, response.access_token, claims.sub, { DPoP: options.dpop });
      Object.assign(identity, pickIdentity(userinfo));
    } catch (err) {
      options.onWarning?.(`Could not read your name and email from the provider: ${translateOidcError(err, 'userinfo', options.issuer).message}`);
    }
  }
  return { subject: claims.sub, claims: identity };
}

/**
 * The checks openid-client makes (OpenID Connect Core §3.1.3.7), for an ID
 * token whose issuer follows a provider rule: signature against the
 * provider's JWKS, then iss (from the rule; Entra's from the signed `tid`),
 * aud and exp, with a minute of clock tolerance.
 */
async function verifyTakenIdToken(config: client.Configuration, idToken: string, options: IdentityOptions): Promise<client.IDToken> {
  const { createLocalJWKSet, decodeJwt, jwtVerify } = await import('jose');
  const metadata = config.serverMetadata();
  if (!metadata.jwks_uri) throw invalid('the provider publishes no signing keys (jwks_uri)');
  let unverified: Record<string, unknown>;
  try {
    unverified = decodeJwt(idToken);
  } catch {
    throw invalid('it is not a JWT');
  }
  const issuers = acceptedTokenIssuers(options.provider ?? 'generic', metadata.issuer, unverified);
  if (issuers.length === 0) throw invalid(`its tenant (tid) does not fill the issuer ${printable(metadata.issuer, 80)}`);
  let jwks: unknown;
  try {
    const response = await config[client.customFetch]!(metadata.jwks_uri, { method: 'GET', headers: { accept: 'application/json' }, body: undefined, redirect: 'manual', signal: AbortSignal.timeout(config.timeout! * 1000) });
    jwks = await response.json();
  } catch (err) {
    throw translateOidcError(err, 'token', options.issuer);
  }
  try {
    const { payload } = await jwtVerify(idToken, createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0]), {
      issuer: issuers, audience: config.clientMetadata().client_id, algorithms: SIGNING_ALGS,
      currentDate: new Date(options.now), clockTolerance: 60, requiredClaims: ['sub', 'exp', 'iat'],
    });
    return payload as client.IDToken;
  } catch (err) {
    throw invalid(printable(err instanceof Error ? err.message : 'the signature does not verify', 120));
  }
}

function pickIdentity(claims: Record<string, unknown>): IdentityClaims {
  const identity: IdentityClaims = {};
  for (const key of ['name', 'email', 'preferred_username'] as const) {
    const value = claims[key];
    if (typeof value === 'string' && value.trim() !== '') identity[key] = printable(value, 200);
  }
  return identity;
}

function jwtAlg(jwt: string): string | undefined {
  try {
    const header: unknown = JSON.parse(Buffer.from(jwt.split('.')[0] ?? '', 'base64url').toString('utf8'));
    const alg = (header as { alg?: unknown }).alg;
    return typeof alg === 'string' ? alg : undefined;
  } catch {
    return undefined;
  }
}

function invalid(reason: string): Error {
  return providerError(`The ID token failed verification: ${reason}.`, {
    code: 'invalid_id_token',
    hint: 'Nothing was stored. Check the issuer and client id; if they are right, the provider or the network is not to be trusted.',
  });
}
