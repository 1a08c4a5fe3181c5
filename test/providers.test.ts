/**
 * `devlogin login --provider P` against an emulation of each provider
 * (test/helpers/emulated-providers.ts, written from PROVIDERS.md), in-process
 * on the harness's virtual clock: sign-in, whoami, token, refresh by the
 * provider's rotation rule, revoke or logout, denial and expiry, and never a
 * poll early enough to provoke slow_down.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acceptedTokenIssuers, issuerMatches } from '../src/core/providers/issuer.js';
import { recognizeProvider } from '../src/core/providers/presets.js';
import type { Env } from '../src/core/settings.js';
import { findLeaks, readAuditEvents } from './helpers/cli.js';
import { EMULATIONS, startEmulation, USER, type Emulation, type EmulationName, type Quirks } from './helpers/emulated-providers.js';
import { createHarness, type Harness, type RunResult } from './helpers/harness.js';
import { jsonLines, lastLine, sessionFiles } from './helpers/signed-in.js';

const running: Emulation[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((emulation) => emulation.close()));
});

async function emulate(name: EmulationName, overrides: Partial<Quirks> = {}): Promise<{ h: Harness; emu: Emulation }> {
  const h = await createHarness();
  const emu = await startEmulation(name, h.clock, overrides);
  running.push(emu);
  return { h, emu };
}

/** The secret each provider's client has, where it has one. */
const SECRET: Partial<Record<EmulationName, string>> = { google: 'GOCSPX-emulated-secret' };

function login(h: Harness, emu: Emulation, decision: 'approve' | 'deny' | 'none' = 'approve', options: { args?: string[]; env?: Env } = {}): Promise<RunResult> {
  let decided = false;
  const secret = SECRET[emu.name];
  // An Okta app with "Require DPoP" needs --dpop: devlogin never binds unasked.
  const dpop = emu.quirks.dpopNonce ? ['--dpop'] : [];
  return h.run(['login', '--json', '--provider', emu.quirks.provider, '--issuer', emu.issuer, '--client-id', emu.clientId, ...dpop, ...(options.args ?? [])], {
    env: { ...(secret ? { DEVLOGIN_CLIENT_SECRET: secret } : {}), ...options.env },
    onSleep: () => {
      if (decided) return;
      decided = true;
      if (decision === 'approve') emu.approve();
      if (decision === 'deny') emu.deny();
    },
  });
}

/** Every poll at least one interval after the previous one (or the device request), and no slow_down. */
function expectPacedPolls(emu: Emulation): void {
  expect(emu.slowDowns).toBe(0);
  const grant = emu.grants.at(-1)!;
  let previous = grant.issuedAt;
  for (const at of emu.polls) {
    expect(at - previous).toBeGreaterThanOrEqual(emu.quirks.interval * 1000);
    previous = at;
  }
}

const isGithub = (name: EmulationName): boolean => EMULATIONS[name].provider === 'github';
const subjectOf = (name: EmulationName): string => (isGithub(name) ? String(USER.id) : USER.sub);
const emailOf = (name: EmulationName): string | null => (isGithub(name) ? null : USER.email);
/** Where this client has no way to revoke: Entra and Dex have no endpoint, GitHub needs the app's secret. */
const cannotRevoke = (name: EmulationName): boolean => ['github', 'github-app', 'entra', 'dex'].includes(name);

const NAMES = Object.keys(EMULATIONS) as EmulationName[];

