import * as client from 'openid-client';
import type { SessionRecord } from '../session.js';
import { parseIssuer } from './issuer-url.js';

export interface ProviderConfigOptions {
  fetch?: client.CustomFetch | undefined;
  timeoutSeconds: number;
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
  if (options.fetch) config[client.customFetch] = options.fetch;
  return config;
}
