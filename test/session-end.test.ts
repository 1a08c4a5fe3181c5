/**
 * Ending sessions, in-process: logout, revoke, and expiry (the maximum
 * lifetime, an access token that cannot be renewed). The real provider for
 * the usual paths; the fake one for providers that cannot revoke, or say a
 * revoked token is still active.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalProvider } from '../demo/provider.js';
import { readAuditEvents } from './helpers/cli.js';
import { startFakeProvider, type FakeProvider, type FakeProviderScript } from './helpers/fake-provider.js';
import { signIn, type Harness } from './helpers/harness.js';
import { introspect, startProvider } from './helpers/session.js';
import { freshConnections, jsonLines, lastLine, sessionFiles, signedIn, signedInFake, startLoopbackServer, type LoopbackServer } from './helpers/signed-in.js';

let provider: LocalProvider;
const fakes: FakeProvider[] = [];
beforeAll(async () => {
  provider = await startProvider({ accessTokenTtl: (grant) => (grant === 'refresh_token' ? 600 : 30) });
});
afterAll(async () => {
  await Promise.all([provider.close(), ...fakes.map((fake) => fake.close())]);
});

async function fake(script: Omit<FakeProviderScript, 'token'> = {}): Promise<FakeProvider> {
  const started = await startFakeProvider({ token: [{ tokens: {} }], ...script });
  fakes.push(started);
  return started;
}

const kept = (profile = 'default') =>
  `The session of profile "${profile}" was kept so that you can retry "devlogin revoke"; "devlogin logout --local" drops it without telling the provider.`;
const sessionFile = (h: Harness) => readFile(join(h.home, 'sessions', 'default.json.enc'));
const notRevokedWarning = (issuer: string, who: string, why: string) =>
  `warning: could not revoke the tokens at the provider: ${why}\nSigned out of ${issuer} (profile "default", ${who}) on this machine. Use "devlogin revoke" before logout to make sure the provider ends it too.\n`;

describe('logout', () => {
  it('revokes at the provider, then removes the session; a second logout has nothing to do', async () => {
    const { h, refreshToken } = await signedIn(provider);
    const result = await h.run(['logout']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(`Signed out of ${provider.issuer} (profile "default", Alice); the tokens were revoked at the provider.\n`);
    expect((await introspect(provider, refreshToken!)).active).toBe(false);
    expect(await sessionFiles(h)).toEqual([]);
    expect(h.keyStore.items.size).toBe(0);
    const again = await h.run(['logout']);
    expect(again).toMatchObject({ code: 0, stderr: 'Not signed in (profile "default"); nothing to do.\n' });
    expect((await readAuditEvents(h)).map((event) => event.event)).toEqual(['login', 'logout']);
    expect((await readAuditEvents(h)).at(-1)).toMatchObject({ outcome: 'success', reason: 'user', revocation: 'revoked', subject: 'alice' });
  });

  it('--local leaves the provider alone', async () => {
    const { h, refreshToken } = await signedIn(provider);
    const result = await h.run(['logout', '--local']);
    expect(result).toMatchObject({ code: 0, stderr: `Signed out of ${provider.issuer} (profile "default", alice) on this machine; the provider was not told.\n` });
    expect((await introspect(provider, refreshToken!)).active).toBe(true);
    expect(await sessionFiles(h)).toEqual([]);
    expect(h.keyStore.items.size).toBe(0);
    expect((await readAuditEvents(h)).at(-1)).toMatchObject({ event: 'logout', reason: 'local', revocation: 'not_asked' });
  });

  it('--all ends every profile', async () => {
    const { h } = await signedIn(provider);
    const second = await signIn(h, provider, { args: ['--profile', 'work', '--no-dpop'], user: 'bob' });
    expect(second.code, second.stderr).toBe(0);
    expect(await sessionFiles(h)).toHaveLength(2);
    const result = await h.run(['logout', '--all']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe([
      `Signed out of ${provider.issuer} (profile "default", Alice); the tokens were revoked at the provider.`,
      `Signed out of ${provider.issuer} (profile "work", Bob); the tokens were revoked at the provider.`,
      '',
    ].join('\n'));
    expect(await sessionFiles(h)).toEqual([]);
    expect(h.keyStore.items.size).toBe(0);
  });

  it('on a provider without a revocation endpoint says exactly that', async () => {
    // The fake's discovery document without revocation_endpoint (undefined is dropped from the JSON).
    const noEndpoint = await fake({ discovery: { revocation_endpoint: undefined } });
    const h = await signedInFake(noEndpoint);
    const result = await h.run(['logout']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(notRevokedWarning(noEndpoint.issuer, 'Fake User', 'the provider has no revocation endpoint.'));
    expect(await sessionFiles(h)).toEqual([]);
    expect((await readAuditEvents(h)).at(-1)).toMatchObject({ event: 'logout', outcome: 'success', revocation: 'no_endpoint' });
  });

  it('whose revocation failed (the provider is down) names the failure, not a missing endpoint', async () => {
    const down = await fake();
    const h = await signedInFake(down);
    await down.close();
    const result = await h.run(['logout'], { fetch: await freshConnections() });
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(new RegExp(`^warning: could not revoke the tokens at the provider: Could not reach the provider at the revocation endpoint of ${down.issuer}: .*\\(ECONNREFUSED\\)\\.\n`));
    expect(result.stderr).not.toContain('no revocation endpoint');
    expect(lastLine(result.stderr)).toBe(`Signed out of ${down.issuer} (profile "default", Fake User) on this machine. Use "devlogin revoke" before logout to make sure the provider ends it too.`);
    expect(await sessionFiles(h)).toEqual([]);
    expect((await readAuditEvents(h)).at(-1)).toMatchObject({ event: 'logout', outcome: 'success', revocation: 'failed' });
  });
});

describe('revoke', () => {
  it('ends the session at the provider, confirmed by introspection', async () => {
    const { h, refreshToken, accessToken } = await signedIn(provider);
    const result = await h.run(['revoke']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(`Session of profile "default" (Alice) at ${provider.issuer}: revoked, confirmed by the provider.\n`);
    expect((await introspect(provider, refreshToken!)).active).toBe(false);
    expect((await introspect(provider, accessToken)).active).toBe(false);
    expect(await sessionFiles(h)).toEqual([]);
    expect(h.keyStore.items.size).toBe(0);
    expect((await readAuditEvents(h)).at(-1)).toMatchObject({ event: 'revoke', outcome: 'success', revocation: 'revoked' });
    expect(await h.run(['revoke'])).toMatchObject({ code: 3, stderr: 'devlogin: Not signed in (profile "default"). Run "devlogin login".\n' });
  });

  it('keeps the session and exits 7 when the provider cannot be reached', async () => {
    const doomed = await startProvider();
    let h: Harness;
    try {
      ({ h } = await signedIn(doomed));
    } finally {
      await doomed.close();
    }
    const result = await h.run(['revoke'], { fetch: await freshConnections() });
    expect(result.code).toBe(7);
    expect(lastLine(result.stderr)).toMatch(new RegExp(`^devlogin: Could not revoke the session at ${doomed.issuer}: Could not reach the provider .* ${escape(kept())}$`));
    expect(await sessionFiles(h)).toEqual(['/sessions/default.json.enc']);
    expect(h.keyStore.items.size).toBe(1);
    expect((await h.run(['whoami'])).code).toBe(0);
  });

  describe('keeps the session and exits 7 when the provider was not surely told', () => {
    let introspection: LoopbackServer;
    beforeAll(async () => {
      // RFC 7662 introspection that says every token is still active.
      introspection = await startLoopbackServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"active":true}'));
    });
    afterAll(() => introspection.close());

    it('the provider accepted the revocation, but introspection still says active', async () => {
      const still = await fake({ discovery: { introspection_endpoint: `${introspection.url}/introspect` } });
      const h = await signedInFake(still);
      const before = await sessionFile(h);
      const result = await h.run(['revoke']);
      expect(result.code).toBe(7);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(`devlogin: The provider accepted the revocation but still reports the token as active. ${kept()}\n`);
      expect(introspection.received.map((r) => [r.method, r.path])).toEqual([['POST', '/introspect']]);
      expect(await sessionFile(h)).toEqual(before);
      expect(h.keyStore.items.size).toBe(1);
      expect((await readAuditEvents(h)).at(-1)).toMatchObject({ event: 'revoke', outcome: 'failure', reason: 'still_active', revocation: 'revoked', subject: 'fake-user' });
      expect(jsonLines((await h.run(['whoami', '--json'])).stdout)).toMatchObject([{ signed_in: true }]);
    });

    it('the provider offers no revocation endpoint', async () => {
      const noEndpoint = await fake({ discovery: { revocation_endpoint: undefined } });
      const h = await signedInFake(noEndpoint);
      const before = await sessionFile(h);
      const result = await h.run(['revoke']);
      expect(result.code).toBe(7);
      expect(result.stderr).toBe(`devlogin: The provider ${noEndpoint.issuer} offers no revocation endpoint. ${kept()}\n`);
      expect(await sessionFile(h)).toEqual(before);
      expect(h.keyStore.items.size).toBe(1);
      expect((await readAuditEvents(h)).at(-1)).toMatchObject({ event: 'revoke', outcome: 'failure', reason: 'no_revocation_endpoint', revocation: 'no_endpoint' });
    });
  });
});

describe('expiry', () => {
  it('a session past --max-session is purged and revoked on next use: exit 4', async () => {
    const { h, refreshToken, session } = await signedIn(provider, { args: ['--no-dpop', '--max-session', '2s'] });
    h.clock.advance(3000);
    const listed = await h.run(['sessions', '--json']);
    expect(jsonLines(listed.stdout)).toMatchObject([{ profile: 'default', state: 'expired', subject: 'alice' }]);
    const result = await h.run(['whoami']);
    expect(result.code).toBe(4);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`devlogin: The session reached its maximum lifetime at ${String(session.session_expires_at)} and was ended. Run "devlogin login" to sign in again.\n`);
    expect(await sessionFiles(h)).toEqual([]);
    expect(h.keyStore.items.size).toBe(0);
    expect((await introspect(provider, refreshToken!)).active).toBe(false);
    expect((await readAuditEvents(h)).at(-1)).toMatchObject({ event: 'session_expired', reason: 'max_session', revocation: 'revoked', subject: 'alice' });
    expect((await h.run(['whoami'])).code).toBe(3);
  });

  it('an expired access token without a refresh token ends the session: exit 4', async () => {
    // Without offline_access the provider issues no refresh token.
    const { h, refreshToken, session } = await signedIn(provider, { args: ['--no-dpop', '--scope', 'openid profile email'] });
    expect(refreshToken).toBeUndefined();
    expect(session.scope).toBe('openid profile email');
    expect(await h.run(['token', '--min-ttl', '0'])).toMatchObject({ code: 0, stdout: expect.stringMatching(/^\S+\n$/) }); // still valid
    h.clock.advance(31_000); // past the 30 s access token
    const result = await h.run(['token']);
    expect(result.code).toBe(4);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe('devlogin: The access token has expired and the provider gave this session no refresh token. Run "devlogin login" to sign in again.\n');
    expect(await sessionFiles(h)).toEqual([]);
    expect(h.keyStore.items.size).toBe(0);
    expect((await readAuditEvents(h)).at(-1)).toMatchObject({ event: 'session_expired', outcome: 'success', reason: 'no_refresh_token', subject: 'alice' });
    expect((await h.run(['token'])).code).toBe(3);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
