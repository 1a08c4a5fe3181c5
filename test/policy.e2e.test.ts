/**
 * The administrator's policy file and the verification-page check: each rule
 * refuses what it should (exit 2, naming the rule) and allows what it should.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalProvider } from '../demo/provider.js';
import { verificationHostWarning } from '../src/core/oidc/verification-host.js';
import { parsePolicy } from '../src/core/policy.js';
import { EXIT } from '../src/errors.js';
import { runCli, useTempHomes, type TestHome } from './helpers/cli.js';
import { startFakeProvider } from './helpers/fake-provider.js';
import { signIn, startProvider } from './helpers/session.js';

let provider: LocalProvider;
const homes = useTempHomes();
beforeAll(async () => {
  provider = await startProvider();
});
afterAll(() => provider.close());

async function withPolicy(policy: unknown, extra: NodeJS.ProcessEnv = {}): Promise<TestHome> {
  const h = await homes(extra);
  const path = join(h.home, 'policy.json');
  await writeFile(path, typeof policy === 'string' ? policy : JSON.stringify(policy));
  h.env.DEVLOGIN_POLICY = path;
  return h;
}

const refusal = (h: TestHome, rule: string, message: string) =>
  `devlogin: Refused by the devlogin policy (${h.env.DEVLOGIN_POLICY}, rule "${rule}"): ${message} Ask the administrator who set it if you need an exception.\n`;
const login = (h: TestHome, args: string[] = []) => runCli(['login', '--issuer', provider.issuer, '--client-id', provider.clientId, ...args], h.env);

describe('policy file', () => {
  it('allowedIssuers refuses other issuers and allows the listed one', async () => {
    const h = await withPolicy({ allowedIssuers: [`${provider.issuer}/`] });
    const other = await runCli(['login', '--issuer', 'https://login.example.com', '--client-id', 'x'], h.env);
    expect(other).toMatchObject({ code: 2, stdout: '', stderr: refusal(h, 'allowedIssuers', 'the issuer https://login.example.com is not one of the allowed issuers.') });
    expect((await signIn(provider, h)).code).toBe(0);
  });

  it('maxSession refuses a longer --max-session and caps the default', async () => {
    const h = await withPolicy({ maxSession: '30m' });
    expect(await login(h, ['--max-session', '2h'])).toMatchObject({ code: 2, stderr: refusal(h, 'maxSession', 'sessions may last at most 30m, and 2h was asked for.') });
    const run = await signIn(provider, h);
    expect(run.code).toBe(0);
    const ends = Date.parse(String((JSON.parse(run.stdout.trim().split('\n')[1]!) as { session_expires_at: string }).session_expires_at)) / 1000;
    expect(ends - Date.now() / 1000).toBeGreaterThan(1780);
    expect(ends - Date.now() / 1000).toBeLessThanOrEqual(1800);
  });

  it('allowedScopes refuses a scope not listed, and allows the listed ones', async () => {
    const h = await withPolicy({ allowedScopes: ['profile', 'email'] });
    expect(await login(h)).toMatchObject({ code: 2, stderr: refusal(h, 'allowedScopes', 'the scope offline_access may not be requested.') });
    expect((await signIn(provider, h, { args: ['--scope', 'openid email'] })).code).toBe(0);
  });

  it('requireDpop refuses --no-dpop and makes DPoP mandatory', async () => {
    const h = await withPolicy({ requireDpop: true });
    expect(await login(h, ['--no-dpop'])).toMatchObject({ code: 2, stderr: refusal(h, 'requireDpop', 'sessions must be DPoP-bound, and --no-dpop was given.') });
    const plain = await startProvider({ dpop: false });
    try {
      const result = await runCli(['login', '--issuer', plain.issuer, '--client-id', plain.clientId], h.env);
      expect(result.code).toBe(7);
      expect(result.stderr).toContain('does not support DPoP');
    } finally {
      await plain.close();
    }
    const run = await signIn(provider, h);
    expect(JSON.parse(run.stdout.trim().split('\n')[1]!)).toMatchObject({ dpop_bound: true });
  });

  it('allowPassphraseVault false refuses the passphrase vault', async () => {
    const h = await withPolicy({ allowPassphraseVault: false });
    const asked = provider.requests.get('/device/auth') ?? 0;
    expect(await login(h)).toMatchObject({ code: 2, stderr: refusal(h, 'allowPassphraseVault', 'sessions may only be stored in the OS keychain, and the passphrase vault was chosen.') });
    expect(provider.requests.get('/device/auth') ?? 0).toBe(asked); // refused before any code was shown
  });

  it.each([
    ['{ nope', 'is not valid JSON'],
    ['[]', 'must hold a JSON object'],
    ['{"maxSesion": "1h"}', 'has unknown rules: maxSesion'],
    ['{"maxSession": "forever"}', '"maxSession" must be a duration such as "8h"'],
    ['{"allowedIssuers": "https://a"}', '"allowedIssuers" must be a list of strings'],
    ['{"requireDpop": "yes"}', '"requireDpop" must be true or false'],
  ])('a broken policy (%s) fails closed with exit 2', async (text, reason) => {
    const h = await withPolicy(text);
    const result = await login(h);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`devlogin: The devlogin policy ${h.env.DEVLOGIN_POLICY} ${reason}. devlogin refuses to sign in until the administrator fixes it (set DEVLOGIN_POLICY to test another file).\n`);
  });

  it('parses a full policy', () => {
    expect(parsePolicy(JSON.stringify({ maxSession: '8h', allowedIssuers: ['https://a.example/'], requireDpop: true, allowPassphraseVault: false, allowedScopes: ['Email'], trustedVerificationHosts: ['Microsoft.com'] }), '/p'))
      .toEqual({ path: '/p', maxSessionSeconds: 28800, allowedIssuers: ['https://a.example'], requireDpop: true, allowPassphraseVault: false, allowedScopes: ['email'], trustedVerificationHosts: ['microsoft.com'] });
    expect(() => parsePolicy('{"maxSession": 0}', '/p')).toThrow(expect.objectContaining({ exitCode: EXIT.usage }));
  });
});

describe('verification page host', () => {
  it.each([
    ['https://login.microsoftonline.com/common/oauth2/deviceauth', 'https://login.microsoftonline.com/tenant/v2.0', [], false],
    ['https://microsoft.com/devicelogin', 'https://login.microsoftonline.com/tenant/v2.0', [], true],
    ['https://microsoft.com/devicelogin', 'https://login.microsoftonline.com/tenant/v2.0', ['microsoft.com'], false],
    ['https://device.auth.example.co.uk/', 'https://login.example.co.uk', [], false],
    ['https://example-login.co.uk/', 'https://login.example.co.uk', [], true],
    ['https://sso.corp.example.com/device', 'https://idp.example.com', [], false],
  ] as const)('%s for issuer %s (trusted %j): warns %s', (uri, issuer, trusted, warns) => {
    expect(verificationHostWarning(uri, issuer, trusted) !== undefined).toBe(warns);
  });

  it('login warns loudly when the page is elsewhere, unless the profile trusts that host', async () => {
    const fake = await startFakeProvider({ device: { verification_uri: 'https://micros0ft-login.example/device', verification_uri_complete: undefined }, token: [{ tokens: {} }] });
    try {
      const h = await homes();
      const warned = await runCli(['login', '--json', '--issuer', fake.issuer, '--client-id', fake.clientId], h.env);
      expect(warned.code).toBe(0);
      const warning = 'The sign-in page is on micros0ft-login.example, not on the issuer\'s site (127.0.0.1). Enter the code only if you expected this page; if in doubt, press Ctrl-C.';
      expect(warned.stderr).toContain(`  !! ${warning}`);
      expect(JSON.parse(warned.stdout.split('\n')[0]!)).toMatchObject({ event: 'verification', warning });

      await writeFile(join(h.home, 'config.json'), JSON.stringify({ profiles: { default: { issuer: fake.issuer, clientId: fake.clientId, trustedVerificationHosts: ['micros0ft-login.example'] } } }));
      const trusted = await runCli(['login'], h.env);
      expect(trusted.code).toBe(0);
      expect(trusted.stderr).not.toContain('!!');
    } finally {
      await fake.close();
    }
  });
});
