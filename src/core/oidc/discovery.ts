import * as client from 'openid-client';
import { usageError, providerError } from '../../errors.js';
import { printable } from '../text.js';
import { translateOidcError } from './errors.js';

export interface ProviderOptions {
  /** The fetch every request to the provider goes through (proxy, logging). */
  fetch?: client.CustomFetch;
  /** Per-request timeout in seconds. */
  timeoutSeconds: number;
}

/** 127.0.0.0/8, ::1 and localhost: the only places plain HTTP is accepted. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** True for https:, or http: on a loopback host. */
export function isSecureUrl(url: URL): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
}

/**
 * Parses the issuer and refuses anything but HTTPS (loopback aside): tokens
 * and codes must never cross a network in the clear. Exit 2.
 */
export function parseIssuer(issuer: string): URL {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw usageError(`The issuer "${printable(issuer, 100)}" is not a URL.`, 'Pass the full issuer URL, e.g. --issuer https://login.example.com');
  }
  if (!isSecureUrl(url)) {
    throw usageError(`The issuer ${printable(url.href, 100)} does not use HTTPS.`, 'Only https:// issuers are accepted (plain http:// only on 127.0.0.1, ::1 or localhost).');
  }
  if (url.username || url.password) throw usageError('The issuer URL must not contain a user name or password.');
  return url;
}

const ENDPOINTS = [
  'token_endpoint', 'device_authorization_endpoint', 'jwks_uri', 'userinfo_endpoint',
  'revocation_endpoint', 'introspection_endpoint',
] as const;

/**
 * OpenID Connect discovery (/.well-known/openid-configuration). The returned
 * configuration verifies ID token signatures against the provider's JWKS
 * (openid-client leaves that off unless enableNonRepudiationChecks is called).
 */
export async function discoverProvider(issuer: string, clientId: string, options: ProviderOptions): Promise<client.Configuration> {
  const url = parseIssuer(issuer);
  const execute = [client.enableNonRepudiationChecks];
  if (url.protocol === 'http:') execute.unshift(client.allowInsecureRequests);
  let config: client.Configuration;
  try {
    config = await client.discovery(url, clientId, undefined, client.None(), {
      execute,
      timeout: options.timeoutSeconds,
      ...(options.fetch ? { [client.customFetch]: options.fetch } : {}),
    });
  } catch (err) {
    throw translateOidcError(err, 'discovery', url.href);
  }
  assertSecureEndpoints(config);
  return config;
}

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
      throw providerError(`The provider's ${name} (${printable(value, 100)}) is not an HTTPS URL; refused.`, { code: 'insecure_endpoint' });
    }
  }
}
