import type { CustomFetch } from 'openid-client';
import { DevloginError, providerError } from '../../errors.js';
import { limitBodies } from '../http.js';
import { translateOidcError } from '../oidc/errors.js';
import type { IdentityClaims } from '../session/record.js';
import { printable } from '../text.js';
import { githubApiBase } from './presets.js';

/**
 * GitHub has no OpenID Connect and no ID token: who signed in is what its
 * REST API says about the new token, asked over TLS (DESIGN.md "What it is").
 */

export interface GithubUser {
  /** GitHub's numeric user id: the stable subject (a login can be renamed). */
  subject: string;
  claims: IdentityClaims;
}

export interface GithubRequestOptions {
  fetch: CustomFetch;
  timeoutSeconds: number;
}

const API_HEADERS = { accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28', 'user-agent': 'devlogin' };

/** GET /user with the token; 401 is `invalid_token` (the token is dead), anything else unusable is exit 7. */
export async function fetchGithubUser(issuer: string, accessToken: string, options: GithubRequestOptions): Promise<GithubUser> {
  const url = `${githubApiBase(issuer)}/user`;
  let response: Response;
  try {
    response = await limitBodies(options.fetch)(url, {
      method: 'GET', headers: { ...API_HEADERS, authorization: `Bearer ${accessToken}` }, body: undefined, redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutSeconds * 1000),
    });
  } catch (err) {
    throw unreachable(err, issuer);
  }
  if (response.status === 401) {
    await response.body?.cancel();
    throw providerError(`GitHub's API (${url}) does not accept the token (HTTP 401).`, { code: 'invalid_token' });
  }
  let body: unknown;
  try {
    body = response.status === 200 ? await response.json() : undefined;
  } catch {
    body = undefined;
  }
  const user = body as { id?: unknown; login?: unknown; name?: unknown; email?: unknown } | undefined;
  if (!user || (typeof user.id !== 'number' && typeof user.id !== 'string') || typeof user.login !== 'string' || user.login === '') {
    throw providerError(`GitHub's API (${url}) answered HTTP ${response.status} without a user.`, {
      code: 'malformed_response',
      hint: 'Nothing was stored. For GitHub Enterprise Server, --issuer must be https://HOST (the API is at https://HOST/api/v3).',
    });
  }
  const claims: IdentityClaims = { preferred_username: printable(user.login, 100) };
  if (typeof user.name === 'string' && user.name.trim()) claims.name = printable(user.name, 200);
  if (typeof user.email === 'string' && user.email.trim()) claims.email = printable(user.email, 200);
  return { subject: printable(String(user.id), 40), claims };
}

/**
 * DELETE /applications/{client_id}/token with the app's secret (Basic auth
 * client_id:secret) [GH6]: 204 is revoked; 404 means the token is already gone.
 */
export async function revokeGithubToken(issuer: string, clientId: string, clientSecret: string, accessToken: string, options: GithubRequestOptions): Promise<void> {
  const url = `${githubApiBase(issuer)}/applications/${encodeURIComponent(clientId)}/token`;
  let response: Response;
  try {
    response = await limitBodies(options.fetch)(url, {
      method: 'DELETE',
      headers: {
        ...API_HEADERS,
        'content-type': 'application/json',
        authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
      },
      body: JSON.stringify({ access_token: accessToken }),
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutSeconds * 1000),
    });
  } catch (err) {
    throw unreachable(err, issuer);
  }
  await response.body?.cancel();
  if (response.status === 204 || response.status === 404) return;
  throw providerError(`GitHub refused the revocation (HTTP ${response.status}).`, { code: `http_${response.status}` });
}

function unreachable(err: unknown, issuer: string): DevloginError {
  if (err instanceof DevloginError) return err;
  if (err instanceof Error && err.name === 'TimeoutError') {
    return providerError(`GitHub's API did not answer in time (${issuer}).`, { code: 'timeout', cause: err });
  }
  return translateOidcError(err, 'userinfo', issuer);
}
