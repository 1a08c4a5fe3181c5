import type * as client from 'openid-client';
import { needsOwnIssuerCheck } from '../providers/issuer.js';
import { presetOf, type SessionRecord } from '../session/record.js';
import { buildConfiguration } from './discovery.js';

export interface ProviderConfigOptions {
  fetch: client.CustomFetch;
  timeoutSeconds: number;
  /** api: a resource server's answers may be large; the provider's are capped. */
  unlimitedBodies?: boolean;
}

/**
 * An openid-client configuration from the discovery document sealed in the
 * session at login: no discovery request per command. ID token signatures are
 * still checked against the provider's live JWKS; the preset's client
 * authentication uses the sealed secret, if any.
 */
export function providerConfig(record: SessionRecord, options: ProviderConfigOptions): client.Configuration {
  const preset = presetOf(record);
  const metadataIssuer = String(record.providerMetadata.issuer ?? record.issuer);
  return buildConfiguration(record.providerMetadata, record.clientId, record.issuer, options, {
    preset,
    clientSecret: record.clientSecret,
    resourceServer: options.unlimitedBodies === true,
    // A refreshed ID token whose iss openid-client cannot check is dropped: identity was settled at login.
    takeIdToken: needsOwnIssuerCheck(preset.name, metadataIssuer) ? () => undefined : undefined,
  });
}
