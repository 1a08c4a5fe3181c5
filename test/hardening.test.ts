/**
 * Attacks on what devlogin keeps on disk and reads from the provider, each
 * asserting the secure outcome: the exit code, the one line, nothing outside
 * the state folder touched, no secret anywhere, the session intact where it
 * should be. Here "another user" is a uid the test chowns files to (the
 * tests run as root); other-user.e2e.test.ts runs the same attacks with real
 * second users, and disk-full.e2e.test.ts fills a real disk.
 */
import { chmod, chown, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalProvider } from '../demo/provider.js';
import { AUDIT_ROTATE_BYTES } from '../src/core/audit.js';
import { readAuditEvents } from './helpers/cli.js';
import { startFakeProvider } from './helpers/fake-provider.js';
import { createHarness, keyAccount, signIn, type Harness } from './helpers/harness.js';
import { startProvider } from './helpers/session.js';
import { jsonLines, signedIn } from './helpers/signed-in.js';

const OTHER_UID = 4242;
const asRoot = process.getuid?.() === 0;

let provider: LocalProvider;
let outside: string;
beforeAll(async () => {
  provider = await startProvider();
  outside = await mkdtemp(join(tmpdir(), 'devlogin-outside-'));
});
afterAll(async () => {
  await provider.close();
  await rm(outside, { recursive: true, force: true });
});

/** A file outside the state folder that an attacker wants devlogin to write to: its bytes and mode must not change. */
async function victim(name: string): Promise<{ path: string; unchanged(): Promise<void> }> {
  const path = join(outside, name);
  await writeFile(path, 'echo hello\n', { mode: 0o600 });
  return {
    path,
    unchanged: async () => {
      expect(await readFile(path, 'utf8')).toBe('echo hello\n');
      expect((await stat(path)).mode & 0o777).toBe(0o600);
    },
  };
}

const login = (h: Harness, env = {}) => h.run(['login', '--issuer', provider.issuer, '--client-id', provider.clientId, '--no-dpop'], { env });

describe('a state folder or file that is not the user\'s own is refused, never repaired or followed', () => {
  it('DEVLOGIN_HOME as a symbolic link: exit 6, its target untouched', async () => {
    const target = await mkdtemp(join(outside, 'target-'));
    await chmod(target, 0o755);
    const link = join(outside, `link-${Date.now()}`);
    await symlink(target, link);
    const h = await createHarness({ DEVLOGIN_HOME: link });
    const run = await login(h);
    expect(run.code).toBe(6);
    expect(run.stderr).toBe(`devlogin: Refusing to use ${link}: it is a symbolic link. devlogin keeps sessions only in a folder that is yours and private (chown it to you, chmod 700), or set DEVLOGIN_HOME to one.\n`);
    expect((await stat(target)).mode & 0o777).toBe(0o755);
  });

  it('DEVLOGIN_HOME that others may write to: exit 6, nothing created in it', async () => {
    const h = await createHarness();
    await chmod(h.home, 0o777);
    const run = await h.run(['whoami']);
    expect(run.code).toBe(6);
    expect(run.stderr).toContain(`devlogin: Refusing to use ${h.home}: others may write to it (mode 0777).`);
    expect((await stat(h.home)).mode & 0o777).toBe(0o777);
  });

  it.skipIf(!asRoot)('another user\'s DEVLOGIN_HOME (root over a user\'s folder): exit 6', async () => {
    const h = await createHarness();
    await chown(h.home, OTHER_UID, OTHER_UID);
    const run = await login(h);
    expect(run.code).toBe(6);
    expect(run.stderr).toContain(`devlogin: Refusing to use ${h.home}: it belongs to another user (uid ${OTHER_UID}).`);
  });

  it('an audit.log planted as a link to the user\'s .bashrc, with a hostile config.json: exit 6, .bashrc untouched', async () => {
    const bashrc = await victim(`bashrc-${Date.now()}`);
    const h = await createHarness();
    await symlink(bashrc.path, join(h.home, 'audit.log'));
    await writeFile(join(h.home, 'config.json'), JSON.stringify({ profiles: { default: { issuer: `${provider.issuer}/$(touch ${outside}/pwned)`, clientId: provider.clientId } } }), { mode: 0o600 });
    const run = await h.run(['login', '--no-dpop']);
    expect(run.code).toBe(6);
    expect(run.stderr.trimEnd().split('\n').at(-1)).toBe(`devlogin: Refusing to use ${join(h.home, 'audit.log')}: it is a symbolic link. devlogin keeps sessions only in a folder that is yours and private (chown it to you, chmod 700), or set DEVLOGIN_HOME to one.`);
    await bashrc.unchanged();
    await expect(stat(join(outside, 'pwned'))).rejects.toThrow();
  });

  it('a config.json link or one others may write to is refused (exit 6)', async () => {
    const h = await createHarness();
    const planted = await victim(`config-${Date.now()}.json`);
    await symlink(planted.path, join(h.home, 'config.json'));
    expect((await login(h)).code).toBe(6);
    await planted.unchanged();

    const h2 = await createHarness();
    await writeFile(join(h2.home, 'config.json'), '{"profiles":{}}', { mode: 0o666 });
    await chmod(join(h2.home, 'config.json'), 0o666);
    const run = await login(h2);
    expect(run.code).toBe(6);
    expect(run.stderr).toContain('others may write to it (mode 0666)');
  });

  it.skipIf(!asRoot)('a session file that belongs to another user is refused (exit 6), and left as it is', async () => {
    const { h } = await signedIn(provider);
    const file = join(h.home, 'sessions', 'default.json.enc');
    await chown(file, OTHER_UID, OTHER_UID);
    const before = await readFile(file);
    const run = await h.run(['whoami']);
    expect(run.code).toBe(6);
    expect(run.stderr).toContain(`Refusing to use ${file}: it belongs to another user (uid ${OTHER_UID}).`);
    expect(await readFile(file)).toEqual(before);
  });

  it('an unusable DEVLOGIN_HOME is exit 6 with one line, not a crash: a file in its place, /proc/self', async () => {
    const file = join(outside, `a-file-${Date.now()}`);
    await writeFile(file, 'x');
    for (const home of [file, '/proc/self']) {
      const h = await createHarness({ DEVLOGIN_HOME: home });
      const run = await login(h);
      expect(run.code, home).toBe(6);
      expect(run.stderr.trimEnd().split('\n'), home).toHaveLength(1);
      expect(run.stderr, home).toMatch(new RegExp(`^devlogin: (Cannot use the folder ${home}: something that is not a folder is in the way|Refusing to use ${home}: it is a symbolic link)\\.`));
    }
  });
});

