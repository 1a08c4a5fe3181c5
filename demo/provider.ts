/**
 * A real OpenID provider (oidc-provider) on loopback, for the demo and the
 * tests: device flow, refresh tokens with rotation, revocation,
 * introspection, DPoP, and oidc-provider's development login page, which
 * accepts any user name and password.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type Provider from 'oidc-provider';
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';

export interface LocalProviderOptions {
  /** 0 picks a free port. */
  port?: number;
  clientId?: string;
  /** Token lifetimes in seconds; the access token's may depend on the grant type. */
  accessTokenTtl?: number | ((grantType: string) => number);
  deviceCodeTtl?: number;
  refreshTokenTtl?: number;
  idTokenTtl?: number;
  /** Rotate refresh tokens on every use (default true). */
  rotateRefreshToken?: boolean;
  /**
   * `interval` (seconds) to add to device authorization responses; oidc-provider
   * sends none, which means 5 s (RFC 8628 §3.2).
   */
  pollInterval?: number;
  /** Serve over HTTPS with this key and certificate (PEM); the issuer is then https://HOST:PORT (host default localhost). */
  tls?: { key: string; cert: string };
  /** Host name in the issuer URL (the server still listens on 127.0.0.1), e.g. to reach it only through a proxy. */
  host?: string;
  /** Offer DPoP (RFC 9449); default true. */
  dpop?: boolean;
  /** Extra clients, e.g. with other grant types. */
  extraClients?: Configuration['clients'];
}

export interface LocalProvider {
  issuer: string;
  clientId: string;
  provider: Provider;
  /** Counts requests by path, e.g. { '/token': 3 }. */
  requests: Map<string, number>;
  /** The headers of the latest request to each path. */
  lastHeaders: Map<string, import('node:http').IncomingHttpHeaders>;
  /** Every token response the provider sent, for tests that look for leaks. */
  issued: TokenSet[];
  /** Every device code it handed out (secrets between the client and the provider). */
  deviceCodes: string[];
  close(): Promise<void>;
}

export interface TokenSet {
  access_token?: string;
  refresh_token?: string;
  id_token?: string;
}

export const DEMO_CLIENT_ID = 'devlogin-demo';

export async function startLocalProvider(options: LocalProviderOptions = {}): Promise<LocalProvider> {
  const clientId = options.clientId ?? DEMO_CLIENT_ID;
  const server: Server = options.tls ? createHttpsServer(options.tls) : createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const issuer = options.tls ? `https://${options.host ?? 'localhost'}:${port}` : `http://${options.host ?? '127.0.0.1'}:${port}`;

  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: `demo-${randomBytes(4).toString('hex')}`, alg: 'RS256', use: 'sig' };

  const configuration: Configuration = {
    clients: [
      {
        client_id: clientId,
        client_name: 'devlogin',
        token_endpoint_auth_method: 'none',
        grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
        response_types: [],
        redirect_uris: [],
      },
      ...(options.extraClients ?? []),
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'api:read', 'api:write'],
    claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email', 'email_verified'] },
    // Put the profile claims in the ID token, as most providers do for the device flow.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: true },
      deviceFlow: { enabled: true, successSource, userCodeInputSource, userCodeConfirmSource },
      // Any client may revoke or introspect its own tokens here: a public CLI
      // client does both (saying so also keeps oidc-provider from printing a notice per call).
      revocation: { enabled: true, allowedPolicy: async () => true },
      introspection: { enabled: true, allowedPolicy: async () => true },
      userinfo: { enabled: true },
      dPoP: { enabled: options.dpop ?? true },
    },
    findAccount: (_ctx, id) => ({
      accountId: id,
      claims: () => ({
        sub: id,
        name: id.charAt(0).toUpperCase() + id.slice(1),
        preferred_username: id,
        email: `${id}@example.test`,
        email_verified: true,
      }),
    }),
    rotateRefreshToken: options.rotateRefreshToken ?? true,
    ttl: {
      AccessToken: (ctx) => {
        const ttl = options.accessTokenTtl ?? 600;
        return typeof ttl === 'number' ? ttl : ttl(String(ctx?.oidc?.params?.grant_type ?? ''));
      },
      DeviceCode: options.deviceCodeTtl ?? 600,
      IdToken: options.idTokenTtl ?? 600,
      RefreshToken: options.refreshTokenTtl ?? 86_400,
      Grant: 86_400,
      Interaction: 3600,
      Session: 86_400,
    },
  };

  const provider = await quietly(async () => {
    const { default: ProviderClass } = await import('oidc-provider');
    return new ProviderClass(issuer, configuration);
  });
  const requests = new Map<string, number>();
  const lastHeaders: LocalProvider['lastHeaders'] = new Map();
  const issued: TokenSet[] = [];
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    issued.push({ ...(ctx.body as TokenSet) });
  });
  const deviceCodes: string[] = [];
  provider.on('device_authorization.success', (_ctx: KoaContextWithOIDC, body: Record<string, unknown>) => {
    deviceCodes.push(String(body.device_code));
  });
  if (options.pollInterval !== undefined) {
    const interval = options.pollInterval;
    provider.on('device_authorization.success', (_ctx: KoaContextWithOIDC, body: Record<string, unknown>) => {
      body.interval = interval;
    });
  }
  const callback = provider.callback();
  server.on('request', (req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    requests.set(path, (requests.get(path) ?? 0) + 1);
    lastHeaders.set(path, req.headers);
    callback(req, res);
  });

  return {
    issuer,
    clientId,
    provider,
    requests,
    lastHeaders,
    issued,
    deviceCodes,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

// Self-contained device pages: no web fonts or scripts from other hosts.
const page = (title: string, body: string): string => `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem}
input[type=text]{font-size:1.4rem;text-transform:uppercase;text-align:center;width:100%;padding:.4rem}
button{font-size:1rem;padding:.5rem 1rem;margin-top:1rem}code{font-size:1.6rem}</style></head>
<body><h1>${title}</h1>${body}</body></html>`;

async function userCodeInputSource(ctx: KoaContextWithOIDC, form: string, _out: unknown, err: unknown): Promise<void> {
  const message = err ? '<p style="color:#b00">That code is not valid. Check it and try again.</p>' : '<p>Enter the code shown in your terminal.</p>';
  ctx.body = page('devlogin demo: sign in', `${message}${form}<button type="submit" form="op.deviceInputForm">Continue</button>`);
}

async function userCodeConfirmSource(ctx: KoaContextWithOIDC, form: string, _client: unknown, _deviceInfo: unknown, userCode: string): Promise<void> {
  ctx.body = page('Confirm the code', `<p>Does your terminal show this code?</p><p><code>${userCode}</code></p>
<p>Continue only if you started this sign-in yourself.</p>${form}
<button type="submit" form="op.deviceConfirmForm">Yes, continue</button>
<button type="submit" form="op.deviceConfirmForm" value="yes" name="abort">No, abort</button>`);
}

async function successSource(ctx: KoaContextWithOIDC): Promise<void> {
  ctx.body = page('Signed in', '<p>You can close this page and return to your terminal.</p>');
}

/**
 * oidc-provider warns that Node 20 is not its preferred runtime and that the
 * in-memory adapter and dev interactions are for development: all true and
 * expected for this fixture, so those lines are kept out of the demo's output.
 */
async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].includes('oidc-provider WARNING')) return;
    warn(...args);
  };
  try {
    return await fn();
  } finally {
    console.warn = warn;
  }
}
