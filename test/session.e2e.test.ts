/**
 * The session life cycle end to end: whoami, token, exec, logout, revoke,
 * sessions, audit and lifetime enforcement, with the built CLI as a child
 * process against the real local provider.
 */
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalProvider } from '../demo/provider.js';
import { BIN, findLeaks, makeHome, readAuditEvents, readTree, runCli, type TestHome } from './helpers/cli.js';
import { introspect, signIn, startProvider } from './helpers/session.js';

let provider: LocalProvider;
const homes: TestHome[] = [];

beforeAll(async () => {
  // 30 s tokens at sign-in (inside token's 60 s margin, so the first use refreshes), 10 min after a refresh.
  provider = await startProvider({ accessTokenTtl: (grant) => (grant === 'refresh_token' ? 600 : 30) });
});
afterAll(async () => {
  await provider.close();
  await Promise.all(homes.map((h) => h.cleanup()));
});

/** A fresh home with a signed-in session; returns the tokens the provider issued for it. */
async function signedIn(args: string[] = [], user = 'alice', extra: NodeJS.ProcessEnv = {}) {
  const h = await makeHome(extra);
  homes.push(h);
  const before = provider.issued.length;
  // Bearer sessions: token and exec refuse DPoP-bound ones (dpop.e2e covers those).
  const run = await signIn(provider, h, { args: ['--no-dpop', ...args], user });
  expect(run.code, run.stderr).toBe(0);
  const issued = provider.issued.slice(before).at(-1)!;
  return { h, accessToken: issued.access_token!, refreshToken: issued.refresh_token! };
}

const tokenRequests = () => provider.requests.get('/token') ?? 0;
const lastLine = (text: string) => text.trimEnd().split('\n').at(-1);
const json = (stdout: string) => JSON.parse(stdout) as Record<string, unknown>;
const audit = readAuditEvents;
const sessionFiles = async (h: TestHome) => (await readTree(h.home)).filter((file) => file.path.includes('/sessions/')).map((file) => file.path.replace(h.home, ''));

describe('whoami', () => {
  it('answers offline from the verified claims, for people and for scripts', async () => {
    const { h } = await signedIn();
    const requests = [...provider.requests.values()].reduce((a, b) => a + b, 0);
    const human = await runCli(['whoami'], h.env);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(new RegExp(`^Signed in to ${provider.issuer} as Alice <alice@example.test>\n  profile  default\n  subject  alice\n  client   ${provider.clientId}\n  scope    openid profile email offline_access\n  token    expires .*\n  session  ends .*\n  vault    passphrase\n  binding  Bearer\n$`));
    const machine = await runCli(['whoami', '--json'], h.env);
    expect(machine.code).toBe(0);
    expect(json(machine.stdout)).toEqual({
      profile: 'default', signed_in: true, issuer: provider.issuer, client_id: provider.clientId, subject: 'alice',
      name: 'Alice', email: 'alice@example.test', preferred_username: 'alice', scope: 'openid profile email offline_access',
      access_token_expires_at: expect.any(String), access_token_valid: true, session_expires_at: expect.any(String),
      session_id: expect.stringMatching(/^[0-9a-f-]{36}$/), vault: 'passphrase', dpop_bound: false, online: null,
    });
    expect([...provider.requests.values()].reduce((a, b) => a + b, 0)).toBe(requests); // offline: no request at all
  });

  it('exits 3 when nobody is signed in, with a JSON answer for scripts', async () => {
    const h = await makeHome();
    homes.push(h);
    const result = await runCli(['whoami', '--json', '--profile', 'ci'], h.env);
    expect(result.code).toBe(3);
    expect(json(result.stdout)).toEqual({ profile: 'ci', signed_in: false, reason: 'not_signed_in' });
    expect(result.stderr).toBe('devlogin: Not signed in (profile "ci"). Run "devlogin login --profile ci".\n');
  });

  it('--online asks the provider, refreshing the expired-soon token first', async () => {
    const { h } = await signedIn();
    const result = await runCli(['whoami', '--online', '--json'], h.env);
    expect(result.code).toBe(0);
    expect(json(result.stdout)).toMatchObject({ signed_in: true, online: { active: true, checked_with: ['introspection', 'userinfo'] } });
  });

  it('--online exits 4 and ends the session when the provider revoked it', async () => {
    const { h, refreshToken } = await signedIn();
    await fetch(`${provider.issuer}/token/revocation`, { method: 'POST', body: new URLSearchParams({ token: refreshToken, client_id: provider.clientId }) });
    const result = await runCli(['whoami', '--online', '--json'], h.env);
    expect(result.code).toBe(4);
    expect(json(result.stdout)).toEqual({ profile: 'default', signed_in: false, reason: expect.stringMatching(/^(invalid_grant|inactive)$/) });
    expect(await sessionFiles(h)).toEqual([]);
  });
});

