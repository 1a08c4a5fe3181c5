/**
 * Provider presets (DESIGN.md "Providers"; the wire facts and their sources
 * are in ../shared/PROVIDERS.md). A preset says only what a provider does
 * differently from the standards: everything else is generic and tolerant.
 */

export const PROVIDER_NAMES = ['github', 'google', 'entra', 'okta', 'auth0', 'keycloak', 'gitlab', 'dex', 'generic'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/**
 * Where the client's secret goes, for a client that has one:
 * - `token`: only on token-endpoint requests (polls, refresh): Google [GO1];
 * - `all`: every request, the device request included: Keycloak and Dex
 *   confidential clients [KC1][DX1], and RFC 8628 §3.1 for the others;
 * - `revoke`: never on the device flow, only to revoke (GitHub [GH1][GH6]);
 * - `never`: the provider refuses it (Auth0 answers 403 unauthorized_client [A05]).
 */
export type SecretUse = 'token' | 'all' | 'revoke' | 'never';

/** How identity is verified: an OpenID Connect ID token, or the provider's user API over TLS. */
export type IdentitySource = 'id_token' | 'user_api';

export interface Preset {
  name: ProviderName;
  /** The default issuer, when the provider has one address for everyone. */
  defaultIssuer?: string;
  /** False: no discovery document at all (GitHub): the fixed endpoints below are the provider. */
  discovery: boolean;
  /** Endpoints relative to the issuer, used where discovery has none (GitLab's device endpoint). */
  fixedEndpoints?: Partial<Record<'device_authorization_endpoint' | 'token_endpoint', string>>;
  identity: IdentitySource;
  /** The default scope when none is configured. */
  defaultScope: string;
  /** Scopes the provider allows in the device flow, when it keeps a short list (Google [GO1]). */
  allowedScopes?: readonly string[];
  /** Granted scopes come back comma-separated (GitHub OAuth Apps [GH1]). */
  commaScopes?: boolean;
  secret: SecretUse;
  /** The provider's device clients always have a secret (Google installed apps). */
  secretRequired?: boolean;
  /** RFC 7009 body, Google's `?token=` query [GO1], or GitHub's DELETE with the app's secret [GH6]. */
  revocation: 'rfc7009' | 'query' | 'github';
  /** How to end the session at the provider when this client cannot: shown by revoke and logout. */
  revokeElsewhere?: string;
  /** Sites besides the issuer's where the provider's verification page lives (Entra: microsoft.com/devicelogin [MS1]). */
  verificationHosts?: readonly string[];
  /** Hosts whose APIs may receive the token besides the issuer's site (DESIGN.md `apiHosts`). */
  apiHosts?: readonly string[];
}

const GOOGLE_DEVICE_SCOPES = [
  'openid', 'email', 'profile',
  'https://www.googleapis.com/auth/drive.appdata', 'https://www.googleapis.com/auth/drive.file',
  'https://www.googleapis.com/auth/youtube', 'https://www.googleapis.com/auth/youtube.readonly',
] as const;

const OIDC_SCOPE = 'openid profile email offline_access';

export const PRESETS: Record<ProviderName, Preset> = {
  github: {
    name: 'github', defaultIssuer: 'https://github.com', discovery: false,
    fixedEndpoints: { device_authorization_endpoint: '/login/device/code', token_endpoint: '/login/oauth/access_token' },
    identity: 'user_api', defaultScope: 'read:user', commaScopes: true, secret: 'revoke', revocation: 'github',
    revokeElsewhere: 'revoke it at GitHub under Settings > Applications (https://github.com/settings/applications), or sign in with DEVLOGIN_CLIENT_SECRET set to the app\'s secret so that devlogin can',
    apiHosts: ['api.github.com'],
  },
  google: {
    name: 'google', defaultIssuer: 'https://accounts.google.com', discovery: true, identity: 'id_token',
    // Google refuses offline_access and gives devices a refresh token without it [GO1].
    defaultScope: 'openid email profile', allowedScopes: GOOGLE_DEVICE_SCOPES,
    secret: 'token', secretRequired: true, revocation: 'query', apiHosts: ['googleapis.com'],
  },
  entra: {
    name: 'entra', defaultIssuer: 'https://login.microsoftonline.com/organizations/v2.0', discovery: true, identity: 'id_token',
    defaultScope: OIDC_SCOPE, secret: 'token', revocation: 'rfc7009',
    revokeElsewhere: 'Entra ID has no revocation endpoint: sign out of the app at https://myapps.microsoft.com, or ask an administrator to revoke your sessions (Microsoft Graph revokeSignInSessions)',
    verificationHosts: ['microsoft.com'], apiHosts: ['graph.microsoft.com'],
  },
  okta: { name: 'okta', discovery: true, identity: 'id_token', defaultScope: OIDC_SCOPE, secret: 'all', revocation: 'rfc7009' },
  auth0: { name: 'auth0', discovery: true, identity: 'id_token', defaultScope: OIDC_SCOPE, secret: 'never', revocation: 'rfc7009' },
  keycloak: { name: 'keycloak', discovery: true, identity: 'id_token', defaultScope: 'openid profile email', secret: 'all', revocation: 'rfc7009' },
  gitlab: {
    name: 'gitlab', defaultIssuer: 'https://gitlab.com', discovery: true,
    // gitlab.com's discovery lists the device grant but not its endpoint [GL1].
    fixedEndpoints: { device_authorization_endpoint: '/oauth/authorize_device' },
    // GitLab knows no offline_access scope and issues refresh tokens without it.
    identity: 'id_token', defaultScope: 'openid profile email', secret: 'all', revocation: 'rfc7009',
  },
  dex: {
    name: 'dex', discovery: true, identity: 'id_token', defaultScope: OIDC_SCOPE, secret: 'all', revocation: 'rfc7009',
    revokeElsewhere: 'Dex has no revocation endpoint (only its gRPC API): ask the Dex operator to revoke your refresh token',
  },
  generic: { name: 'generic', discovery: true, identity: 'id_token', defaultScope: OIDC_SCOPE, secret: 'all', revocation: 'rfc7009' },
};

export function isProviderName(name: string): name is ProviderName {
  return (PROVIDER_NAMES as readonly string[]).includes(name);
}

/**
 * The preset of a well-known issuer host (DESIGN.md "Providers"), else
 * `generic`. Self-hosted Keycloak, Dex, GHES or GitLab cannot be told from
 * their host: those need --provider.
 */
export function recognizeProvider(issuer: string): ProviderName {
  let host: string;
  try {
    host = new URL(issuer).hostname.toLowerCase();
  } catch {
    return 'generic';
  }
  if (host === 'github.com' || host === 'api.github.com') return 'github';
  if (host === 'accounts.google.com') return 'google';
  if (host === 'login.microsoftonline.com') return 'entra';
  if (host === 'gitlab.com') return 'gitlab';
  // Suffix checks, not the Public Suffix List: whoami and token load this file and must stay small.
  if (host.endsWith('.okta.com') || host.endsWith('.oktapreview.com')) return 'okta';
  if (host.endsWith('.auth0.com')) return 'auth0';
  return 'generic';
}

/** GitHub's REST API: api.github.com for github.com, /api/v3 on a GitHub Enterprise Server host [GH1]. */
export function githubApiBase(issuer: string): string {
  const url = new URL(issuer);
  return url.hostname.toLowerCase() === 'github.com' ? 'https://api.github.com' : `${url.origin}/api/v3`;
}