describe('numbers and headers that could break a command later', () => {
  it('an expires_in of 1e300 is taken at a year: login, whoami and sessions keep working', async () => {
    const fake = await startFakeProvider({ token: [{ tokens: { expiresIn: 1e300 } }] });
    try {
      const h = await createHarness();
      const run = await h.run(['login', '--issuer', fake.issuer, '--client-id', fake.clientId, '--json']);
      expect(run.code, run.stderr).toBe(0);
      const signedIn = JSON.parse(run.stdout.trimEnd().split('\n').at(-1)!) as Record<string, string>;
      const year = Math.floor(h.clock.now() / 1000) + 365 * 24 * 3600;
      expect(Date.parse(signedIn.access_token_expires_at!) / 1000).toBeCloseTo(year, -1);
      expect((await h.run(['whoami'])).code).toBe(0);
      expect((await h.run(['sessions'])).code).toBe(0);
    } finally {
      await fake.close();
    }
  });

  it.each(['X-Evil: a\r\nAuthorization: Bearer stolen', 'X-Evil: a\nb', 'Bad Name: x', 'X-Nul: a\u0000b'])('api -H %j is exit 2 before any request', async (header) => {
    const { h } = await signedIn(provider);
    const before = provider.requests.get('/me') ?? 0;
    const run = await h.run(['api', '-H', header, `${provider.issuer}/me`]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^devlogin: Invalid header ".*"\. Use -H "Name: value", on one line\.\n$/);
    expect(provider.requests.get('/me') ?? 0).toBe(before);
  });
});

describe('the audit log stays bounded', () => {
  it('audit --limit reads from the end, and the log rotates at its size into audit.log.1', async () => {
    const { h } = await signedIn(provider);
    const file = join(h.home, 'audit.log');
    const filler = `${JSON.stringify({ time: '2026-01-01T00:00:00.000Z', event: 'token_read', profile: 'filler', outcome: 'success' })}\n`;
    await writeFile(file, filler.repeat(Math.ceil(AUDIT_ROTATE_BYTES / filler.length)), { flag: 'a' });
    const run = await h.run(['token']); // this event goes to a fresh audit.log
    expect(run.code).toBe(0);
    expect((await stat(join(h.home, 'audit.log.1'))).size).toBeGreaterThanOrEqual(AUDIT_ROTATE_BYTES);
    expect((await readAuditEvents(h)).map((event) => event.event)).toEqual(['token_read']);
    const tail = await h.run(['audit', '--limit', '3', '--json']);
    expect(tail.code).toBe(0);
    expect(tail.stdout.trimEnd().split('\n').map((line) => (JSON.parse(line) as Record<string, unknown>).profile)).toEqual(['filler', 'filler', 'default']);
  });
});