describe('token and exec', () => {
  it('prints only the token, refreshes it when it is about to expire, and never moves the session end', async () => {
    const { h, accessToken, refreshToken } = await signedIn();
    const before = json((await runCli(['whoami', '--json'], h.env)).stdout);
    const requests = tokenRequests();
    const first = await runCli(['token'], h.env); // the sign-in token expires within 60 s: refresh
    expect(first.code).toBe(0);
    expect(first.stderr).toBe('');
    const refreshed = provider.issued.at(-1)!;
    expect(first.stdout).toBe(`${refreshed.access_token}\n`);
    expect(refreshed.access_token).not.toBe(accessToken);
    expect(refreshed.refresh_token).not.toBe(refreshToken); // rotated
    expect(tokenRequests()).toBe(requests + 1);
    expect((await introspect(provider, refreshToken)).active).toBe(false);

    const second = await runCli(['token', '--json'], h.env); // valid for 10 min now: no request
    expect(json(second.stdout)).toEqual({ access_token: refreshed.access_token, token_type: 'Bearer', expires_at: expect.any(String) });
    expect(tokenRequests()).toBe(requests + 1);

    const after = json((await runCli(['whoami', '--json'], h.env)).stdout);
    expect(after.session_expires_at).toBe(before.session_expires_at);
    expect(after.access_token_expires_at).not.toBe(before.access_token_expires_at);
    expect((await audit(h)).map((event) => event.event)).toEqual(['login', 'refresh', 'token_read', 'token_read']);
  });

  it('8 processes at once: exactly one refresh reaches the provider and all get the new token', async () => {
    const { h } = await signedIn();
    const requests = tokenRequests();
    const results = await Promise.all(Array.from({ length: 8 }, () => runCli(['token'], h.env)));
    expect(results.map((r) => r.code)).toEqual(Array(8).fill(0));
    const refreshed = provider.issued.at(-1)!.access_token;
    expect(new Set(results.map((r) => r.stdout))).toEqual(new Set([`${refreshed}\n`]));
    expect(tokenRequests()).toBe(requests + 1);
    const again = await runCli(['token'], h.env);
    expect(again).toMatchObject({ code: 0, stdout: `${refreshed}\n` });
    expect((await audit(h)).filter((event) => event.event === 'refresh')).toHaveLength(1);
  });

  it('exits 4 and ends the session when the refresh token was revoked (invalid_grant)', async () => {
    const { h, refreshToken } = await signedIn();
    await fetch(`${provider.issuer}/token/revocation`, { method: 'POST', body: new URLSearchParams({ token: refreshToken, client_id: provider.clientId }) });
    const result = await runCli(['token'], h.env);
    expect(result.code).toBe(4);
    expect(result.stdout).toBe('');
    expect(lastLine(result.stderr)).toBe('devlogin: The provider no longer accepts this session (invalid_grant): it was revoked or expired there. Run "devlogin login" to sign in again.');
    expect(await sessionFiles(h)).toEqual([]);
    expect((await audit(h)).at(-1)).toMatchObject({ event: 'session_expired', reason: 'invalid_grant' });
  });

  it('exec puts the token in the environment, not argv, and passes exit codes, stdin and signals through', async () => {
    const { h } = await signedIn();
    const token = (await runCli(['token'], h.env)).stdout.trim();
    const script = 'let input="";process.stdin.on("data",d=>input+=d).on("end",()=>{console.log(JSON.stringify({env:{t:process.env.DEVLOGIN_ACCESS_TOKEN,type:process.env.DEVLOGIN_TOKEN_TYPE,iss:process.env.DEVLOGIN_ISSUER,p:process.env.DEVLOGIN_PROFILE},argv:process.argv,input}));process.exit(42)})';
    const run = spawnSync(process.execPath, [BIN, 'exec', '--', process.execPath, '-e', script], { env: h.env, input: 'hello from stdin', encoding: 'utf8' });
    expect(run.status).toBe(42);
    const seen = JSON.parse(run.stdout) as { env: Record<string, string>; argv: string[]; input: string };
    expect(seen.env).toEqual({ t: token, type: 'Bearer', iss: provider.issuer, p: 'default' });
    expect(seen.argv.join(' ')).not.toContain(token);
    expect(seen.input).toBe('hello from stdin');

    const killed = spawnSync(process.execPath, [BIN, 'exec', '--', 'sh', '-c', 'kill -TERM $$'], { env: h.env, encoding: 'utf8' });
    expect(killed.status).toBe(143);
    const missing = spawnSync(process.execPath, [BIN, 'exec', '--', 'no-such-command-devlogin'], { env: h.env, encoding: 'utf8' });
    expect(missing.status).toBe(127);
    expect(missing.stderr).toBe('devlogin: cannot run "no-such-command-devlogin": command not found\n');
    expect((await audit(h)).filter((event) => event.event === 'exec').map((event) => event.command)).toEqual([basename(process.execPath), 'sh', 'no-such-command-devlogin']);
  });

  it('exec forwards Ctrl-C to the child and exits as the child did', async () => {
    const { h } = await signedIn();
    const { spawn } = await import('node:child_process');
    // A node child, not sh: dash can lose a trapped SIGINT that lands while it forks its loop's next command.
    const script = 'process.on("SIGINT", () => { console.log("got-int"); process.exit(7); }); console.log("ready"); setInterval(() => {}, 1000);';
    const child = spawn(process.execPath, [BIN, 'exec', '--', process.execPath, '-e', script], { env: h.env });
    let out = '';
    await new Promise<void>((resolve) => child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('ready')) resolve();
    }));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(out).toContain('got-int');
    expect(code).toBe(7);
  });
});