describe.each(NAMES)('%s', (name) => {
  it('signs in with only --provider, --issuer and --client-id, never provoking slow_down; whoami and token work', async () => {
    const { h, emu } = await emulate(name);
    const run = await login(h, emu);
    expect(run.code, run.stderr).toBe(0);
    expectPacedPolls(emu);
    expect(emu.polls).toHaveLength(1); // approved before the first poll, which came after one interval
    const events = jsonLines(run.stdout);
    expect(events.map((event) => event.event)).toEqual(['verification', 'signed_in']);
    expect(events[0]).toMatchObject({ user_code: emu.grants[0]!.userCode, verification_uri: `${new URL(emu.issuer).origin}${emu.quirks.issuerPath}/device` });
    expect(events[1]).toMatchObject({ issuer: emu.issuer, subject: subjectOf(name), name: USER.name, email: emailOf(name), dpop_bound: EMULATIONS[name].dpopNonce === true });
    expect(run.stderr).toContain(`✓ Signed in as ${USER.name}${isGithub(name) ? '' : ` <${USER.email}>`}\n`);
    if (name === 'github') {
      expect(run.stderr).toContain('  ! This token never expires at the provider: it stays valid there until revoked (revoke it at GitHub under Settings > Applications');
    } else {
      expect(run.stderr).not.toContain('never expires');
    }

    // The profile names the preset; no secret in config.json.
    const config = JSON.parse(await readFile(join(h.home, 'config.json'), 'utf8')) as { profiles: { default: Record<string, unknown> } };
    expect(config.profiles.default).toMatchObject({ provider: EMULATIONS[name].provider, issuer: emu.issuer, clientId: emu.clientId });
    if (EMULATIONS[name].dpopNonce) expect(config.profiles.default).toMatchObject({ dpop: true });
    else expect(config.profiles.default).not.toHaveProperty('dpop');

    const who = await h.run(['whoami', '--json']);
    expect(who.code).toBe(0);
    expect(jsonLines(who.stdout)[0]).toMatchObject({
      subject: subjectOf(name), name: USER.name, provider: EMULATIONS[name].provider,
      identity_verified_by: isGithub(name) ? 'user_api' : 'id_token', preferred_username: USER.login,
    });
    const human = await h.run(['whoami']);
    expect(human.stdout).toContain(isGithub(name) ? '  login    octocat\n  verified by the provider\'s user API over TLS (no ID token)\n' : '  verified by a signed ID token\n');
    const online = await h.run(['whoami', '--online', '--json']);
    expect(online.code, online.stderr).toBe(0);
    expect(jsonLines(online.stdout)[0]).toMatchObject({ online: { active: true, checked_with: [isGithub(name) ? 'user_api' : 'userinfo'] } });

    // No token or secret in config.json, the audit log, the sealed session file, or what was shown.
    const texts = [run.stderr, run.stdout, who.stdout, human.stdout, online.stdout, online.stderr];
    expect(await findLeaks([...emu.issued.access, ...emu.issued.refresh, SECRET[name] ?? ''], { home: h.home, texts })).toEqual([]);

    if (EMULATIONS[name].dpopNonce) {
      // A bound token goes out only with a proof, through api; the nonce round trip is devlogin's [OK2].
      const api = await h.run(['api', `${emu.issuer}/api/me`]);
      expect(api.code, api.stderr).toBe(0);
      expect(JSON.parse(api.stdout)).toMatchObject({ sub: USER.sub, jkt: expect.stringMatching(/^[\w-]{43}$/) });
      expect((await h.run(['token'])).code).toBe(2);
      return;
    }
    const token = await h.run(['token']);
    expect(token).toMatchObject({ code: 0, stdout: `${emu.issued.access[0]}\n`, stderr: '' });
  });

  it('refreshes by the provider\'s rotation rule and ends the session honestly', async () => {
    const { h, emu } = await emulate(name);
    const quirks: Quirks = EMULATIONS[name];
    expect((await login(h, emu)).code).toBe(0);
    const refreshBodies = () => emu.refreshed;
    const use = (minTtl: number) => (quirks.dpopNonce ? h.run(['api', '--min-ttl', String(minTtl), `${emu.issuer}/api/me`]) : h.run(['token', '--min-ttl', String(minTtl)]));

    if (quirks.refresh === 'none') {
      // A GitHub OAuth App token never expires: nothing to refresh, ever.
      expect(await use(999_999)).toMatchObject({ code: 0, stdout: `${emu.issued.access[0]}\n` });
      expect(refreshBodies()).toEqual([]);
    } else {
      const ttl = (quirks.accessTtl ?? 0) + 60;
      const first = await use(ttl);
      expect(first.code, first.stderr).toBe(0);
      // A token refreshed a moment ago is used by every caller (no refresh storm): let a minute pass.
      h.clock.advance(61_000);
      const second = await use(ttl);
      expect(second.code, second.stderr).toBe(0);
      if (!quirks.dpopNonce) expect(second.stdout).toBe(`${emu.issued.access[2]}\n`);
      // Rotation: the second refresh uses the new refresh token; Google sends none and the first one stays [GO1].
      expect(refreshBodies()).toEqual(quirks.refresh === 'keep'
        ? [emu.issued.refresh[0], emu.issued.refresh[0]]
        : [emu.issued.refresh[0], emu.issued.refresh[1]]);
      if (quirks.refresh === 'rotate' && !quirks.oldRefreshStaysValid) expect(emu.dead.has(emu.issued.refresh[0]!)).toBe(true);
      expect((await readAuditEvents(h)).filter((event) => event.event === 'refresh')).toHaveLength(2);
    }

    const revoke = await h.run(['revoke']);
    if (cannotRevoke(name)) {
      expect(revoke.code).toBe(7);
      const line = revoke.stderr.trimEnd();
      expect(line.split('\n')).toHaveLength(1);
      expect(line).toMatch(new RegExp(`^devlogin: devlogin cannot revoke this session at ${emu.issuer.replace(/[.?]/g, '\\$&')}: .+\\. The session was kept here; "devlogin logout" ends it on this machine\\.$`));
      expect(line).toContain(name === 'entra' ? 'Entra ID has no revocation endpoint' : name === 'dex' ? 'Dex has no revocation endpoint' : 'Settings > Applications');
      expect(await sessionFiles(h)).toEqual(['/sessions/default.json.enc']);
      const logout = await h.run(['logout']);
      expect(logout.code).toBe(0);
      const lines = logout.stderr.trimEnd().split('\n');
      expect(lines).toEqual([
        expect.stringMatching(/^warning: devlogin cannot revoke at this provider: .+\.$/),
        `Signed out of ${emu.issuer} (profile "default", ${USER.name}) on this machine; the tokens stay valid at the provider until revoked there.`,
      ]);
      const ends = (await readAuditEvents(h)).filter((event) => event.event === 'revoke' || event.event === 'logout');
      expect(ends).toEqual([
        expect.objectContaining({ event: 'revoke', outcome: 'failure', reason: 'cannot_revoke', revocation: 'cannot_revoke' }),
        expect.objectContaining({ event: 'logout', outcome: 'success', reason: 'user', revocation: 'cannot_revoke' }),
      ]);
      // Nothing was sent to a revocation endpoint: there is none this client may use.
      expect(emu.requests.filter((request) => /revoke|applications/.test(request.path))).toEqual([]);
    } else {
      expect(revoke.code, revoke.stderr).toBe(0);
      expect(revoke.stderr).toBe(`Session of profile "default" (${USER.name}) at ${emu.issuer}: revoked (the provider offers no introspection to confirm it).\n`);
      const latest = emu.issued.refresh.at(-1) ?? emu.issued.access.at(-1)!;
      expect(emu.dead.has(latest)).toBe(true);
      if (name === 'google') {
        // Google's revocation takes the token in the query [GO1].
        const call = emu.requests.find((request) => request.path.endsWith('/revoke'))!;
        expect(call.body.toString()).toBe('');
      }
    }
    expect(await sessionFiles(h)).toEqual([]);
    const texts = [revoke.stderr, revoke.stdout];
    expect(await findLeaks([...emu.issued.access, ...emu.issued.refresh, SECRET[name] ?? ''], { home: h.home, texts })).toEqual([]);
  });

  // A short-lived code (the providers let it be configured) keeps these quick.
  it(EMULATIONS[name].noDenial ? 'has no denial path: a denied code runs out, exit 5' : 'reports a denial as exit 5, storing nothing', async () => {
    const { h, emu } = await emulate(name, { expiresIn: 60 });
    const run = await login(h, emu, 'deny');
    expect(run.code).toBe(5);
    expect(lastLine(run.stderr)).toBe(EMULATIONS[name].noDenial
      ? 'devlogin: The code expired before the sign-in was completed. Run devlogin login again and approve within the time shown.'
      : 'devlogin: The sign-in was denied. Run devlogin login again if that was a mistake.');
    expectPacedPolls(emu);
    expect(await sessionFiles(h)).toEqual([]);
  });

  it('reports an expired code as exit 5, with no poll after the deadline', async () => {
    const { h, emu } = await emulate(name, { expiresIn: 60 });
    const run = await login(h, emu, 'none');
    expect(run.code).toBe(5);
    expect(lastLine(run.stderr)).toBe('devlogin: The code expired before the sign-in was completed. Run devlogin login again and approve within the time shown.');
    expectPacedPolls(emu);
    const grant = emu.grants[0]!;
    expect(emu.polls.every((at) => at < grant.expiresAt)).toBe(true);
    expect(emu.polls.length).toBeGreaterThanOrEqual(Math.floor(60 / (emu.quirks.interval * 1.1)) - 1);
    expect(await sessionFiles(h)).toEqual([]);
  });
});