describe('refresh rules', () => {
  it('a token refreshed a moment ago by another process is used, even when tokens live less than --min-ttl', async () => {
    const short = await startProvider({ accessTokenTtl: 30 });
    try {
      const { h } = await signedIn(short);
      const first = await h.run(['token']); // the sign-in token is inside the 60 s margin: refresh
      expect(first.code).toBe(0);
      const refreshes = short.requests.get('/token') ?? 0;
      for (let i = 0; i < 5; i += 1) expect((await h.run(['token'])).stdout).toBe(first.stdout);
      expect(short.requests.get('/token') ?? 0).toBe(refreshes);
      h.clock.advance(16_000); // past half its life (under the minute): now a refresh is worth it
      const later = await h.run(['token']);
      expect(later.stdout).not.toBe(first.stdout);
      expect(short.requests.get('/token') ?? 0).toBe(refreshes + 1);
    } finally {
      await short.close();
    }
  });

  it('a refresh that widens the scope says so and records it', async () => {
    const fake = await startFakeProvider({ token: [{ tokens: { scope: 'openid profile' } }, { tokens: { scope: 'openid profile admin' } }] });
    try {
      const h = await createHarness();
      expect((await h.run(['login', '--issuer', fake.issuer, '--client-id', fake.clientId, '--scope', 'openid profile'])).code).toBe(0);
      h.clock.advance(250_000); // within 60 s of the token's 300 s
      const run = await h.run(['token']);
      expect(run.code).toBe(0);
      expect(run.stderr).toBe('warning: the provider granted more on refresh than the session had: admin\n');
      expect((await readAuditEvents(h)).at(-2)).toMatchObject({ event: 'refresh', reason: 'scope_widened', scope: 'openid profile admin' });
    } finally {
      await fake.close();
    }
  });
});

describe('what the vault keeps is tied to its state folder and its latest write', () => {
  it('two state folders with the same profile keep separate keychain items: a logout in one leaves the other signed in and revocable', async () => {
    const { h: first } = await signedIn(provider);
    const second = await createHarness();
    second.keyStore = first.keyStore; // one keychain for the user, two DEVLOGIN_HOMEs
    expect((await signIn(second, provider, { args: ['--no-dpop'] })).code).toBe(0);
    expect([...first.keyStore.items.keys()].sort()).toEqual([keyAccount(first), keyAccount(second)].sort());
    expect((await first.run(['logout'])).code).toBe(0);
    expect([...first.keyStore.items.keys()]).toEqual([keyAccount(second)]);
    expect(await second.run(['whoami'])).toMatchObject({ code: 0, stderr: '' });
    const revoked = await second.run(['revoke']);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(second.keyStore.items.size).toBe(0);
  });

  it('a logout also shreds an item from before items were named after the session file (named after the profile)', async () => {
    const { h } = await signedIn(provider);
    h.keyStore.items.set('default', h.keyStore.items.get(keyAccount(h))!);
    expect((await h.run(['logout', '--local'])).code).toBe(0);
    expect(h.keyStore.items.size).toBe(0);
  });

  it('an older copy of the session file put back after a refresh is refused (exit 6), and its spent refresh token is never sent', async () => {
    const { h } = await signedIn(provider);
    const file = join(h.home, 'sessions', 'default.json.enc');
    const old = await readFile(file);
    expect((await h.run(['token', '--min-ttl', '3600'])).code).toBe(0); // a refresh: generation 1
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ generation: 1 });
    expect(h.keyStore.items.get(keyAccount(h))).toMatch(/\.1$/);
    await writeFile(file, old);
    const refreshes = provider.requests.get('/token') ?? 0;
    for (const command of [['token', '--min-ttl', '3600'], ['whoami']]) {
      const run = await h.run(command);
      expect(run.code, command.join(' ')).toBe(6);
      expect(run.stderr).toBe('devlogin: The session file for profile "default" is an older copy than the one last saved (generation 0; the keychain has 1): '
        + 'it was put back from a copy, and its refresh token may be spent. Run "devlogin logout --local" to drop it, then sign in again.\n');
    }
    expect(provider.requests.get('/token') ?? 0).toBe(refreshes);
    expect(jsonLines((await h.run(['sessions', '--json'])).stdout)[0]).toMatchObject({ profile: 'default', state: 'unreadable' });
    expect(await readFile(file)).toEqual(old); // refused, not repaired
  });

  it('sessions shows a session whose clear metadata was edited as unreadable, not as the edit says', async () => {
    const { h } = await signedIn(provider);
    const file = join(h.home, 'sessions', 'default.json.enc');
    const envelope = JSON.parse(await readFile(file, 'utf8')) as { meta: { subject: string; sessionExpiresAt: number } };
    envelope.meta.subject = 'root';
    envelope.meta.sessionExpiresAt += 30 * 24 * 3600;
    await writeFile(file, JSON.stringify(envelope));
    const listed = await h.run(['sessions', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(jsonLines(listed.stdout)).toEqual([expect.objectContaining({ profile: 'default', state: 'unreadable', subject: null, vault: null })]);
    expect((await h.run(['sessions'])).stdout).not.toContain('root');
    expect((await h.run(['whoami'])).code).toBe(6);
  });
});