describe('ending sessions', () => {
  it('logout revokes at the provider, then removes the session; a second logout has nothing to do', async () => {
    const { h, refreshToken } = await signedIn();
    const result = await runCli(['logout'], h.env);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(`Signed out of ${provider.issuer} (profile "default", Alice); the tokens were revoked at the provider.\n`);
    expect((await introspect(provider, refreshToken)).active).toBe(false);
    expect(await sessionFiles(h)).toEqual([]);
    const again = await runCli(['logout'], h.env);
    expect(again).toMatchObject({ code: 0, stderr: 'Not signed in (profile "default"); nothing to do.\n' });
    expect((await audit(h)).map((event) => event.event)).toEqual(['login', 'logout']);
  });

  it('logout --local leaves the provider alone', async () => {
    const { h, refreshToken } = await signedIn();
    const result = await runCli(['logout', '--local'], h.env);
    expect(result.code).toBe(0);
    expect((await introspect(provider, refreshToken)).active).toBe(true);
    expect(await sessionFiles(h)).toEqual([]);
  });

  it('logout --all ends every profile', async () => {
    const { h } = await signedIn();
    const second = await signIn(provider, h, { args: ['--profile', 'work', '--no-dpop'], user: 'bob' });
    expect(second.code).toBe(0);
    expect(await sessionFiles(h)).toHaveLength(2);
    const result = await runCli(['logout', '--all'], h.env);
    expect(result.code).toBe(0);
    expect(result.stderr.trim().split('\n')).toHaveLength(2);
    expect(await sessionFiles(h)).toEqual([]);
  });

  it('revoke ends the session at the provider, confirmed by introspection', async () => {
    const { h, refreshToken, accessToken } = await signedIn();
    const result = await runCli(['revoke'], h.env);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(`Session of profile "default" (Alice) at ${provider.issuer}: revoked, confirmed by the provider.\n`);
    expect((await introspect(provider, refreshToken)).active).toBe(false);
    expect((await introspect(provider, accessToken)).active).toBe(false);
    expect(await sessionFiles(h)).toEqual([]);
    expect((await audit(h)).at(-1)).toMatchObject({ event: 'revoke', outcome: 'success' });
    expect((await runCli(['revoke'], h.env)).code).toBe(3);
  });

  it('revoke keeps the session and exits 7 when the provider cannot be reached', async () => {
    const doomed = await startProvider();
    try {
      const h = await makeHome();
      homes.push(h);
      expect((await signIn(doomed, h)).code).toBe(0);
      await doomed.close();
      const result = await runCli(['revoke'], h.env);
      expect(result.code).toBe(7);
      expect(lastLine(result.stderr)).toMatch(/^devlogin: Could not revoke the session at http:\/\/127\.0\.0\.1:\d+: Could not reach the provider .* The session of profile "default" was kept so that you can retry "devlogin revoke"; "devlogin logout --local" drops it without telling the provider\.$/);
      expect(await sessionFiles(h)).toEqual(['/sessions/default.json.enc']);
      expect((await runCli(['whoami'], h.env)).code).toBe(0);
    } finally {
      await doomed.close().catch(() => undefined);
    }
  });
});

