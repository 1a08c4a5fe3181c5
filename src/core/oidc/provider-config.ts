import * as client from 'openid-client';
import { limitBodies } from '../http.js';
import type { SessionRecord } from '../session/record.js';
import { parseIssuer } from './issuer-url.js';

export interface ProviderConfigOptions {
  fetch: client.CustomFetch;
  timeoutSeconds: number;
  /** api: a resource server's answers may be large; the provider's are capped. */
  unlimitedBodies?: boolean;
}

/**
 * An openid-client configuration from the discovery document sealed in the
 * session at login: no discovery request per command. ID token signatures are
 * still checked against the provider's live JWKS.
 */
export function providerConfig(record: SessionRecord, options: ProviderConfigOptions): client.Configuration {
  const config = new client.Configuration(record.providerMetadata as client.ServerMetadata, record.clientId, undefined, client.None());
  if (parseIssuer(record.issuer).protocol === 'http:') client.allowInsecureRequests(config);
  client.enableNonRepudiationChecks(config);
  config.timeout = options.timeoutSeconds;
  config[client.customFetch] = options.unlimitedBodies ? options.fetch : limitBodies(options.fetch);
  return config;
}
