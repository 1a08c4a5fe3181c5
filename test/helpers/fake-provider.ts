/**
 * A small hand-written OpenID provider on loopback for what the real one
 * never does: slow_down, 5xx, malformed bodies, hostile strings, ID tokens
 * signed with the wrong key. Each endpoint answers from a script.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';

export type Reply =
  | { status: number; json?: unknown; body?: string; headers?: Record<string, string> }
  /** A token response with a freshly signed ID token. */
  | { tokens: TokenOptions }
  /** Close the connection without answering. */
  | 'hangup'
  /** Send the headers and half a body, then drop the connection. */
  | 'reset'
  /** Never answer. */
  | 'hang'
  /** A 200 JSON response of this many bytes. */
  | { bigBody: number };

export type Endpoint = 'discovery' | 'device' | 'token' | 'userinfo' | 'revocation' | 'jwks';

export interface TokenOptions {
  /** Sign the ID token with a key the JWKS does not hold. */
  wrongKey?: boolean;
  claims?: Record<string, unknown>;
  scope?: string;
  alg?: 'none';
  tokenType?: string;
  /** expires_in (default 300). */
  expiresIn?: number;
}

export interface FakeProviderScript {
  clientId?: string;
  /** The device authorization response body (merged over a valid default). */
  device?: Record<string, unknown>;
  /** Replies to successive token requests; the last one repeats. */
  token: Reply[];
  /** Replaces every answer of an endpoint (tests change this after signing in). */
  faults?: Partial<Record<Endpoint, Reply>>;
  /** Endpoints the discovery document points to a port nothing listens on. */
  refused?: Endpoint[];
  /** Fields merged over the discovery document (e.g. dpop_signing_alg_values_supported, an http:// endpoint). */
  discovery?: Record<string, unknown>;
  /** Runs when a token request arrives, before it is answered (a test fills a disk here). */
  onToken?: (body: URLSearchParams) => void | Promise<void>;
}

export interface FakeProvider {
  issuer: string;
  /** The live script: change faults between commands. */
  script: FakeProviderScript;
  clientId: string;
  /** Time (ms, performance.now) and body of each token request. */
  tokenRequests: { at: number; body: URLSearchParams }[];
  /** Tokens handed out, for leak checks. */
  issued: string[];
  close(): Promise<void>;
}