describe('lifetime, listing, audit, vault errors', () => {
  it('a session past --max-session is purged and revoked on next use: exit 4', async () => {
    const { h, refreshToken } = await signedIn(['--max-session', '2s']);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const listed = await runCli(['sessions', '--json'], h.env);
    expect(json(listed.stdout)).toMatchObject({ profile: 'default', state: 'expired', subject: 'alice' });
    const result = await runCli(['whoami'], h.env);
    expect(result.code).toBe(4);
    expect(lastLine(result.stderr)).toMatch(/^devlogin: The session reached its maximum lifetime at .* and was ended\. Run "devlogin login" to sign in again\.$/);
    expect(await sessionFiles(h)).toEqual([]);
    expect((await introspect(provider, refreshToken)).active).toBe(false);
    expect((await audit(h)).at(-1)).toMatchObject({ event: 'session_expired', reason: 'max_session', subject: 'alice' });
    expect((await runCli(['whoami'], h.env)).code).toBe(3);
  });

  it('sessions lists every profile without unlocking anything', async () => {
    const { h } = await signedIn();
    const config = JSON.parse(await readFile(join(h.home, 'config.json'), 'utf8')) as { profiles: Record<string, unknown> };
    config.profiles.spare = { issuer: 'https://login.example.com', clientId: 'spare' };
    await writeFile(join(h.home, 'config.json'), JSON.stringify(config));
    const result = await runCli(['sessions', '--json'], { ...h.env, DEVLOGIN_VAULT_PASSPHRASE: 'not the passphrase' });
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n').map((line) => JSON.parse(line) as unknown)).toEqual([
      { profile: 'default', state: 'active', issuer: provider.issuer, client_id: provider.clientId, subject: 'alice', access_token_expires_at: expect.any(String), session_expires_at: expect.any(String), vault: 'passphrase' },
      { profile: 'spare', state: 'not_signed_in', issuer: 'https://login.example.com', client_id: 'spare', subject: null, access_token_expires_at: null, session_expires_at: null, vault: null },
    ]);
    const table = await runCli(['sessions'], h.env);
    expect(table.stdout.split('\n')[0]).toMatch(/^PROFILE\s+STATE\s+SUBJECT\s+ISSUER\s+SESSION ENDS$/);
    expect(table.stdout).toMatch(/\ndefault\s+active\s+alice\s+http:\/\/127/);
  });

  it('audit shows the newest events last, and never a token', async () => {
    const { h, accessToken, refreshToken } = await signedIn();
    const token = (await runCli(['token'], h.env)).stdout.trim();
    await runCli(['whoami'], h.env);
    const shown = await runCli(['audit', '--limit', '2', '--json'], h.env);
    expect(shown.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { event: string }).event)).toEqual(['refresh', 'token_read']);
    const human = await runCli(['audit'], h.env);
    expect(human.stdout.trim().split('\n')).toHaveLength(3);
    expect(human.stdout).toMatch(/^\S+Z {2}login +default +success +alice/);
    expect(await findLeaks([accessToken, refreshToken, token, ...provider.issued.flatMap((t) => [t.access_token ?? '', t.refresh_token ?? ''])], { home: h.home, texts: [human.stdout, shown.stdout] })).toEqual([]);
    expect((await runCli(['audit', '--limit', 'lots'], h.env))).toMatchObject({ code: 2, stderr: 'devlogin: Invalid --limit "lots". Use a whole number of events, at least 1.\n' });
  });

  it('a wrong passphrase or a tampered file is exit 6 with one line, and the session survives a wrong passphrase', async () => {
    const { h } = await signedIn();
    const wrong = await runCli(['whoami'], { ...h.env, DEVLOGIN_VAULT_PASSPHRASE: 'nope' });
    expect(wrong.code).toBe(6);
    expect(wrong.stderr).toBe('devlogin: Wrong vault passphrase, or the session file was tampered with. Check DEVLOGIN_VAULT_PASSPHRASE. Run "devlogin logout --local" to drop it, then sign in again.\n');
    expect((await runCli(['whoami'], h.env)).code).toBe(0);

    const file = join(h.home, 'sessions', 'default.json.enc');
    const envelope = JSON.parse(await readFile(file, 'utf8')) as { meta: { subject: string } };
    envelope.meta.subject = 'mallory';
    await writeFile(file, JSON.stringify(envelope));
    const tampered = await runCli(['token'], h.env);
    expect(tampered).toMatchObject({ code: 6, stdout: '' });
    expect(tampered.stderr).toBe('devlogin: The stored session for profile "default" cannot be decrypted. Run "devlogin logout --local" to drop it, then sign in again.\n');
    expect((await runCli(['logout', '--local'], h.env)).code).toBe(0);
    expect(await sessionFiles(h)).toEqual([]);
  });
});

function basename(path: string): string {
  return path.split('/').at(-1)!;
}
