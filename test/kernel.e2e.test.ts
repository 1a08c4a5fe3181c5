/**
 * The kernel vault end to end: the built CLI and the real Linux kernel
 * keyring. Each run gets a fresh session keyring from `keyctl session -`
 * (Debian keyutils), as a login session has one. The refused cases are real
 * too: a process whose session keyring is the user's default one (what a
 * process without a session keyring of its own gets: `keyctl session
 * _uid_ses.UID`), and one whose keyutils calls a seccomp filter refuses, as
 * Docker's default profile does (test/helpers/no-keyutils.py).
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { LocalProvider } from '../demo/provider.js';
import { BIN, findLeaks, readAuditEvents, runCli, runProbed, useTempHomes, type TestHome } from './helpers/cli.js';
import { signIn, startProvider } from './helpers/session.js';

const keyutils = inject('keyutils');
const FRESH_SESSION = ['keyctl', 'session', '-'];
const NO_POSSESSED_KEYRING = ['keyctl', 'session', `_uid_ses.${process.getuid?.() ?? 0}`];
const SECCOMP_BLOCKED = ['python3', fileURLToPath(new URL('./helpers/no-keyutils.py', import.meta.url))];

/** What devlogin printed, without keyctl's own "Joined session keyring: N" line. */
const withoutKeyctl = (stderr: string): string => stderr.replace(/^Joined session keyring: \d+\n/, '');

/** keyctl in a fresh session keyring that has the user's persistent keyring linked in, as devlogin's runs do. */
function keyctl(script: string): { status: number | null; stdout: string } {
  const run = spawnSync('keyctl', ['session', '-', 'sh', '-c', `keyctl get_persistent @s >/dev/null && ${script}`], { encoding: 'utf8' });
  return { status: run.status, stdout: run.stdout.trim() };
}

/** The item devlogin keeps for `profile` (a `user` key described keyring:SESSION-FILE@SERVICE, holding KEY.GENERATION), or null. */
function storedKey(h: TestHome, profile = 'default'): string | null {
  const found = keyctl(`keyctl pipe "$(keyctl search @s user 'keyring:${join(h.home, 'sessions', `${profile}.json.enc`)}@${h.env.DEVLOGIN_KEYCHAIN_SERVICE}')"`);
  return found.status === 0 ? found.stdout : null;
}

/**
 * whoami and token load nothing --version does not: no keychain code, no
 * D-Bus preflight (node:net's client), no prompt; the keyring binding only
 * for the kernel vault.
 */
async function expectLoadsNothingNew(h: TestHome, vault: 'kernel' | 'key', wrap: string[], env = h.env): Promise<void> {
  const version = await runProbed(h, ['--version'], env, BIN, wrap);
  for (const command of [['whoami'], ['token']]) {
    const run = await runProbed(h, command, env, BIN, wrap);
    expect(run.status, run.stderr).toBe(0);
    expect(run.builtins.filter((name) => !version.builtins.includes(name)), vault).toEqual([]);
    expect(run.files.some((file) => file.includes('@napi-rs')), `${vault} loads the keyring binding`).toBe(vault === 'kernel');
  }
}

