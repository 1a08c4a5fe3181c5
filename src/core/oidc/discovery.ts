import * as client from 'openid-client';
import { DevloginError, EXIT } from '../../errors.js';
import { printable } from '../text.js';
import { limitBodies } from '../http.js';
import { translateOidcError } from './errors.js';
import { isSecureUrl, parseIssuer } from './issuer-url.js';

export interface ProviderOptions {
  /** The fetch every request to the provider goes through (proxy, logging). */
  fetch: client.CustomFetch;
  /** Per-request timeout in seconds. */
  timeoutSeconds: number;
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
      [client.customFetch]: limitBodies(options.fetch),
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
      // DESIGN.md "Login, step by step": HTTPS for the issuer and every endpoint, else exit 2.
      throw new DevloginError(EXIT.usage, `The provider's ${name} (${printable(value, 100)}) is not an HTTPS URL; refused.`, { code: 'insecure_endpoint' });
    }
  }
}
