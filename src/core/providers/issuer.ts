import type { ProviderName } from './presets.js';

/**
 * Per-provider issuer rules (PROVIDERS.md §4.1, §4.10). Elsewhere the issuer
 * in the discovery document and in every ID token must be the configured one,
 * character for character (RFC 8414 §3.3, OpenID Connect Discovery §4.3).
 */

const TENANT_PLACEHOLDER = '{tenantid}';
/** Entra's multi-tenant authorities, whose discovery issuer is a template [MS3]. */
const ENTRA_MULTI_TENANT = new Set(['common', 'organizations', 'consumers']);
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const withoutSlash = (issuer: string): string => issuer.replace(/\/+$/, '');

/** True when the discovery document's issuer belongs to the configured one under the provider's rule. */
export function issuerMatches(provider: ProviderName, configured: string, discovered: string): boolean {
  if (discovered === configured || sameHref(discovered, configured)) return true;
  // Auth0's issuer ends with a slash; users type it without [A04].
  if (provider === 'auth0') return withoutSlash(discovered) === withoutSlash(configured);
  if (provider === 'entra') return entraIssuerMatches(configured, discovered);
  return false;
}

/**
 * Entra: the multi-tenant authorities (common, organizations) name the
 * template `…/{tenantid}/v2.0` [MS3]; `consumers` and a tenant given by its
 * domain name (contoso.onmicrosoft.com) name the tenant's GUID [MS7]. Either
 * way the document came over TLS from the configured authority, on the same
 * host; a configured GUID must be the very one named.
 */
function entraIssuerMatches(configured: string, discovered: string): boolean {
  let want: URL;
  let got: URL;
  try {
    want = new URL(configured);
    got = new URL(discovered.replace(TENANT_PLACEHOLDER, 'TENANTID'));
  } catch {
    return false;
  }
  const tenant = entraTenant(configured);
  const named = got.pathname.split('/').filter(Boolean);
  if (got.origin !== want.origin || named.length !== 2 || named[1] !== 'v2.0' || tenant === undefined) return false;
  if (named[0] === 'TENANTID') return ENTRA_MULTI_TENANT.has(tenant.toLowerCase()) && tenant.toLowerCase() !== 'consumers';
  if (!GUID.test(named[0]!)) return false;
  return GUID.test(tenant) ? tenant.toLowerCase() === named[0]!.toLowerCase() : true;
}

/** As openid-client compares them: `https://host` is `https://host/`. */
function sameHref(a: string, b: string): boolean {
  try {
    return new URL(a).href === new URL(b).href;
  } catch {
    return false;
  }
}

/** The tenant segment of an Entra authority: the path segment before v2.0. */
function entraTenant(issuer: string): string | undefined {
  const segments = new URL(issuer).pathname.split('/').filter(Boolean);
  const index = segments.indexOf('v2.0');
  return index > 0 ? segments[index - 1] : segments.at(-1);
}

/**
 * True when openid-client's exact `iss` check cannot be used and login checks
 * the ID token itself: Google's tokens may carry `accounts.google.com`
 * without the scheme [GO3]; Entra's multi-tenant issuer is a template [MS3].
 */
export function needsOwnIssuerCheck(provider: ProviderName, metadataIssuer: string): boolean {
  return provider === 'google' || (provider === 'entra' && metadataIssuer.includes(TENANT_PLACEHOLDER));
}

/**
 * The issuers an ID token may name. Entra: the template with the token's own
 * `tid` (a GUID, and nothing else) in place of {tenantid}; the signature
 * check that follows covers `tid` too.
 */
export function acceptedTokenIssuers(provider: ProviderName, metadataIssuer: string, claims: Record<string, unknown>): string[] {
  if (provider === 'google') return [metadataIssuer, metadataIssuer.replace(/^https?:\/\//, '')];
  if (provider === 'entra' && metadataIssuer.includes(TENANT_PLACEHOLDER)) {
    const tid = claims.tid;
    return typeof tid === 'string' && GUID.test(tid) ? [metadataIssuer.replace(TENANT_PLACEHOLDER, tid)] : [];
  }
  return [metadataIssuer];
}
