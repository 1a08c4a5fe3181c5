/**
 * Emulations of the providers people use, written from ../shared/PROVIDERS.md
 * (section keys such as [GH1] cite it), on loopback: one table entry per
 * provider with its quirks, one small server that plays any entry. Time is
 * the harness's virtual clock, so the emulation can tell whether a poll came
 * early by the provider's clock, and answers slow_down as the real one would.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, EmbeddedJWK, exportJWK, generateKeyPair, jwtVerify, SignJWT, type CryptoKey, type JWK } from 'jose';

type Outcome = 'pending' | 'slow_down' | 'denied' | 'expired' | 'bad_code';

export interface Quirks {
  /** `--provider` for this emulation. */
  provider: string;
  /** Path of the issuer under the server's origin (Keycloak's realm, Entra's authority, Okta's AS). */
  issuerPath: string;
  /** The issuer the metadata names, from the issuer passed to --issuer (Auth0's slash, Entra's template). */
  metadataIssuer?: (issuer: string) => string;
  /** The `iss` of its ID tokens (Entra: the tenant's; Google: sometimes without the scheme). */
  tokenIssuer?: (issuer: string) => string;
  /** oidc: /.well-known/openid-configuration; rfc8414: only oauth-authorization-server; none: GitHub. */
  discovery: 'oidc' | 'rfc8414' | 'none';
  paths: { device: string; token: string; revoke?: string; userinfo?: string; user?: string; api?: string };
  /** GitLab's discovery lists no device endpoint [GL1]. */
  deviceInDiscovery?: boolean;
  /** Body encoding: GitHub answers form bodies unless asked for JSON [GH1]; old Dex sends JSON as text/plain [DX1]. */
  format?: 'json' | 'form-unless-accept' | 'form' | 'text-plain';
  /** Google's and Entra v1's field name [GO1]. */
  verificationField?: 'verification_uri' | 'verification_url';
  complete?: boolean;
  numbersAsStrings?: boolean;
  /** HTTP status of each poll outcome, and the error it sends. */
  status: Record<Outcome, number>;
  errors?: Partial<Record<Outcome, string>>;
  /** Dex has no denial path: a denied code stays pending until it expires [DX1]. */
  noDenial?: boolean;
  /**
   * How late the provider may have registered the previous poll (request
   * latency, its own clock): a poll less than interval + this after the
   * previous one is early by the provider's clock. GitHub slow_downs a poll
   * a few milliseconds early [GH10]; Keycloak any poll inside the interval [KC1].
   */
  latencyMs?: number;
  /** GitHub sends the interval it wants with slow_down [GH1]. */
  slowDownInterval?: boolean;
  /** Auth0: expired_token once, then invalid_grant [A02]. */
  expiredOnce?: boolean;
  interval: number;
  expiresIn: number;
  /** The client must send its secret: on polls (Google [GO1]) or on the device request too (confidential Keycloak/Dex [KC1][DX1]). */
  secret?: { value: string; on: 'token' | 'device' };
  /** Auth0 refuses a client that sends a secret [A05]. */
  refusesSecret?: boolean;
  idToken: boolean;
  /** Claims every ID token carries besides iss/sub/aud (Entra's tid). */
  extraClaims?: Record<string, unknown>;
  accessTtl: number | null;
  /** rotate: a new RT each refresh, the old one dead (Okta, GitLab, GitHub Apps, Dex); keep: no new RT (Google); none: no RT (GitHub OAuth App). */
  refresh: 'rotate' | 'keep' | 'none';
  /** RT lives on after rotation (Entra: the old one is not revoked [MS4]). */
  oldRefreshStaysValid?: boolean;
  revocation: 'rfc7009' | 'query' | 'github' | 'none';
  /** GitHub OAuth Apps: comma-separated scope [GH1]. */
  scopeFormat?: 'comma' | 'empty';
  tokenType?: string;
  /** Okta with "Require DPoP": every token and API request needs a proof with the server's nonce [OK2]. */
  dpopNonce?: boolean;
}