describe('presets: recognition, settings, secrets and issuer rules', () => {
  it.each([
    ['https://github.com', 'github'], ['https://accounts.google.com', 'google'], ['https://login.microsoftonline.com/common/v2.0', 'entra'],
    ['https://gitlab.com', 'gitlab'], ['https://acme.okta.com/oauth2/default', 'okta'], ['https://dev-xyz.eu.auth0.com/', 'auth0'],
    ['https://sso.example.com/realms/demo', 'generic'], ['https://notokta.com', 'generic'], ['http://127.0.0.1:8080', 'generic'],
  ])('recognises %s as %s', (issuer, preset) => {
    expect(recognizeProvider(issuer)).toBe(preset);
  });

  it('refuses an unknown provider with exit 2, naming where it came from, before any request', async () => {
    const { h, emu } = await emulate('generic');
    const flag = await h.run(['login', '--provider', 'gitbub', '--issuer', emu.issuer, '--client-id', 'x']);
    expect(flag).toMatchObject({ code: 2, stdout: '', stderr: 'devlogin: Unknown provider "gitbub" (--provider). Use one of: github, google, entra, okta, auth0, keycloak, gitlab, dex, generic.\n' });
    const env = await h.run(['login', '--issuer', emu.issuer, '--client-id', 'x'], { env: { DEVLOGIN_PROVIDER: 'okay' } });
    expect(env.stderr).toBe('devlogin: Unknown provider "okay" (DEVLOGIN_PROVIDER). Use one of: github, google, entra, okta, auth0, keycloak, gitlab, dex, generic.\n');
    expect(emu.requests).toEqual([]);
  });

  it('signs in again from the profile alone: the preset was saved', async () => {
    const { h, emu } = await emulate('github');
    expect((await login(h, emu)).code).toBe(0);
    let decided = false;
    const again = await h.run(['login', '--json'], { onSleep: () => void (decided ||= (emu.approve(), true)) });
    expect(again.code, again.stderr).toBe(0);
    expect(jsonLines(again.stdout).at(-1)).toMatchObject({ subject: String(USER.id), issuer: emu.issuer });
    // GitHub has no discovery: nothing but the device, token and user endpoints was asked.
    expect([...new Set(emu.requests.map((request) => request.path))].sort()).toEqual(['/api/v3/user', '/login/device/code', '/login/oauth/access_token']);
  });

  it('Google: refuses offline_access and other scopes outside its device list, and needs the secret (exit 2, nothing sent)', async () => {
    const { h, emu } = await emulate('google');
    const scope = await login(h, emu, 'none', { args: ['--scope', 'openid email offline_access'] });
    expect(scope).toMatchObject({ code: 2, stdout: '' });
    expect(scope.stderr).toBe('devlogin: google does not allow the scope offline_access in the device flow (--scope). Allowed: openid email profile https://www.googleapis.com/auth/drive.appdata https://www.googleapis.com/auth/drive.file https://www.googleapis.com/auth/youtube https://www.googleapis.com/auth/youtube.readonly.\n');
    const noSecret = await h.run(['login', '--provider', 'google', '--issuer', emu.issuer, '--client-id', emu.clientId]);
    expect(noSecret).toMatchObject({ code: 2, stderr: 'devlogin: google needs the client\'s secret for the device flow. Set DEVLOGIN_CLIENT_SECRET to the secret of the "TVs and Limited Input devices" client (never pass it as a flag).\n' });
    const asFlag = await h.run(['login', '--provider', 'google', '--client-secret', 'GOCSPX-x']);
    expect(asFlag.code).toBe(2);
    expect(asFlag.stderr).toMatch(/^devlogin: unknown option '--client-secret'/);
    expect(emu.requests).toEqual([]);
  });

  it('Google: the secret goes on polls and refreshes only, never on the device request or the revocation', async () => {
    const { h, emu } = await emulate('google');
    expect((await login(h, emu)).code).toBe(0);
    expect((await h.run(['token', '--min-ttl', '7200'])).code).toBe(0);
    expect((await h.run(['revoke'])).code).toBe(0);
    const carried = emu.requests.filter((request) => request.method === 'POST').map((request) => [request.path, request.body.get('client_secret')]);
    expect(carried).toEqual([
      ['/device/code', null], ['/token', 'GOCSPX-emulated-secret'], ['/token', 'GOCSPX-emulated-secret'], ['/revoke', null],
    ]);
  });

  it('Google: accepts the ID token\'s issuer with the scheme too', async () => {
    const { h, emu } = await emulate('google', { tokenIssuer: undefined });
    expect((await login(h, emu)).code).toBe(0);
  });

  it.each(['keycloak', 'dex'] as const)('%s: a confidential client sends its secret on the device request and the polls', async (name) => {
    const { h, emu } = await emulate(name, { secret: { value: 'kc-secret', on: 'device' } });
    const run = await login(h, emu, 'approve', { env: { DEVLOGIN_CLIENT_SECRET: 'kc-secret' } });
    expect(run.code, run.stderr).toBe(0);
    const posts = emu.requests.filter((request) => request.method === 'POST');
    expect(posts.map((request) => request.body.get('client_secret'))).toEqual(['kc-secret', 'kc-secret']);
    expect(await findLeaks(['kc-secret'], { home: h.home, texts: [run.stdout, run.stderr] })).toEqual([]);
  });

  it('Auth0: DEVLOGIN_CLIENT_SECRET is refused before anything is sent (Auth0 rejects a client that sends one)', async () => {
    const { h, emu } = await emulate('auth0');
    const run = await login(h, emu, 'none', { env: { DEVLOGIN_CLIENT_SECRET: 'nope' } });
    expect(run).toMatchObject({ code: 2, stdout: '', stderr: 'devlogin: auth0 device-flow clients have no secret, and DEVLOGIN_CLIENT_SECRET is set. Unset DEVLOGIN_CLIENT_SECRET: the provider refuses a client that sends one.\n' });
    expect(emu.requests).toEqual([]);
  });

  it('Auth0: the issuer is accepted with or without its trailing slash; another issuer is refused (exit 7)', async () => {
    const { h, emu } = await emulate('auth0');
    let decided = false;
    const slash = await h.run(['login', '--json', '--provider', 'auth0', '--issuer', `${emu.issuer}/`, '--client-id', emu.clientId], { onSleep: () => void (decided ||= (emu.approve(), true)) });
    expect(slash.code, slash.stderr).toBe(0);
    const other = await emulate('generic', { metadataIssuer: () => 'https://evil.example' });
    const refused = await login(other.h, other.emu, 'none');
    expect(refused.code).toBe(7);
    expect(lastLine(refused.stderr)).toBe(`devlogin: The provider's discovery document names the issuer https://evil.example, not ${other.emu.issuer}; refused. Pass the issuer exactly as the provider spells it (--issuer), and --provider when it is a known one.`);
  });

  it('Entra: {tenantid} is filled from the signed tid only; a token whose tid names another tenant is refused', async () => {
    const { h, emu } = await emulate('entra', { extraClaims: { tid: '9188040d-6c67-4c5b-b112-36a304b66dad' } });
    const run = await login(h, emu);
    expect(run.code).toBe(7);
    expect(lastLine(run.stderr)).toMatch(/^devlogin: The ID token failed verification: unexpected "iss" claim value\. Nothing was stored\./);
    expect(await sessionFiles(h)).toEqual([]);
    const noTid = await emulate('entra', { extraClaims: {} });
    const refused = await login(noTid.h, noTid.emu);
    expect(lastLine(refused.stderr)).toMatch(/^devlogin: The ID token failed verification: its tenant \(tid\) does not fill the issuer http:\/\/127\.0\.0\.1:\d+\/\{tenantid\}\/v2\.0\./);
  });

  it('GitHub: form bodies even when JSON is asked for (older GHES) still sign in', async () => {
    const { h, emu } = await emulate('github-app', { format: 'form' });
    const run = await login(h, emu);
    expect(run.code, run.stderr).toBe(0);
    expect(jsonLines(run.stdout).at(-1)).toMatchObject({ scope: 'read:user', access_token_expires_at: expect.any(String) });
  });

  it('GitHub: with the app\'s secret, revoke deletes the token through the API; the polls never carry it', async () => {
    const { h, emu } = await emulate('github');
    expect((await login(h, emu, 'approve', { env: { DEVLOGIN_CLIENT_SECRET: 'gh-app-secret' } })).code).toBe(0);
    expect(emu.requests.filter((request) => request.body.has('client_secret'))).toEqual([]);
    const revoke = await h.run(['revoke']);
    expect(revoke).toMatchObject({ code: 0, stderr: `Session of profile "default" (${USER.name}) at ${emu.issuer}: revoked (the provider offers no introspection to confirm it).\n` });
    expect(emu.dead.has(emu.issued.access[0]!)).toBe(true);
    expect(emu.requests.at(-1)).toMatchObject({ method: 'DELETE', path: `/api/v3/applications/${emu.clientId}/token` });
  });

  it('GitHub: whoami --online exits 4 and ends the session when the API no longer accepts the token', async () => {
    const { h, emu } = await emulate('github');
    expect((await login(h, emu)).code).toBe(0);
    emu.dead.add(emu.issued.access[0]!);
    const online = await h.run(['whoami', '--online']);
    expect(online).toMatchObject({ code: 4, stdout: '' });
    expect(lastLine(online.stderr)).toBe('devlogin: The provider says this session is no longer valid; it was ended here too. Run "devlogin login" to sign in again.');
    expect(await sessionFiles(h)).toEqual([]);
  });

  it('Okta with "Require DPoP": without --dpop the refusal says what to do', async () => {
    const { h, emu } = await emulate('okta-dpop');
    let decided = false;
    const run = await h.run(['login', '--provider', 'okta', '--issuer', emu.issuer, '--client-id', emu.clientId], { onSleep: () => void (decided ||= (emu.approve(), true)) });
    expect(run.code).toBe(7);
    expect(lastLine(run.stderr)).toBe('devlogin: The provider refused the token request (invalid_dpop_proof). This client requires DPoP-bound tokens: sign in with --dpop.');
  });
});

