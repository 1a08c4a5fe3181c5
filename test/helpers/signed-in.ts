/**
 * A signed-in in-process harness, and small readers of what a home holds,
 * for the session tests (session.test.ts, session-end.test.ts, faults.test.ts).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'vitest';
import type { LocalProvider } from '../../demo/provider.js';
import type { Env } from '../../src/core/settings.js';
import { readTree } from './cli.js';
import { fetchVia } from './session.js';
import type { FakeProvider } from './fake-provider.js';
import { createHarness, signIn, type Harness, type RunResult, type TtyFlags } from './harness.js';

export interface SignedIn {
  h: Harness;
  login: RunResult;
  /** login's final `signed_in` event. */
  session: Record<string, unknown>;
  /** What the provider issued at this sign-in. */
  accessToken: string;
  refreshToken: string | undefined;
}

export interface SignedInOptions {
  /** Login flags; default `--no-dpop` (token refuses DPoP-bound sessions). */
  args?: string[];
  user?: string;
  /** The harness's environment, e.g. the passphrase vault. */
  env?: Env;
  tty?: TtyFlags;
}

/** A fresh harness signed in to the real provider. */
export async function signedIn(provider: LocalProvider, options: SignedInOptions = {}): Promise<SignedIn> {
  const h = await createHarness(options.env);
  const before = provider.issued.length;
  const login = await signIn(h, provider, { args: options.args ?? ['--no-dpop'], user: options.user, tty: options.tty });
  expect(login.code, login.stderr).toBe(0);
  const issued = provider.issued.slice(before).at(-1)!;
  return { h, login, session: jsonLines(login.stdout).at(-1)!, accessToken: issued.access_token!, refreshToken: issued.refresh_token };
}

/** A fresh harness signed in to the fake provider (whose token script approves at once). */
export async function signedInFake(fake: FakeProvider, env?: Env): Promise<Harness> {
  const h = await createHarness(env);
  const login = await h.run(['login', '--issuer', fake.issuer, '--client-id', fake.clientId]);
  expect(login.code, login.stderr).toBe(0);
  return h;
}

export const jsonLines = (stdout: string): Record<string, unknown>[] =>
  stdout.trimEnd().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);

export const lastLine = (text: string): string | undefined => text.trimEnd().split('\n').at(-1);

/** The session files of a home, relative to it. */
export async function sessionFiles(h: Harness): Promise<string[]> {
  return (await readTree(h.home)).filter((file) => file.path.includes('/sessions/')).map((file) => file.path.replace(h.home, ''));
}

/** Every request the real provider has answered so far. */
export const requestCount = (provider: LocalProvider): number => [...provider.requests.values()].reduce((a, b) => a + b, 0);

/** Revokes a token at the real provider behind devlogin's back (RFC 7009). */
export async function revokeAtProvider(provider: LocalProvider, token: string): Promise<void> {
  const response = await fetch(`${provider.issuer}/token/revocation`, { method: 'POST', body: new URLSearchParams({ token, client_id: provider.clientId }) });
  expect(response.status).toBe(200);
}

/**
 * A fetch with its own connection pool, as a new devlogin process has: the
 * shared one may still hold a kept-alive socket to a provider that just went
 * away, which then fails as "other side closed" instead of ECONNREFUSED.
 */
export const freshConnections = (): Promise<typeof fetch> => fetchVia((undici) => new undici.Agent());

export interface LoopbackServer {
  url: string;
  /** Every request received: method, path and headers. */
  received: { method: string; path: string; headers: IncomingMessage['headers'] }[];
  close(): Promise<void>;
}

/** A one-purpose HTTP server on loopback that records what reaches it. */
export async function startLoopbackServer(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<LoopbackServer> {
  const received: LoopbackServer['received'] = [];
  const server = createServer((req, res) => {
    received.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers });
    req.resume().on('end', () => handle(req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
