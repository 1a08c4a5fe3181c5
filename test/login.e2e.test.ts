/**
 * `devlogin login` end to end: the built CLI as a child process against the
 * real local OpenID provider, approval done on the provider's own pages.
 */
import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalProvider } from '../demo/provider.js';
import { findLeaks, readAuditEvents, readTree, runCli, startCli, useTempHomes } from './helpers/cli.js';
import { introspect, signIn, startProvider } from './helpers/session.js';

let provider: LocalProvider;
const home = useTempHomes();

beforeAll(async () => {
  provider = await startProvider();
});
afterAll(async () => {
  await provider.close();
});

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const parseLines = (stdout: string) => stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
const seconds = (iso: unknown) => Date.parse(String(iso)) / 1000;
const auditLines = readAuditEvents;

describe('devlogin login', () => {
  it('signs in, prints the two JSON events, and stores an encrypted session', async () => {
    const h = await home();
    const started = Date.now() / 1000;
    const run = await signIn(provider, h);

    expect(run.code).toBe(0);
    const [verification, signedIn, ...rest] = parseLines(run.stdout);
    expect(rest).toEqual([]);
    expect(verification).toEqual({
      event: 'verification',
      user_code: expect.stringMatching(/^[A-Z]{4}-[A-Z]{4}$/),
      verification_uri: `${provider.issuer}/device`,
      verification_uri_complete: `${provider.issuer}/device?user_code=${String(verification!.user_code)}`,
      expires_at: expect.any(String),
      warning: null,
    });
    expect(seconds(verification!.expires_at) - started).toBeGreaterThan(590);
    expect(signedIn).toEqual({
      event: 'signed_in',
      profile: 'default',
      issuer: provider.issuer,
      subject: 'alice',
      name: 'Alice',
      email: 'alice@example.test',
      scope: 'openid profile email offline_access',
      access_token_expires_at: expect.any(String),
      session_expires_at: expect.any(String),
      vault: 'passphrase',
      dpop_bound: true, // the local provider offers DPoP, so login binds the tokens by default
    });
    expect(seconds(signedIn!.session_expires_at) - started).toBeGreaterThanOrEqual(3599);
    expect(seconds(signedIn!.session_expires_at) - started).toBeLessThan(3620);

    // People's text is on stderr: the code, the URI, the warning, who signed in.
    expect(run.stderr).toContain(`Your one-time code: ${String(verification!.user_code)}`);
    expect(run.stderr).toContain(`Enter it at:        ${provider.issuer}/device`);
    expect(run.stderr).toContain('Enter this code only if you started this sign-in yourself');
    expect(run.stderr).toContain('Signed in as Alice <alice@example.test>');
    expect(run.stderr).not.toMatch(/▄|█/); // no QR code when stderr is not a terminal

    const files = await readTree(h.home);
    const session = files.find((file) => file.path.endsWith(join('sessions', 'default.json.enc')))!;
    expect(session.mode).toBe(0o600);
    expect((await stat(join(h.home, 'sessions'))).mode & 0o777).toBe(0o700);
    const envelope = JSON.parse(session.content.toString()) as Record<string, unknown>;
    expect(envelope).toMatchObject({ format: 'devlogin-session', version: 1, backend: 'passphrase', meta: { profile: 'default', subject: 'alice', issuer: provider.issuer } });

    const config = JSON.parse(await readFile(join(h.home, 'config.json'), 'utf8')) as unknown;
    expect(config).toEqual({ profiles: { default: { issuer: provider.issuer, clientId: provider.clientId, scope: 'openid profile email offline_access' } } });

    const audit = await auditLines(h);
    expect(audit).toEqual([expect.objectContaining({ event: 'login', outcome: 'success', profile: 'default', subject: 'alice', issuer: provider.issuer, clientId: provider.clientId })]);
  });

  it('leaves no token in DEVLOGIN_HOME, stdout or stderr', async () => {
    const h = await home();
    const issuedBefore = provider.issued.length;
    const run = await signIn(provider, h, { args: ['--verbose'] });
    expect(run.code).toBe(0);
    const tokens = provider.issued.slice(issuedBefore).flatMap((set) => [set.access_token, set.refresh_token, set.id_token]).filter((t): t is string => Boolean(t));
    expect(tokens.length).toBeGreaterThanOrEqual(3);
    expect(await findLeaks(tokens, { home: h.home, texts: [run.stdout, run.stderr] })).toEqual([]);
    // --verbose logged the exchanges, without bodies.
    expect(run.stderr).toMatch(/\[devlogin\] POST http:\/\/127\.0\.0\.1:\d+\/token → 200/);
  });

  it('records --max-session and saves the profile so the next login needs only --profile', async () => {
    const h = await home();
    const first = await signIn(provider, h, { args: ['--profile', 'work', '--max-session', '30m', '--scope', 'openid email'] });
    expect(first.code).toBe(0);
    const signedIn = parseLines(first.stdout)[1]!;
    expect(signedIn).toMatchObject({ profile: 'work', scope: 'openid email' });
    expect(seconds(signedIn.session_expires_at) - Date.now() / 1000).toBeGreaterThan(1780);
    expect(seconds(signedIn.session_expires_at) - Date.now() / 1000).toBeLessThanOrEqual(1800);
    const firstAccessToken = provider.issued.at(-1)!.access_token!;

    const cli = startCli(['login', '--json', '--profile', 'work'], h.env);
    const verification = await cli.waitForEvent('verification');
    const { approveDeviceCode } = await import('../demo/approve.js');
    await approveDeviceCode({ issuer: provider.issuer, userCode: String(verification.user_code), login: 'bob' });
    const second = await cli.done;
    expect(second.code).toBe(0);
    expect(parseLines(second.stdout)[1]).toMatchObject({ profile: 'work', subject: 'bob', issuer: provider.issuer, scope: 'openid email' });
    const sessions = (await readTree(h.home)).filter((file) => file.path.includes('sessions'));
    expect(sessions.map((file) => file.path.replace(h.home, ''))).toEqual(['/sessions/work.json.enc']);
    // The replaced session was revoked at the provider, not left valid.
    expect((await introspect(provider, firstAccessToken)).active).toBe(false);
    expect((await auditLines(h)).map((event) => [event.event, event.reason ?? null])).toEqual([['login', null], ['logout', 'replaced'], ['login', null]]);
  });

  it('exits 5 and stores nothing when the user denies', async () => {
    const h = await home();
    const run = await signIn(provider, h, { decision: 'deny' });
    expect(run.code).toBe(5);
    expect(run.stderr.trimEnd().split('\n').at(-1)).toBe('devlogin: The sign-in was denied. Run devlogin login again if that was a mistake.');
    expect(parseLines(run.stdout).map((event) => event.event)).toEqual(['verification']);
    expect((await readTree(h.home)).some((file) => file.path.includes('sessions'))).toBe(false);
    expect(await auditLines(h)).toEqual([expect.objectContaining({ event: 'login_failed', outcome: 'failure', reason: 'access_denied' })]);
  });

  it('exits 5 when the code expires before approval', async () => {
    const shortLived = await startProvider({ deviceCodeTtl: 2 });
    try {
      const h = await home();
      const run = await signIn(shortLived, h, { decision: 'none' });
      expect(run.code).toBe(5);
      expect(run.stderr).toContain('devlogin: The code expired before the sign-in was completed.');
      expect((await readTree(h.home)).some((file) => file.path.includes('sessions'))).toBe(false);
    } finally {
      await shortLived.close();
    }
  });

  it('stops on Ctrl-C with exit 130 and stores nothing', async () => {
    const h = await home();
    const cli = startCli(['login', '--json', '--issuer', provider.issuer, '--client-id', provider.clientId], h.env);
    await cli.waitForEvent('verification');
    cli.child.kill('SIGINT');
    const result = await cli.done;
    expect(result.code).toBe(130);
    expect(result.stderr.trimEnd().split('\n').at(-1)).toBe('devlogin: Interrupted; nothing was stored.');
    expect((await readTree(h.home)).some((file) => file.path.includes('sessions'))).toBe(false);
  });
});

