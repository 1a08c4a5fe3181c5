/**
 * Fault injection, in-process: a hand-written provider on loopback fails in
 * every way we could think of at every endpoint devlogin talks to. Each case
 * checks the documented exit code, exactly one error line on stderr, no
 * stack trace, no token printed, and the vault: untouched by a failed login,
 * and an existing session surviving every failure but invalid_grant.
 * Requests time out after the harness's 5 s (real time: openid-client's own
 * timer), so the hanging cases run alongside the others.
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeProvider, type Endpoint, type FakeProvider, type Reply } from './helpers/fake-provider.js';
import { createHarness, type Harness, type RunResult } from './helpers/harness.js';
import { freshConnections, sessionFiles, signedInFake } from './helpers/signed-in.js';

const html = '<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>';
/** Faults any endpoint can show. `refused` points the endpoint at a closed port. */
const FAULTS: Record<string, Reply | 'refused'> = {
  'connection refused': 'refused',
  'reset mid-body': 'reset',
  'HTTP 500 with an HTML page': { status: 500, body: html, headers: { 'content-type': 'text/html' } },
  'HTTP 502': { status: 502, body: 'bad gateway' },
  'HTTP 503 with Retry-After': { status: 503, body: '', headers: { 'retry-after': '1' } },
  'HTTP 503 without Retry-After': { status: 503, json: { error: 'temporarily_unavailable' } },
  'a 10 MB body': { bigBody: 10 * 1024 * 1024 },
  'invalid JSON': { status: 200, body: '{"issuer": "http://', headers: { 'content-type': 'application/json' } },
  'the wrong content type': { status: 200, body: '{}', headers: { 'content-type': 'text/plain' } },
  'an HTML error page with 200': { status: 200, body: html, headers: { 'content-type': 'text/html' } },
  'missing required fields': { status: 200, json: {} },
};
/** Faults only a token response can show. */
const TOKEN_FAULTS: Record<string, Reply> = {
  'the wrong token_type': { tokens: { tokenType: 'mac' } },
  'an ID token with alg none': { tokens: { alg: 'none' } },
  'an ID token from another issuer': { tokens: { claims: { iss: 'https://evil.example' } } },
  'an ID token for another client': { tokens: { claims: { aud: 'someone-else' } } },
  'an expired ID token': { tokens: { claims: { exp: Math.floor(Date.now() / 1000) - 3600, iat: Math.floor(Date.now() / 1000) - 7200 } } },
  'an ID token signed by another key': { tokens: { wrongKey: true } },
};
const LOGIN_ENDPOINTS: Endpoint[] = ['discovery', 'device', 'token', 'jwks'];
/** What uses each endpoint once signed in. */
const SESSION_COMMANDS: Record<'token' | 'userinfo' | 'revocation', string[]> = {
  token: ['token', '--min-ttl', '3600'], // the fake's tokens live 300 s: this forces a refresh
  userinfo: ['whoami', '--online'],
  revocation: ['revoke'],
};

/** How the timeout message names the request that hung, at login and once signed in. */
const LOGIN_STEP: Record<string, string> = { discovery: 'discovery', device: 'device authorization', token: 'token', jwks: 'token' };
const SESSION_STEP: Record<string, string> = { token: 'refresh', userinfo: 'userinfo', revocation: 'revocation' };

let closedPort: number;
const providers: FakeProvider[] = [];
beforeAll(async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  closedPort = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
});
afterAll(async () => {
  await Promise.all(providers.map((p) => p.close()));
});

async function fake(endpoint?: Endpoint, fault?: Reply | 'refused'): Promise<FakeProvider> {
  const provider = await startFakeProvider({
    device: { interval: 1, expires_in: 3 },
    token: [{ tokens: {} }],
    ...(endpoint && fault === 'refused' ? { refused: [endpoint] } : {}),
    ...(endpoint && fault && fault !== 'refused' ? { faults: { [endpoint]: fault } } : {}),
  }, closedPort);
  providers.push(provider);
  return provider;
}

/**
 * A hang waits out the harness's real 5 s request timeout (openid-client's
 * own timer, not the virtual clock), so every hanging case starts with the
 * file and the other cases run meanwhile; the last tests check the outcomes.
 */
const hanging = new Map<string, Promise<{ provider: FakeProvider; h: Harness; result: RunResult; sealed?: Buffer }>>();
beforeAll(() => {
  for (const endpoint of LOGIN_ENDPOINTS) {
    hanging.set(`login ${endpoint}`, (async () => {
      const provider = await fake(endpoint, 'hang');
      const h = await createHarness();
      return { provider, h, result: await login(h, provider) };
    })());
  }
  for (const [endpoint, command] of Object.entries(SESSION_COMMANDS)) {
    hanging.set(endpoint, (async () => {
      const provider = await fake();
      const h = await signedInFake(provider);
      const sealed = await readFile(join(h.home, 'sessions', 'default.json.enc'));
      provider.script.faults = { [endpoint]: 'hang' };
      return { provider, h, sealed, result: await h.run(command) };
    })());
  }
  // Awaited by the tests; until then a failure must not count as unhandled.
  for (const run of hanging.values()) run.catch(() => undefined);
});