const OAUTH_ERRORS: Record<Outcome, string> = {
  pending: 'authorization_pending', slow_down: 'slow_down', denied: 'access_denied', expired: 'expired_token', bad_code: 'invalid_grant',
};
const standard = (status: number): Record<Outcome, number> => ({ pending: status, slow_down: status, denied: status, expired: status, bad_code: status });
const ENTRA_TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';

/** The providers of DESIGN.md "Providers", as PROVIDERS.md describes them. */
const TABLE = {
  // GitHub OAuth App: no discovery, no ID token, form bodies, 200 pending, tokens that never expire [GH1][GH2].
  github: {
    provider: 'github', issuerPath: '', discovery: 'none', format: 'form-unless-accept',
    paths: { device: '/login/device/code', token: '/login/oauth/access_token', user: '/api/v3/user', revoke: '/api/v3/applications' },
    status: standard(200), slowDownInterval: true, latencyMs: 200, interval: 5, expiresIn: 899, idToken: false,
    accessTtl: null, refresh: 'none', revocation: 'github', scopeFormat: 'comma', tokenType: 'bearer',
  },
  // GitHub App: 8 h user tokens and rotating refresh tokens, scope "" [GH3][GH4].
  'github-app': {
    provider: 'github', issuerPath: '', discovery: 'none', format: 'form-unless-accept',
    paths: { device: '/login/device/code', token: '/login/oauth/access_token', user: '/api/v3/user', revoke: '/api/v3/applications' },
    status: standard(200), slowDownInterval: true, latencyMs: 200, interval: 5, expiresIn: 900, idToken: false,
    accessTtl: 28800, refresh: 'rotate', revocation: 'github', scopeFormat: 'empty', tokenType: 'bearer',
  },
  // Google: verification_url, the secret on polls, 428 pending, 403 slow_down and denial, ?token= revocation, no new RT on refresh [GO1][GO3].
  google: {
    provider: 'google', issuerPath: '', discovery: 'oidc', verificationField: 'verification_url', complete: false,
    paths: { device: '/device/code', token: '/token', revoke: '/revoke', userinfo: '/v1/userinfo' },
    status: { pending: 428, slow_down: 403, denied: 403, expired: 400, bad_code: 400 },
    interval: 5, expiresIn: 1800, secret: { value: 'GOCSPX-emulated-secret', on: 'token' },
    idToken: true, tokenIssuer: (issuer) => issuer.replace(/^https?:\/\//, ''), accessTtl: 3599, refresh: 'keep', revocation: 'query',
  },
  // Entra, common authority: {tenantid} in the discovery issuer, authorization_declined, no revocation, RTs rotate but stay valid [MS1][MS3][MS4].
  entra: {
    provider: 'entra', issuerPath: '/common/v2.0', discovery: 'oidc',
    metadataIssuer: (issuer) => issuer.replace('/common/', '/{tenantid}/'), tokenIssuer: (issuer) => issuer.replace('/common/', `/${ENTRA_TENANT}/`),
    paths: { device: '/oauth2/v2.0/devicecode', token: '/oauth2/v2.0/token', userinfo: '/oidc/userinfo' },
    complete: false, status: standard(400), errors: { denied: 'authorization_declined', bad_code: 'bad_verification_code' },
    interval: 5, expiresIn: 900, idToken: true, extraClaims: { tid: ENTRA_TENANT }, accessTtl: 3599,
    refresh: 'rotate', oldRefreshStaysValid: true, revocation: 'none',
  },
  // Okta custom authorization server: slow_down as 400, RTs rotate [OK1][OK3][OK4].
  okta: {
    provider: 'okta', issuerPath: '/oauth2/default', discovery: 'oidc',
    paths: { device: '/v1/device/authorize', token: '/v1/token', revoke: '/v1/revoke', userinfo: '/v1/userinfo' },
    complete: true, status: standard(400), interval: 5, expiresIn: 600, idToken: true, accessTtl: 3600, refresh: 'rotate', revocation: 'rfc7009',
  },
  // The same with the app's "Require DPoP": the nonce round trip on every token and API request [OK2].
  'okta-dpop': {
    provider: 'okta', issuerPath: '/oauth2/default', discovery: 'oidc',
    paths: { device: '/v1/device/authorize', token: '/v1/token', revoke: '/v1/revoke', userinfo: '/v1/userinfo', api: '/api/me' },
    complete: true, status: standard(400), interval: 5, expiresIn: 600, idToken: true, accessTtl: 3600,
    refresh: 'rotate', revocation: 'rfc7009', dpopNonce: true,
  },
  // Auth0: the issuer ends with "/", 403 pending, 429 slow_down, expired_token once then invalid_grant, no secret [A01][A02][A04][A05].
  auth0: {
    provider: 'auth0', issuerPath: '', discovery: 'oidc', metadataIssuer: (issuer) => `${issuer}/`, tokenIssuer: (issuer) => `${issuer}/`,
    paths: { device: '/oauth/device/code', token: '/oauth/token', revoke: '/oauth/revoke', userinfo: '/userinfo' },
    complete: true, status: { pending: 403, slow_down: 429, denied: 403, expired: 403, bad_code: 403 }, expiredOnce: true, refusesSecret: true,
    interval: 5, expiresIn: 900, idToken: true, accessTtl: 86400, refresh: 'rotate', revocation: 'rfc7009',
  },
  // Keycloak: every error 400; slow_down for any poll inside the interval, RTs rotate [KC1][KC6].
  keycloak: {
    provider: 'keycloak', issuerPath: '/realms/demo', discovery: 'oidc',
    paths: { device: '/protocol/openid-connect/auth/device', token: '/protocol/openid-connect/token', revoke: '/protocol/openid-connect/revoke', userinfo: '/protocol/openid-connect/userinfo' },
    complete: true, status: standard(400), latencyMs: 200, interval: 5, expiresIn: 600, idToken: true, accessTtl: 300, refresh: 'rotate', revocation: 'rfc7009',
  },
  // GitLab: its discovery omits the device endpoint; refresh invalidates the old AT and RT; revoke answers {} [GL1].
  gitlab: {
    provider: 'gitlab', issuerPath: '', discovery: 'oidc', deviceInDiscovery: false,
    paths: { device: '/oauth/authorize_device', token: '/oauth/token', revoke: '/oauth/revoke', userinfo: '/oauth/userinfo' },
    complete: true, status: standard(400), interval: 5, expiresIn: 300, idToken: true, accessTtl: 7200,
    refresh: 'rotate', revocation: 'rfc7009', tokenType: 'bearer',
  },
  // Dex (older): JSON as text/plain, 401 pending, no denial path, no revocation endpoint, RTs rotate [DX1][DX3].
  dex: {
    provider: 'dex', issuerPath: '/dex', discovery: 'oidc', format: 'text-plain',
    paths: { device: '/device/code', token: '/token', userinfo: '/userinfo' },
    complete: true, status: { pending: 401, slow_down: 400, denied: 400, expired: 400, bad_code: 400 }, errors: { bad_code: 'invalid_request' },
    noDenial: true, interval: 5, expiresIn: 300, idToken: true, accessTtl: 86400, refresh: 'rotate', revocation: 'none', tokenType: 'bearer',
  },
  // A plain OAuth server: RFC 8414 metadata only, numbers as strings, the _url aliases, an upper-case token type (PROVIDERS.md §4).
  generic: {
    provider: 'generic', issuerPath: '/as', discovery: 'rfc8414', verificationField: 'verification_url', complete: true, numbersAsStrings: true,
    paths: { device: '/device', token: '/token', revoke: '/revoke', userinfo: '/userinfo' },
    status: standard(400), interval: 2, expiresIn: 600, idToken: true, accessTtl: 600, refresh: 'rotate', revocation: 'rfc7009', tokenType: 'BEARER',
  },
} satisfies Record<string, Quirks>;

export type EmulationName = keyof typeof TABLE;
export const EMULATIONS: Record<EmulationName, Quirks> = TABLE;

export interface Grant {
  deviceCode: string;
  userCode: string;
  issuedAt: number;
  expiresAt: number;
  interval: number;
  lastPoll: number | undefined;
  state: 'pending' | 'approved' | 'denied' | 'redeemed';
  expiredSent: boolean;
  scope: string;
}

export interface Emulation {
  name: EmulationName;
  quirks: Quirks;
  /** What to pass as --issuer. */
  issuer: string;
  clientId: string;
  /** Every request: method, path, virtual time, and what it carried. */
  requests: { method: string; path: string; at: number; body: URLSearchParams; headers: IncomingMessage['headers'] }[];
  /** Virtual times of the token polls, and how many slow_downs were provoked. */
  polls: number[];
  slowDowns: number;
  grants: Grant[];
  /** The refresh tokens of the refresh requests it answered (past any DPoP nonce round trip). */
  refreshed: string[];
  /** Access and refresh tokens it handed out, and those no longer valid. */
  issued: { access: string[]; refresh: string[] };
  dead: Set<string>;
  /** The user at the device page. */
  approve(): void;
  deny(): void;
  close(): Promise<void>;
}

export const USER = { sub: 'u-1234', name: 'Mona Lisa', email: 'mona@example.test', login: 'octocat', id: 583231 };

/** Starts the emulation of `name` on loopback, on the harness's clock. */
export async function startEmulation(name: EmulationName, clock: { now(): number }, overrides: Partial<Quirks> = {}): Promise<Emulation> {
  const quirks: Quirks = { ...EMULATIONS[name], ...overrides };
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const clientId = `${name}-client`;
  let origin = '';
  let issuer = '';
  const nonce = randomBytes(8).toString('hex');
  const refreshScope = new Map<string, string>();
  const accessExpiry = new Map<string, number>();
  const emulation: Emulation = {
    name, quirks, issuer: '', clientId, requests: [], polls: [], slowDowns: 0, grants: [], refreshed: [], issued: { access: [], refresh: [] }, dead: new Set(),
    approve: () => void (emulation.grants.at(-1)!.state = 'approved'),
    deny: () => void (emulation.grants.at(-1)!.state = 'denied'),
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };

  const server = createServer((req, res) => {
    let data = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (data += chunk)).on('end', () => {
      void handle(req, res, data).catch((err: unknown) => {
        res.writeHead(500).end(String(err));
      });
    });
  });

  const send = (req: IncomingMessage, res: ServerResponse, status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void => {
    const format = quirks.format ?? 'json';
    const wantsJson = /application\/json/.test(req.headers.accept ?? '');
    if (format === 'form' || (format === 'form-unless-accept' && !wantsJson)) {
      const form = new URLSearchParams(Object.entries(body).map(([key, value]): [string, string] => [key, String(value)]));
      res.writeHead(status, { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', ...headers }).end(form.toString());
      return;
    }
    // Dex's json.Encoder with a 3-space indent and a trailing newline, and no content type (Go sniffs text/plain) [DX1].
    if (format === 'text-plain') {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers }).end(`${JSON.stringify(body, null, 3)}\n`);
      return;
    }
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
  };
  const number = (value: number): number | string => (quirks.numbersAsStrings ? String(value) : value);
  const pathOf = (path: string | undefined): string | undefined => (path === undefined ? undefined : `${quirks.issuerPath}${path}`);

  async function handle(req: IncomingMessage, res: ServerResponse, raw: string): Promise<void> {
    const url = new URL(req.url ?? '/', origin);
    const body = new URLSearchParams(raw);
    const now = clock.now();
    emulation.requests.push({ method: req.method ?? '', path: url.pathname, at: now, body, headers: req.headers });
    const path = url.pathname;
    const ip = quirks.issuerPath;

    if (quirks.discovery === 'oidc' && path === `${ip}/.well-known/openid-configuration`) return send(req, res, 200, metadata());
    if (quirks.discovery === 'rfc8414' && path === `/.well-known/oauth-authorization-server${ip}`) return send(req, res, 200, metadata());
    if (path === `${ip}/jwks`) return send(req, res, 200, { keys: [jwk] });
    if (path === pathOf(quirks.paths.device) && req.method === 'POST') return device(req, res, body, now);
    if (path === pathOf(quirks.paths.token) && req.method === 'POST') return token(req, res, body, now);
    if (path === pathOf(quirks.paths.userinfo) || path === pathOf(quirks.paths.user)) return whoIs(req, res, now, path === pathOf(quirks.paths.user));
    if (path === pathOf(quirks.paths.api)) return api(req, res, now);
    if (quirks.revocation === 'github' && req.method === 'DELETE' && path === `${pathOf(quirks.paths.revoke)}/${clientId}/token`) {
      // Basic client_id:secret; a secretless client cannot revoke [GH6].
      if (req.headers.authorization !== `Basic ${Buffer.from(`${clientId}:gh-app-secret`).toString('base64')}`) return send(req, res, 404, { message: 'Not Found' });
      const token = (JSON.parse(raw) as { access_token?: string }).access_token;
      if (token) emulation.dead.add(token);
      res.writeHead(204).end();
      return;
    }
    if (path === pathOf(quirks.paths.revoke) && req.method === 'POST') {
      const token = quirks.revocation === 'query' ? url.searchParams.get('token') : body.get('token');
      if (!token) return send(req, res, 400, { error: 'invalid_request' });
      revokeFamily(token);
      // GitLab answers {} [GL1]; the others an empty 200.
      return quirks.provider === 'gitlab' ? send(req, res, 200, {}) : void res.writeHead(200).end();
    }
    send(req, res, 404, { error: 'not_found' });
  }

  function metadata(): Record<string, unknown> {
    const at = (path: string | undefined) => (path === undefined ? undefined : `${issuer}${path}`);
    return {
      issuer: quirks.metadataIssuer ? quirks.metadataIssuer(issuer) : issuer,
      token_endpoint: at(quirks.paths.token),
      ...(quirks.deviceInDiscovery === false ? {} : { device_authorization_endpoint: at(quirks.paths.device) }),
      jwks_uri: at('/jwks'),
      ...(quirks.paths.userinfo ? { userinfo_endpoint: at(quirks.paths.userinfo) } : {}),
      ...(quirks.revocation === 'rfc7009' || quirks.revocation === 'query' ? { revocation_endpoint: at(quirks.paths.revoke) } : {}),
      grant_types_supported: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
      id_token_signing_alg_values_supported: ['ES256'],
      ...(quirks.dpopNonce ? { dpop_signing_alg_values_supported: ['ES256'] } : {}),
    };
  }

  function checkSecret(body: URLSearchParams, where: 'device' | 'token'): string | undefined {
    if (quirks.refusesSecret && body.has('client_secret')) return 'unauthorized_client';
    if (body.get('client_id') !== clientId) return 'invalid_client';
    const secret = quirks.secret;
    if (!secret) return body.has('client_secret') ? 'invalid_client' : undefined;
    const needed = where === 'token' || secret.on === 'device';
    if (needed && body.get('client_secret') !== secret.value) return 'invalid_client';
    if (!needed && body.has('client_secret')) return 'invalid_request';
    return undefined;
  }

  function device(req: IncomingMessage, res: ServerResponse, body: URLSearchParams, now: number): void {
    const refused = checkSecret(body, 'device');
    if (refused) return send(req, res, refused === 'unauthorized_client' ? 403 : 401, { error: refused });
    const grant: Grant = {
      deviceCode: randomBytes(20).toString('hex'), userCode: `${randomBytes(2).toString('hex').toUpperCase()}-${randomBytes(2).toString('hex').toUpperCase()}`,
      issuedAt: now, expiresAt: now + quirks.expiresIn * 1000, interval: quirks.interval, lastPoll: undefined, state: 'pending', expiredSent: false,
      scope: body.get('scope') ?? '',
    };
    emulation.grants.push(grant);
    const page = `${origin}${quirks.issuerPath}/device`;
    send(req, res, 200, {
      device_code: grant.deviceCode, user_code: grant.userCode, [quirks.verificationField ?? 'verification_uri']: page,
      ...(quirks.complete ? { [quirks.verificationField === 'verification_url' ? 'verification_url_complete' : 'verification_uri_complete']: `${page}?user_code=${grant.userCode}` } : {}),
      expires_in: number(quirks.expiresIn), interval: number(quirks.interval),
    });
  }

  function pollError(req: IncomingMessage, res: ServerResponse, outcome: Outcome, extra: Record<string, unknown> = {}): void {
    send(req, res, quirks.status[outcome], { error: quirks.errors?.[outcome] ?? OAUTH_ERRORS[outcome], error_description: `emulated ${outcome}`, ...extra });
  }

  async function token(req: IncomingMessage, res: ServerResponse, body: URLSearchParams, now: number): Promise<void> {
    const refused = checkSecret(body, 'token');
    if (refused) return send(req, res, 401, { error: refused });
    let jkt: string | undefined;
    if (quirks.dpopNonce) {
      const proof = await checkProof(req, 'POST', `${origin}${req.url!.split('?')[0]}`);
      if (proof === 'missing' || proof === 'invalid') return send(req, res, 400, { error: 'invalid_dpop_proof' });
      if (proof === 'nonce') return send(req, res, 400, { error: 'use_dpop_nonce', error_description: 'Authorization server requires nonce in DPoP proof.' }, { 'dpop-nonce': nonce });
      jkt = proof.jkt;
    }
    const grantType = body.get('grant_type');
    if (grantType === 'refresh_token') return refresh(req, res, body.get('refresh_token') ?? '', jkt);
    if (grantType !== 'urn:ietf:params:oauth:grant-type:device_code') return send(req, res, 400, { error: 'unsupported_grant_type' });
    const grant = emulation.grants.find((candidate) => candidate.deviceCode === body.get('device_code'));
    if (!grant) return pollError(req, res, 'bad_code');
    emulation.polls.push(now);
    // RFC 8628 §3.5 as the strict ones apply it: a poll inside the interval (counted
    // from the last poll, or from the device request) is slow_down [GH10][KC1][DX1].
    const since = grant.lastPoll ?? grant.issuedAt;
    grant.lastPoll = now;
    if (now - since < grant.interval * 1000 + (quirks.latencyMs ?? 0)) {
      emulation.slowDowns += 1;
      grant.interval += 5;
      return pollError(req, res, 'slow_down', quirks.slowDownInterval ? { interval: grant.interval } : {});
    }
    if (now >= grant.expiresAt) {
      if (quirks.expiredOnce && grant.expiredSent) return pollError(req, res, 'bad_code');
      grant.expiredSent = true;
      return pollError(req, res, 'expired');
    }
    if (grant.state === 'denied' && !quirks.noDenial) return pollError(req, res, 'denied');
    if (grant.state === 'pending' || grant.state === 'denied') return pollError(req, res, 'pending');
    if (grant.state === 'redeemed') return pollError(req, res, 'bad_code');
    grant.state = 'redeemed';
    return send(req, res, 200, await tokenResponse(grant.scope, jkt, true));
  }

  async function refresh(req: IncomingMessage, res: ServerResponse, refreshToken: string, jkt: string | undefined): Promise<void> {
    emulation.refreshed.push(refreshToken);
    const scope = refreshScope.get(refreshToken);
    if (scope === undefined || emulation.dead.has(refreshToken)) return send(req, res, 400, { error: 'invalid_grant', error_description: 'emulated: refresh token not valid' });
    const response = await tokenResponse(scope, jkt, quirks.refresh === 'rotate');
    if (quirks.refresh === 'rotate' && !quirks.oldRefreshStaysValid) emulation.dead.add(refreshToken);
    send(req, res, 200, response);
  }

  async function tokenResponse(scope: string, jkt: string | undefined, withRefresh: boolean): Promise<Record<string, unknown>> {
    const access = `${name}-at-${randomBytes(12).toString('hex')}`;
    emulation.issued.access.push(access);
    if (quirks.accessTtl !== null) accessExpiry.set(access, clock.now() + quirks.accessTtl * 1000);
    const response: Record<string, unknown> = {
      access_token: access,
      token_type: jkt ? 'DPoP' : quirks.tokenType ?? 'Bearer',
      ...(quirks.accessTtl !== null ? { expires_in: number(quirks.accessTtl) } : {}),
      scope: quirks.scopeFormat === 'comma' ? scope.split(' ').join(',') : quirks.scopeFormat === 'empty' ? '' : scope,
    };
    if (withRefresh && quirks.refresh !== 'none') {
      const refreshToken = `${name}-rt-${randomBytes(12).toString('hex')}`;
      emulation.issued.refresh.push(refreshToken);
      refreshScope.set(refreshToken, scope);
      response.refresh_token = refreshToken;
      if (quirks.provider === 'github') response.refresh_token_expires_in = 15811200;
    }
    if (quirks.idToken) response.id_token = await idToken();
    return response;
  }

  /** ID token times are real time: openid-client checks them against Date.now(). */
  function idToken(): Promise<string> {
    const iat = Math.floor(Date.now() / 1000);
    return new SignJWT({ name: USER.name, email: USER.email, preferred_username: USER.login, ...quirks.extraClaims })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(quirks.tokenIssuer ? quirks.tokenIssuer(issuer) : issuer).setSubject(USER.sub).setAudience(clientId)
      .setIssuedAt(iat).setExpirationTime(iat + 3600)
      .sign(privateKey as CryptoKey);
  }

  function bearerOf(req: IncomingMessage): string | undefined {
    return /^(?:bearer|dpop|token) (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
  }

  function alive(token: string | undefined, now: number): boolean {
    if (!token || !emulation.issued.access.includes(token) || emulation.dead.has(token)) return false;
    const expiry = accessExpiry.get(token);
    return expiry === undefined || expiry > now;
  }

  async function whoIs(req: IncomingMessage, res: ServerResponse, now: number, githubApi: boolean): Promise<void> {
    if (!alive(bearerOf(req), now)) return send(req, res, 401, githubApi ? { message: 'Bad credentials' } : { error: 'invalid_token' }, githubApi ? {} : { 'www-authenticate': 'Bearer error="invalid_token"' });
    // GitHub's REST API [GH1]: always JSON.
    if (githubApi) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ login: USER.login, id: USER.id, name: USER.name, email: null }));
      return;
    }
    send(req, res, 200, { sub: USER.sub, name: USER.name, email: USER.email });
  }

  async function api(req: IncomingMessage, res: ServerResponse, now: number): Promise<void> {
    const proof = await checkProof(req, req.method ?? 'GET', `${origin}${req.url!.split('?')[0]}`);
    if (proof === 'nonce') {
      res.writeHead(401, { 'www-authenticate': 'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"', 'dpop-nonce': nonce }).end();
      return;
    }
    if (typeof proof === 'string' || !/^DPoP /.test(req.headers.authorization ?? '') || !alive(bearerOf(req), now)) {
      res.writeHead(401, { 'www-authenticate': 'DPoP error="invalid_token"' }).end();
      return;
    }
    send(req, res, 200, { sub: USER.sub, jkt: proof.jkt });
  }

  /** RFC 9449 §4.3, enough of it: a signed proof for this method and URL, with the current nonce. */
  async function checkProof(req: IncomingMessage, method: string, url: string): Promise<'missing' | 'invalid' | 'nonce' | { jkt: string }> {
    const proof = req.headers.dpop;
    if (typeof proof !== 'string') return 'missing';
    try {
      const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt' });
      if (payload.htm !== method || payload.htu !== url) return 'invalid';
      if (payload.nonce !== nonce) return 'nonce';
      return { jkt: await calculateJwkThumbprint(protectedHeader.jwk as JWK) };
    } catch {
      return 'invalid';
    }
  }

  function revokeFamily(token: string): void {
    emulation.dead.add(token);
    // Revoking either token of a grant ends the grant (RFC 7009 §2.1; Google revokes the whole grant [GO1]).
    const index = emulation.issued.refresh.indexOf(token);
    if (index >= 0 || emulation.issued.access.includes(token)) {
      for (const each of [...emulation.issued.access, ...emulation.issued.refresh]) emulation.dead.add(each);
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  issuer = `${origin}${quirks.issuerPath}`;
  emulation.issuer = issuer;
  return emulation;
}