export async function startFakeProvider(script: FakeProviderScript, closedPort = 9): Promise<FakeProvider> {
  const clientId = script.clientId ?? 'fake-client';
  const good = await generateKeyPair('ES256');
  const wrong = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(good.publicKey)), kid: 'good', alg: 'ES256', use: 'sig' };
  const tokenRequests: FakeProvider['tokenRequests'] = [];
  const issued: string[] = [];
  let issuer = '';

  const server = createServer((req, res) => {
    void handle(req, res).catch(() => res.destroy());
  });

  const endpointOf: Record<string, Endpoint> = {
    '/.well-known/openid-configuration': 'discovery', '/device_authorization': 'device', '/token': 'token',
    '/userinfo': 'userinfo', '/revoke': 'revocation', '/jwks': 'jwks',
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const path = (req.url ?? '/').split('?')[0]!;
    const endpoint = endpointOf[path];
    if (path === '/token') tokenRequests.push({ at: performance.now(), body: new URLSearchParams(body) });
    const fault = endpoint ? script.faults?.[endpoint] : undefined;
    if (fault) return answer(res, fault);
    if (path === '/.well-known/openid-configuration') {
      const at = (name: Endpoint, route: string) => (script.refused?.includes(name) ? `http://127.0.0.1:${closedPort}${route}` : `${issuer}${route}`);
      return send(res, { status: 200, json: {
        issuer,
        token_endpoint: at('token', '/token'),
        device_authorization_endpoint: at('device', '/device_authorization'),
        jwks_uri: at('jwks', '/jwks'),
        userinfo_endpoint: at('userinfo', '/userinfo'),
        revocation_endpoint: at('revocation', '/revoke'),
        id_token_signing_alg_values_supported: ['ES256'],
        grant_types_supported: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
        ...script.discovery,
      } });
    }
    if (path === '/jwks') return send(res, { status: 200, json: { keys: [jwk] } });
    if (path === '/userinfo') return send(res, { status: 200, json: { sub: 'fake-user', name: 'Fake User', email: 'fake@example.test' } });
    if (path === '/revoke') return send(res, { status: 200, body: '' });
    if (path === '/device_authorization') {
      return send(res, { status: 200, json: {
        device_code: 'fake-device-code-0123456789',
        user_code: 'WDJB-MJHT',
        verification_uri: `${issuer}/device`,
        verification_uri_complete: `${issuer}/device?user_code=WDJB-MJHT`,
        expires_in: 600,
        interval: 1,
        ...script.device,
      } });
    }
    if (path === '/token') {
      await script.onToken?.(new URLSearchParams(body));
      return answer(res, script.token[Math.min(tokenRequests.length - 1, script.token.length - 1)]!);
    }
    return send(res, { status: 404, json: { error: 'not_found' } });
  }

  async function answer(res: ServerResponse, reply: Reply): Promise<void> {
    if (reply === 'hangup') return void res.destroy();
    if (reply === 'hang') return; // the client's timeout has to deal with it
    if (reply === 'reset') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"access_token": "half');
      setTimeout(() => res.destroy(), 20);
      return;
    }
    if ('bigBody' in reply) return send(res, { status: 200, body: `{"padding":"${'x'.repeat(reply.bigBody)}"}`, headers: { 'content-type': 'application/json' } });
    if ('tokens' in reply) return send(res, { status: 200, json: await tokenResponse(reply.tokens) });
    return send(res, reply);
  }

  async function tokenResponse(options: TokenOptions): Promise<Record<string, unknown>> {
    const accessToken = `fake-access-${Math.random().toString(36).slice(2)}${Date.now()}`;
    const refreshToken = `fake-refresh-${Math.random().toString(36).slice(2)}${Date.now()}`;
    const idToken = options.alg === 'none'
      ? unsignedJwt({ iss: issuer, aud: clientId, sub: 'fake-user', ...timestamps(), ...options.claims })
      : await signIdToken(options.wrongKey ? wrong.privateKey : good.privateKey, options.claims);
    issued.push(accessToken, refreshToken, idToken);
    return {
      access_token: accessToken,
      token_type: options.tokenType ?? 'Bearer',
      expires_in: options.expiresIn ?? 300,
      refresh_token: refreshToken,
      id_token: idToken,
      ...(options.scope ? { scope: options.scope } : {}),
    };
  }

  function signIdToken(key: CryptoKey, claims: Record<string, unknown> = {}): Promise<string> {
    return new SignJWT({ name: 'Fake User', email: 'fake@example.test', ...timestamps(), iss: issuer, aud: clientId, sub: 'fake-user', ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'good' })
      .sign(key);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    script,
    clientId,
    tokenRequests,
    issued,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function timestamps(): { iat: number; exp: number } {
  const now = Math.floor(Date.now() / 1000);
  return { iat: now, exp: now + 300 };
}

function unsignedJwt(claims: Record<string, unknown>): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode({ alg: 'none' })}.${encode(claims)}.`;
}

function send(res: ServerResponse, reply: { status: number; json?: unknown; body?: string; headers?: Record<string, string> }): void {
  const headers: Record<string, string> = { 'cache-control': 'no-store', ...reply.headers };
  let payload = reply.body ?? '';
  if (reply.json !== undefined) {
    payload = JSON.stringify(reply.json);
    headers['content-type'] ??= 'application/json';
  }
  res.writeHead(reply.status, headers).end(payload);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (data += chunk)).on('end', () => resolve(data)).on('error', reject);
  });
}
