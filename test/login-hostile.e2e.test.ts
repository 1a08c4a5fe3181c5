/**
 * `devlogin login` against a hand-written provider that misbehaves in ways
 * the real one never does. The CLI runs as a child process.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findLeaks, makeHome, readAuditEvents, readTree, runCli, type TestHome } from './helpers/cli.js';
import { startFakeProvider, type FakeProvider, type FakeProviderScript } from './helpers/fake-provider.js';

let fake: FakeProvider | undefined;
let h: TestHome | undefined;
afterEach(async () => {
  await fake?.close();
  await h?.cleanup();
  fake = undefined;
  h = undefined;
});

async function loginAgainst(script: FakeProviderScript, args: string[] = []) {
  fake = await startFakeProvider(script);
  h = await makeHome();
  const result = await runCli(['login', '--issuer', fake.issuer, '--client-id', fake.clientId, ...args], h.env);
  const sessions = (await readTree(h.home)).filter((file) => file.path.includes(`${join('sessions')}/`));
  return { ...result, sessions, lastLine: result.stderr.trimEnd().split('\n').at(-1) };
}

const pending = { status: 400, json: { error: 'authorization_pending' } } as const;

describe('login against a misbehaving provider', () => {
  it('strips control characters from every string the provider sends before printing it', async () => {
    const run = await loginAgainst({
      device: {
        user_code: 'WDJB\u001b[2J-MJHT\u0007',
        verification_uri: 'http://127.0.0.1:1/dev\u001b]8;;http://evil.example/\u0007ice\u001b[31m',
        verification_uri_complete: undefined,
      },
      token: [{ tokens: {} }],
    });
    expect(run.code).toBe(0);
    expect(run.stderr).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
    expect(run.stderr).toContain('Your one-time code: WDJB[2J-MJHT');
    expect(run.stderr).toContain('Enter it at:        http://127.0.0.1:1/dev]8;;http://evil.example/ice[31m');
  });

  it('refuses an ID token signed by a key that is not in the JWKS: exit 7, nothing stored', async () => {
    const run = await loginAgainst({ token: [pending, { tokens: { wrongKey: true } }] });
    expect(run.code).toBe(7);
    expect(run.lastLine).toMatch(/^devlogin: The ID token from http:\/\/127\.0\.0\.1:\d+ failed verification: .*Nothing was stored\./);
    expect(run.sessions).toEqual([]);
    expect(await findLeaks(fake!.issued, { home: h!.home, texts: [run.stdout, run.stderr] })).toEqual([]);
    const audit = await readAuditEvents(h!);
    expect(audit).toEqual([expect.objectContaining({ event: 'login_failed', reason: 'invalid_id_token' })]);
  });

  it('refuses an unsigned (alg none) ID token', async () => {
    const run = await loginAgainst({ token: [{ tokens: { alg: 'none' } }] });
    expect(run.code).toBe(7);
    expect(run.lastLine).toMatch(/ID token .*failed verification/);
    expect(run.sessions).toEqual([]);
  });

  it('refuses an ID token issued to another client (aud)', async () => {
    const run = await loginAgainst({ token: [{ tokens: { claims: { aud: 'someone-else' } } }] });
    expect(run.code).toBe(7);
    expect(run.lastLine).toMatch(/ID token .*failed verification/);
    expect(run.sessions).toEqual([]);
  });

  it('exits 7 with one line on a malformed token response', async () => {
    const run = await loginAgainst({ token: [{ status: 200, body: '{"access_token":', headers: { 'content-type': 'application/json' } }] });
    expect(run.code).toBe(7);
    expect(run.lastLine).toMatch(/^devlogin: The provider sent a malformed response at the token endpoint of http:\/\/127\.0\.0\.1:\d+/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('exits 7 on a malformed device authorization response', async () => {
    const run = await loginAgainst({ device: { user_code: 42 }, token: [pending] });
    expect(run.code).toBe(7);
    expect(run.lastLine).toMatch(/^devlogin: The provider sent a malformed response at the device authorization endpoint/);
  });

  it('refuses a verification URI that is not HTTPS', async () => {
    const run = await loginAgainst({ device: { verification_uri: 'http://phish.example/device', verification_uri_complete: undefined }, token: [pending] });
    expect(run.code).toBe(7);
    expect(run.lastLine).toBe("devlogin: The provider's verification_uri (http://phish.example/device) does not use HTTPS; refused. A sign-in page over plain HTTP could be read or changed by anyone on the network.");
  });

  it('rides out a 502 and a dropped connection during polling, then signs in', async () => {
    const run = await loginAgainst({ token: [{ status: 502, body: 'bad gateway' }, 'hangup', { tokens: {} }], device: { interval: 1 } }, ['--json']);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('The provider did not answer (HTTP 502); retrying in 2s.');
    expect(run.stderr).toContain('The provider did not answer (no answer from the provider); retrying in 4s.');
    expect(run.sessions).toHaveLength(1);
    expect(fake!.tokenRequests).toHaveLength(3);
  });

  it('warns when the provider grants more scope than requested', async () => {
    const run = await loginAgainst({ token: [{ tokens: { scope: 'openid email admin:all' } }] }, ['--scope', 'openid email']);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('warning: the provider granted more than requested: admin:all');
  });
});