const login = (h: Harness, provider: FakeProvider) => h.run(['login', '--issuer', provider.issuer, '--client-id', provider.clientId]);

/** The checks every failure must pass. */
function expectCleanFailure(result: RunResult, exitCode: number, provider: FakeProvider): void {
  expect(result.code, result.stderr).toBe(exitCode);
  const errorLines = result.stderr.split('\n').filter((line) => line.startsWith('devlogin:'));
  expect(errorLines).toHaveLength(1);
  expect(result.stderr.trimEnd().split('\n').at(-1)).toBe(errorLines[0]);
  expect(result.stderr).not.toMatch(/\n\s+at |Error: |undefined/);
  for (const token of provider.issued) {
    expect(result.stdout).not.toContain(token);
    expect(result.stderr).not.toContain(token);
  }
}

async function expectNothingStored(h: Harness): Promise<void> {
  expect(await sessionFiles(h)).toEqual([]);
  expect(h.keyStore.items.size).toBe(0);
}

describe('login against failing endpoints: exit 7, one line, nothing stored', () => {
  const cases: [Endpoint, string, Reply | 'refused'][] = [];
  for (const endpoint of LOGIN_ENDPOINTS) {
    for (const [name, fault] of Object.entries(FAULTS)) {
      if (endpoint === 'discovery' && fault === 'refused') continue; // the issuer itself: covered in the login tests
      cases.push([endpoint, name, fault]);
    }
  }
  for (const [name, fault] of Object.entries(TOKEN_FAULTS)) cases.push(['token', name, fault]);

  it.each(cases)('%s endpoint: %s', async (endpoint, _name, fault) => {
    const provider = await fake(endpoint, fault);
    const h = await createHarness();
    expectCleanFailure(await login(h, provider), 7, provider);
    await expectNothingStored(h);
  });
});

describe('an existing session survives every failure but invalid_grant', () => {
  for (const [endpoint, command] of Object.entries(SESSION_COMMANDS) as [keyof typeof SESSION_COMMANDS, string[]][]) {
    describe(`${command.join(' ')} (${endpoint} endpoint)`, () => {
      let provider: FakeProvider;
      let h: Harness;
      let sealed: Buffer;
      beforeAll(async () => {
        provider = await fake();
        h = await signedInFake(provider);
        sealed = await readFile(join(h.home, 'sessions', 'default.json.enc'));
      });
      const expectKept = async () => {
        expect(await readFile(join(h.home, 'sessions', 'default.json.enc'))).toEqual(sealed);
        expect(h.keyStore.items.size).toBe(1);
      };

      // (The endpoints were sealed into the session at login; "refused" is the provider going away, below.)
      // RFC 7009 §2.2: a 200 from the revocation endpoint is success whatever its body, so those are not faults there.
      const isOk = (fault: Reply | 'refused') => typeof fault === 'object' && 'status' in fault && fault.status === 200;
      const faults = Object.entries(FAULTS).filter(([, fault]) => fault !== 'refused' && !(endpoint === 'revocation' && isOk(fault))) as [string, Reply][];
      it.each(faults)('%s: exit 7, session kept as it was', async (_name, fault) => {
        provider.script.faults = { [endpoint]: fault };
        const result = await h.run(command);
        provider.script.faults = undefined;
        expectCleanFailure(result, 7, provider);
        await expectKept();
      });

      it('connection refused (the provider is gone): exit 7, session kept as it was', async () => {
        await provider.close();
        const result = await h.run(command, { fetch: await freshConnections() });
        expectCleanFailure(result, 7, provider);
        expect(result.stderr).toContain('ECONNREFUSED');
        await expectKept();
      });
    });
  }

  it('invalid_grant on refresh ends the session: exit 4', async () => {
    const provider = await fake();
    const h = await signedInFake(provider);
    provider.script.faults = { token: { status: 400, json: { error: 'invalid_grant', error_description: 'grant revoked' } } };
    const result = await h.run(['token', '--min-ttl', '3600']);
    expectCleanFailure(result, 4, provider);
    await expectNothingStored(h);
  });
});

describe('an endpoint that hangs past the 5 s request timeout: exit 7', () => {
  it.each(LOGIN_ENDPOINTS)('login, %s endpoint: nothing stored', async (endpoint) => {
    const { provider, h, result } = await hanging.get(`login ${endpoint}`)!;
    expectCleanFailure(result, 7, provider);
    expect(result.stderr).toContain(`The provider did not answer in time at the ${LOGIN_STEP[endpoint]} endpoint of ${provider.issuer}`);
    await expectNothingStored(h);
  });

  it.each(Object.entries(SESSION_COMMANDS).map(([endpoint, command]) => [endpoint, command.join(' ')]))('%s endpoint (%s): session kept as it was', async (endpoint) => {
    const { provider, h, result, sealed } = await hanging.get(endpoint)!;
    expectCleanFailure(result, 7, provider);
    expect(result.stderr).toContain(`The provider did not answer in time at the ${SESSION_STEP[endpoint]} endpoint of ${provider.issuer}.`);
    expect(await readFile(join(h.home, 'sessions', 'default.json.enc'))).toEqual(sealed);
  });
});
