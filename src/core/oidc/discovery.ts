import * as client from 'openid-client';
import { DevloginError, EXIT, providerError } from '../../errors.js';
import { printable } from '../text.js';
import { limitBodies } from '../http.js';
import { clientAuthFor } from '../providers/client-auth.js';
import { issuerMatches, needsOwnIssuerCheck } from '../providers/issuer.js';
import { PRESETS, type Preset } from '../providers/presets.js';
import { tolerantFetch } from '../providers/tolerant-fetch.js';
import { translateOidcError } from './errors.js';
import { isSecureUrl, parseIssuer } from './issuer-url.js';

export interface ProviderOptions {
  /** The fetch every request to the provider goes through (proxy, logging). */
  fetch: client.CustomFetch;
  /** Per-request timeout in seconds. */
  timeoutSeconds: number;
}

export interface ClientOptions {
  /** The provider's preset (default `generic`). */
  preset?: Preset;
  /** The client's secret, for providers whose device clients have one. */
  clientSecret?: string | undefined;
  /** See tolerantFetch: ID tokens login checks itself (discovery passes it on only where the issuer rule needs it). */
  takeIdToken?: ((idToken: string) => void) | undefined;
  /** api: a resource server's answers may be large and are not the provider's: no body limit, no rewriting. */
  resourceServer?: boolean;
}

const ENDPOINTS = [
  'token_endpoint', 'device_authorization_endpoint', 'jwks_uri', 'userinfo_endpoint',
  'revocation_endpoint', 'introspection_endpoint',
] as const;

/**
 * The provider's metadata (DESIGN.md "Login, step by step"): OpenID Connect
 * discovery, then RFC 8414 authorization server metadata, then the preset's
 * fixed endpoints (GitHub has no discovery; GitLab's omits its device
 * endpoint). The document's issuer must be the configured one under the
 * preset's rule (providers/issuer.ts). The returned configuration verifies ID
 * token signatures against the provider's JWKS.
 */
export async function discoverProvider(issuer: string, clientId: string, options: ProviderOptions, extra: ClientOptions = {}): Promise<client.Configuration> {
  const url = parseIssuer(issuer);
  const preset = extra.preset ?? PRESETS.generic;
  const fetcher = limitBodies(tolerantFetch(options.fetch));
  let metadata: Record<string, unknown> | undefined;
  if (preset.discovery) {
    for (const location of metadataLocations(url)) {
      metadata = await fetchMetadata(location, fetcher, options.timeoutSeconds, url.href);
      if (metadata) break;
    }
    if (!metadata && !preset.fixedEndpoints?.token_endpoint) {
      throw providerError(`The provider ${url.href} has no discovery document (OpenID Connect or RFC 8414).`, {
        code: 'no_discovery',
        hint: 'Check the issuer URL; for GitHub pass --provider github.',
      });
    }
  }
  metadata ??= { issuer };
  if (typeof metadata.issuer !== 'string') {
    throw providerError(`The provider sent a malformed response at the discovery endpoint of ${url.href}: it names no issuer.`, { code: 'malformed_response' });
  }
  if (!issuerMatches(preset.name, issuer, metadata.issuer)) {
    throw providerError(`The provider's discovery document names the issuer ${printable(metadata.issuer, 100)}, not ${printable(issuer, 100)}; refused.`, {
      code: 'issuer_mismatch',
      hint: 'Pass the issuer exactly as the provider spells it (--issuer), and --provider when it is a known one.',
    });
  }
  for (const [name, path] of Object.entries(preset.fixedEndpoints ?? {})) {
    metadata[name] ??= `${issuer.replace(/\/+$/, '')}${path}`;
  }
  const ownCheck = needsOwnIssuerCheck(preset.name, metadata.issuer);
  const config = buildConfiguration(metadata, clientId, issuer, options, { ...extra, takeIdToken: ownCheck ? extra.takeIdToken : undefined });
  assertSecureEndpoints(config);
  return config;
}

/**
 * An openid-client configuration for these metadata: the preset's client
 * authentication, the tolerant fetch, and ID token signatures checked.
 */
export function buildConfiguration(metadata: Record<string, unknown>, clientId: string, issuer: string, options: ProviderOptions, extra: ClientOptions = {}): client.Configuration {
  const preset = extra.preset ?? PRESETS.generic;
  const config = new client.Configuration(metadata as client.ServerMetadata, clientId, undefined, clientAuthFor(preset, extra.clientSecret));
  if (parseIssuer(issuer).protocol === 'http:') client.allowInsecureRequests(config);
  client.enableNonRepudiationChecks(config);
  config.timeout = options.timeoutSeconds;
  config[client.customFetch] = extra.resourceServer
    ? options.fetch
    : limitBodies(tolerantFetch(options.fetch, extra.takeIdToken ? { takeIdToken: extra.takeIdToken } : {}));
  return config;
}

/** OpenID Connect Discovery §4, then RFC 8414 §3 (the well-known segment before the issuer's path). */
function metadataLocations(issuer: URL): string[] {
  const path = issuer.pathname.replace(/\/+$/, '');
  return [
    `${issuer.origin}${path}/.well-known/openid-configuration`,
    `${issuer.origin}/.well-known/oauth-authorization-server${path}`,
  ];
}

/** The document at `location`, or undefined when there is none (any non-200 answer). */
async function fetchMetadata(location: string, fetcher: client.CustomFetch, timeoutSeconds: number, issuer: string): Promise<Record<string, unknown> | undefined> {
  let response: Response;
  try {
    response = await fetcher(location, {
      method: 'GET', headers: { accept: 'application/json' }, body: undefined, redirect: 'manual',
      signal: AbortSignal.timeout(timeoutSeconds * 1000),
    });
  } catch (err) {
    if (err instanceof DevloginError) throw err;
    if (isTimeout(err)) {
      throw providerError(`The provider did not answer in time at the discovery endpoint of ${issuer}.`, { code: 'timeout', hint: 'Check your network or proxy settings (HTTPS_PROXY), then try again.', cause: err });
    }
    throw translateOidcError(err, 'discovery', issuer);
  }
  if (response.status !== 200) {
    await response.body?.cancel();
    if (response.status >= 500) {
      throw providerError(`The provider answered HTTP ${response.status} at the discovery endpoint of ${issuer}.`, { code: 'server_error', hint: 'The provider is having trouble; try again in a moment.' });
    }
    return undefined;
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw providerError(`The provider sent a malformed response at the discovery endpoint of ${issuer}: not a JSON object.`, { code: 'malformed_response' });
  }
  return body as Record<string, unknown>;
}

const isTimeout = (err: unknown): boolean => err instanceof Error && err.name === 'TimeoutError';

/** Loopback issuers may use http, but they may not send us to plain http elsewhere. */
function assertSecureEndpoints(config: client.Configuration): void {
  const metadata = config.serverMetadata();
  for (const name of ENDPOINTS) {
    const value = metadata[name];
    if (value === undefined) continue;
    let url: URL | undefined;
    try {
      url = new URL(String(value));
    } catch {
      url = undefined;
    }
    if (!url || !isSecureUrl(url)) {
      // DESIGN.md "Login, step by step": HTTPS for the issuer and every endpoint, else exit 2.
      throw new DevloginError(EXIT.usage, `The provider's ${name} (${printable(value, 100)}) is not an HTTPS URL; refused.`, { code: 'insecure_endpoint' });
    }
  }
}
