/**
 * Fault injection: a hand-written provider on loopback fails in every way we
 * could think of at every endpoint devlogin talks to. Each case checks the
 * documented exit code, exactly one error line on stderr, no stack trace, no
 * token printed, and the vault: untouched by a failed login, and an existing
 * session surviving every failure but invalid_grant.
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTree, runCli, useTempHomes, type CliResult, type TestHome } from './helpers/cli.js';
import { startFakeProvider, type Endpoint, type FakeProvider, type Reply } from './helpers/fake-provider.js';

const html = '<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>';
/** Faults any endpoint can show. `refused` points the endpoint at a closed port. */
const FAULTS: Record<string, Reply | 'refused'> = {
  'connection refused': 'refused',
  'reset mid-body': 'reset',
  'hang past the timeout': 'hang',
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

// A 1 s request timeout keeps the "hang" cases short.
const home = useTempHomes({ DEVLOGIN_HTTP_TIMEOUT: '1s' });

async function fake(endpoint: Endpoint | undefined, fault: Reply | 'refused' | undefined): Promise<FakeProvider> {
  const provider = await startFakeProvider({
    device: { interval: 1, expires_in: 3 },
    token: [{ tokens: {} }],
    ...(endpoint && fault === 'refused' ? { refused: [endpoint] } : {}),
    ...(endpoint && fault && fault !== 'refused' ? { faults: { [endpoint]: fault } } : {}),
  }, closedPort);
  providers.push(provider);
  return provider;
}

/** The checks every failure must pass. */
function expectCleanFailure(result: CliResult, exitCode: number, provider: FakeProvider): void {
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

describe('login against failing endpoints: exit 7, one line, nothing stored', () => {
  const cases: [Endpoint, string, Reply | 'refused'][] = [];
  for (const endpoint of ['discovery', 'device', 'token', 'jwks'] as Endpoint[]) {
    for (const [name, fault] of Object.entries(FAULTS)) {
      if (endpoint === 'discovery' && fault === 'refused') continue; // the issuer itself: covered in login.e2e
      cases.push([endpoint, name, fault]);
    }
  }
  for (const [name, fault] of Object.entries(TOKEN_FAULTS)) cases.push(['token', name, fault]);

  it.each(cases)('%s endpoint: %s', async (endpoint, _name, fault) => {
    const provider = await fake(endpoint, fault);
    const h = await home();
    const result = await runCli(['login', '--issuer', provider.issuer, '--client-id', provider.clientId], h.env);
    expectCleanFailure(result, 7, provider);
    expect((await readTree(h.home)).filter((file) => file.path.includes('/sessions/'))).toEqual([]);
  });
});

describe('an existing session survives every failure but invalid_grant', () => {
  const commands: Record<'token' | 'userinfo' | 'revocation', string[]> = {
    token: ['token', '--min-ttl', '3600'], // the fake's tokens live 300 s: this forces a refresh
    userinfo: ['whoami', '--online'],
    revocation: ['revoke'],
  };

  for (const [endpoint, command] of Object.entries(commands) as [keyof typeof commands, string[]][]) {
    describe(`${command.join(' ')} (${endpoint} endpoint)`, () => {
      let provider: FakeProvider;
      let h: TestHome;
      let sessionFile: string;
      let sealed: Buffer;
      beforeAll(async () => {
        provider = await fake(undefined, undefined);
        h = await home();
        const login = await runCli(['login', '--issuer', provider.issuer, '--client-id', provider.clientId], h.env);
        expect(login.code, login.stderr).toBe(0);
        sessionFile = join(h.home, 'sessions', 'default.json.enc');
        sealed = await readFile(sessionFile);
      });

      // (The endpoints were sealed into the session at login; "refused" is the provider going away, below.)
      // RFC 7009 §2.2: a 200 from the revocation endpoint is success whatever its body, so those are not faults there.
      const isOk = (fault: Reply | 'refused') => typeof fault === 'object' && (('status' in fault && fault.status === 200));
      const faults = Object.entries(FAULTS).filter(([, fault]) => fault !== 'refused' && !(endpoint === 'revocation' && isOk(fault))) as [string, Reply][];
      it.each(faults)('%s: exit 7, session kept as it was', async (_name, fault) => {
        provider.script.faults = { [endpoint]: fault };
        const result = await runCli(command, h.env);
        provider.script.faults = undefined;
        expectCleanFailure(result, 7, provider);
        expect(await readFile(sessionFile)).toEqual(sealed);
      });

      it('connection refused (the provider is gone): exit 7, session kept as it was', async () => {
        await provider.close();
        const result = await runCli(command, h.env);
        expectCleanFailure(result, 7, provider);
        expect(result.stderr).toContain('ECONNREFUSED');
        expect(await readFile(sessionFile)).toEqual(sealed);
      });
    });
  }

  it('invalid_grant on refresh ends the session: exit 4', async () => {
    const provider = await fake(undefined, undefined);
    const h = await home();
    expect((await runCli(['login', '--issuer', provider.issuer, '--client-id', provider.clientId], h.env)).code).toBe(0);
    provider.script.faults = { token: { status: 400, json: { error: 'invalid_grant', error_description: 'grant revoked' } } };
    const result = await runCli(['token', '--min-ttl', '3600'], h.env);
    expectCleanFailure(result, 4, provider);
    expect((await readTree(h.home)).filter((file) => file.path.includes('/sessions/'))).toEqual([]);
  });
});
