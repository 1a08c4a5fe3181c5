import * as client from 'openid-client';
import type { Preset } from './presets.js';

/**
 * How this client authenticates, by preset (PROVIDERS.md §4.7): the secret
 * in the body (client_secret_post, never in both body and header), on the
 * requests that provider expects it on, or not at all.
 */
export function clientAuthFor(preset: Preset, secret: string | undefined): client.ClientAuth {
  if (!secret || preset.secret === 'never' || preset.secret === 'revoke') return client.None();
  if (preset.secret === 'all') return client.ClientSecretPost(secret);
  // 'token': Google wants the secret on polls and refreshes only [GO1];
  // the device request and the revocation go without it.
  const none = client.None();
  const post = client.ClientSecretPost(secret);
  return (as, metadata, body, headers) => (body.has('grant_type') ? post : none)(as, metadata, body, headers);
}