describe('issuer rules', () => {
  const MSA = '9188040d-6c67-4c5b-b112-36a304b66dad';
  const ms = 'https://login.microsoftonline.com';
  it.each([
    ['entra', `${ms}/common/v2.0`, `${ms}/{tenantid}/v2.0`, true],
    ['entra', `${ms}/organizations/v2.0`, `${ms}/{tenantid}/v2.0`, true],
    ['entra', `${ms}/consumers/v2.0`, `${ms}/${MSA}/v2.0`, true],
    ['entra', `${ms}/contoso.onmicrosoft.com/v2.0`, `${ms}/${MSA}/v2.0`, true],
    ['entra', `${ms}/${MSA}/v2.0`, `${ms}/${MSA}/v2.0`, true],
    ['entra', `${ms}/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0`, `${ms}/${MSA}/v2.0`, false],
    ['entra', `${ms}/common/v2.0`, `https://login.evil.example/{tenantid}/v2.0`, false],
    ['entra', `${ms}/common/v2.0`, `${ms}/not-a-guid/v2.0`, false],
    ['auth0', 'https://dev-xyz.eu.auth0.com', 'https://dev-xyz.eu.auth0.com/', true],
    ['generic', 'https://id.example', 'https://id.example/', true],
    ['generic', 'https://id.example/realm', 'https://id.example/realm/', false],
    ['google', 'https://accounts.google.com', 'accounts.google.com', false],
  ] as const)('%s: configured %s, discovered %s: %s', (provider, configured, discovered, matches) => {
    expect(issuerMatches(provider, configured, discovered)).toBe(matches);
  });
  it('fills Entra\'s template only from a GUID tid, and accepts Google\'s two forms', () => {
    expect(acceptedTokenIssuers('entra', `${ms}/{tenantid}/v2.0`, { tid: MSA })).toEqual([`${ms}/${MSA}/v2.0`]);
    expect(acceptedTokenIssuers('entra', `${ms}/{tenantid}/v2.0`, { tid: '../evil' })).toEqual([]);
    expect(acceptedTokenIssuers('google', 'https://accounts.google.com', {})).toEqual(['https://accounts.google.com', 'accounts.google.com']);
  });
});