describe('devlogin login: bad input and unavailable things', () => {
  const oneLine = (stderr: string) => {
    const lines = stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(stderr).not.toMatch(/\n\s+at /);
    return lines[0];
  };

  it.each([
    [['--issuer', 'http://login.example.com', '--client-id', 'x'], 'devlogin: The issuer http://login.example.com/ does not use HTTPS. Only https:// issuers are accepted (plain http:// only on 127.0.0.1, ::1 or localhost).'],
    [['--issuer', 'not a url', '--client-id', 'x'], 'devlogin: The issuer "not a url" is not a URL. Pass the full issuer URL, e.g. --issuer https://login.example.com'],
    [['--client-id', 'x'], 'devlogin: No issuer is configured. Pass --issuer URL or set DEVLOGIN_ISSUER.'],
    [['--issuer', 'https://login.example.com'], 'devlogin: No client id is configured. Pass --client-id ID or set DEVLOGIN_CLIENT_ID.'],
    [['--issuer', 'https://login.example.com', '--client-id', 'x', '--max-session', 'soon'], 'devlogin: Invalid max session "soon". Use a number of seconds or a value like 90s, 15m, 1h.'],
    [['--issuer', 'https://login.example.com', '--client-id', 'x', '--max-session', '13h'], 'devlogin: The max session of 13h is longer than the 12h ceiling. Use --max-session 12h or less.'],
    [['--issuer', 'https://login.example.com', '--client-id', 'x', '--profile', '../etc'], 'devlogin: Invalid profile name "../etc". Use letters, digits, ".", "_" or "-" (at most 64 characters), starting with a letter or digit.'],
    [['--frobnicate'], "devlogin: unknown option '--frobnicate' (see devlogin --help)"],
  ])('login %j exits 2 with one line', async (args, message) => {
    const h = await home();
    const result = await runCli(['login', ...args], h.env);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(oneLine(result.stderr)).toBe(message);
  });

  it('exits 7 when the provider cannot be reached', async () => {
    const h = await home();
    const port = await closedPort();
    const result = await runCli(['login', '--issuer', `http://127.0.0.1:${port}`, '--client-id', 'x'], h.env);
    expect(result.code).toBe(7);
    expect(result.stdout).toBe('');
    expect(result.stderr.trimEnd().split('\n').at(-1)).toMatch(/^devlogin: Could not reach the provider at the discovery endpoint of http:\/\/127\.0\.0\.1:\d+\/: .*ECONNREFUSED.*Check the issuer URL/);
  });

  it('exits 6 naming both fixes when there is no keychain and no passphrase, before asking anyone to approve', async () => {
    const h = await home({ DEVLOGIN_VAULT: undefined, DEVLOGIN_VAULT_PASSPHRASE: undefined, DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/bus' });
    const before = provider.requests.get('/device/auth') ?? 0;
    const result = await runCli(['login', '--issuer', provider.issuer, '--client-id', provider.clientId], h.env);
    expect(result.code).toBe(6);
    const last = result.stderr.trimEnd().split('\n').at(-1)!;
    expect(last).toMatch(/^devlogin: No vault to store the session in\. The OS keychain is not available: .*/);
    expect(last).toContain('Start or unlock your OS keychain');
    expect(last).toContain('set DEVLOGIN_VAULT_PASSPHRASE');
    expect(provider.requests.get('/device/auth') ?? 0).toBe(before);
  });

  it('exits 6 when DEVLOGIN_VAULT=passphrase has no passphrase', async () => {
    const h = await home({ DEVLOGIN_VAULT_PASSPHRASE: undefined });
    const result = await runCli(['login', '--issuer', provider.issuer, '--client-id', provider.clientId], h.env);
    expect(result.code).toBe(6);
    expect(oneLine(result.stderr)).toBe('devlogin: This session is in the passphrase vault, but DEVLOGIN_VAULT_PASSPHRASE is not set. Set DEVLOGIN_VAULT_PASSPHRASE to the passphrase used at login.');
  });
});