describe.skipIf(!keyutils)('the kernel vault on the real kernel keyring', () => {
  let provider: LocalProvider;
  // No Secret Service (no D-Bus address), no passphrase: the automatic choice lands on the kernel keyring.
  const homes = useTempHomes({ DEVLOGIN_VAULT: undefined, DEVLOGIN_VAULT_PASSPHRASE: undefined });
  beforeAll(async () => {
    provider = await startProvider();
  });
  afterAll(() => provider.close());

  it('login, whoami from a second session, token, logout: the key lives only in the kernel keyring and is shredded at the end; nothing new is loaded', async () => {
    const h = await homes();
    const from = provider.issued.length;
    const login = await signIn(provider, h, { args: ['--no-dpop'], wrap: FRESH_SESSION });
    expect(login.code, login.stderr).toBe(0);
    expect(JSON.parse(login.stdout.trim().split('\n')[1]!)).toMatchObject({ event: 'signed_in', vault: 'kernel', subject: 'alice' });
    expect(login.stderr).toMatch(/; stored in the Linux kernel keyring\.\n/);
    const item = storedKey(h);
    expect(item).toMatch(/^[A-Za-z0-9+/]{43}=\.0$/); // the key and the file's generation
    const key = item!.split('.')[0]!;
    expect(Buffer.from(key, 'base64')).toHaveLength(32);

    // Another fresh session keyring (a second SSH session) finds the key through the user's persistent keyring.
    const who = await runCli(['whoami'], h.env, FRESH_SESSION);
    expect(who.code, who.stderr).toBe(0);
    expect(who.stdout).toContain('\n  vault    Linux kernel keyring\n');
    const token = await runCli(['token'], h.env, FRESH_SESSION);
    expect(token.code, token.stderr).toBe(0);
    const secrets = [...provider.issued.slice(from).flatMap((set) => [set.access_token!, set.refresh_token!, set.id_token!]), key!];
    expect(await findLeaks(secrets, { home: h.home, texts: [login.stdout, login.stderr, who.stdout, who.stderr, token.stderr] })).toEqual([]);
    expect(await findLeaks([key!], { home: h.home, texts: [token.stdout] })).toEqual([]);

    await expectLoadsNothingNew(h, 'kernel', FRESH_SESSION);
    // In a container whose seccomp profile blocks keyutils, a stored kernel session cannot be read: exit 6, naming the cause.
    const blocked = await runCli(['whoami'], h.env, SECCOMP_BLOCKED);
    expect(blocked.code).toBe(6);
    expect(blocked.stderr).toMatch(/^devlogin: The Linux kernel keyring refused the read \(PermissionDenied\): /);

    // A process without a session keyring of its own (cron, a service) cannot see it: exit 6, saying so.
    const unseen = await runCli(['whoami'], h.env, NO_POSSESSED_KEYRING);
    expect(unseen.code).toBe(6);
    expect(withoutKeyctl(unseen.stderr)).toBe('devlogin: The key for profile "default" is not in the Linux kernel keyring: it is gone (a reboot, or 3 days unused), '
      + 'or this process cannot see it (it has no session keyring of its own: cron, a service, sudo). Run "devlogin logout --local" to drop it, then sign in again.\n');

    const logout = await runCli(['logout', '--local'], h.env, FRESH_SESSION);
    expect(logout.code, logout.stderr).toBe(0);
    expect(storedKey(h)).toBeNull();
    expect((await readAuditEvents(h)).map((event) => event.event)).toEqual(['login', 'token_read', 'token_read', 'logout']);
  });

  it('without a session keyring of its own: DEVLOGIN_VAULT=kernel is exit 6 naming the cause; the automatic choice moves on to the vault key, which loads no keyring code', async () => {
    const h = await homes({ DEVLOGIN_VAULT: 'kernel' });
    const refused = await runCli(['login', '--issuer', provider.issuer, '--client-id', provider.clientId], h.env, NO_POSSESSED_KEYRING);
    expect(refused.code).toBe(6);
    expect(refused.stdout).toBe('');
    expect(withoutKeyctl(refused.stderr)).toBe('devlogin: The Linux kernel keyring refused the write (AccessDenied): this process has no session keyring of its own (cron, a service, sudo), '
      + 'or a seccomp profile blocks keyutils (as Docker\'s default does). Run devlogin in a login session (or under "keyctl session -"), or use another vault: '
      + 'DEVLOGIN_VAULT=key with DEVLOGIN_VAULT_KEY (devlogin vault new-key), or DEVLOGIN_VAULT=passphrase.\n');
    // The kernel keeps what the refused probe wrote before it refused the rest: the word "probe", no secret. Tidy it up.
    const probe = `keyring:.devlogin-probe@${h.env.DEVLOGIN_KEYCHAIN_SERVICE}`;
    // Looked up from the same keyring the CLI ran in, which this process need not possess.
    const tidy = (read: string): SpawnSyncReturns<string> => spawnSync(NO_POSSESSED_KEYRING[0]!,
      [...NO_POSSESSED_KEYRING.slice(1), 'sh', '-c', `id=$(keyctl search @s user '${probe}') && ${read}keyctl unlink "$id" @s >/dev/null`], { encoding: 'utf8' });
    const leftover = tidy('keyctl pipe "$id" && ');
    expect(leftover.stdout, leftover.stderr).toBe('probe');

    const vaultKey = (await runCli(['vault', 'new-key'], h.env)).stdout.trim();
    const auto = await signIn(provider, h, { args: ['--no-dpop'], env: { DEVLOGIN_VAULT: undefined, DEVLOGIN_VAULT_KEY: vaultKey }, wrap: NO_POSSESSED_KEYRING });
    expect(auto.code, auto.stderr).toBe(0);
    expect(JSON.parse(auto.stdout.trim().split('\n')[1]!)).toMatchObject({ vault: 'key' });
    expect(storedKey(h)).toBeNull();
    await expectLoadsNothingNew(h, 'key', [], { ...h.env, DEVLOGIN_VAULT: undefined, DEVLOGIN_VAULT_KEY: vaultKey });
    tidy('');
    expect(await findLeaks([vaultKey], { home: h.home, texts: [auto.stdout, auto.stderr] })).toEqual([]);
  });

  it('where a seccomp profile blocks keyutils (a container): exit 6 naming the cause', async () => {
    const h = await homes({ DEVLOGIN_VAULT: 'kernel' });
    const login = await runCli(['login', '--issuer', provider.issuer, '--client-id', provider.clientId], h.env, SECCOMP_BLOCKED);
    expect(login.code).toBe(6);
    expect(login.stdout).toBe('');
    expect(login.stderr).toMatch(/^devlogin: The Linux kernel keyring refused the write \(PermissionDenied\): .* or DEVLOGIN_VAULT=passphrase\.\n$/);
  });
});
