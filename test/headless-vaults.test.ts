/**
 * The headless vaults in-process (test/helpers/harness.ts): the kernel
 * keyring (a key store in memory here; test/kernel.e2e.test.ts runs the real
 * one), the vault key, the passphrase asked on the terminal (scripted here;
 * test/prompt.e2e.test.ts drives the real prompt through a pseudo-terminal),
 * and the automatic choice in each kind of environment. After each, no
 * token, key or passphrase is on disk, in the output or in the audit log.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalProvider } from '../demo/provider.js';
import type { Env } from '../src/core/settings.js';
import { vaultError } from '../src/errors.js';
import { findLeaks } from './helpers/cli.js';
import { createHarness, itemKey, keyAccount, signIn, type Harness, type RunResult } from './helpers/harness.js';
import { startProvider } from './helpers/session.js';
import { jsonLines, lastLine, sessionFiles } from './helpers/signed-in.js';

let provider: LocalProvider;
beforeAll(async () => {
  provider = await startProvider();
});
afterAll(() => provider.close());

const NO_KEYCHAIN = vaultError('The OS keychain is not available: no Secret Service on the session bus', { code: 'keychain_unavailable' });
const newKey = (): string => randomBytes(32).toString('base64url');

/** Every request the run made, for "nothing was asked of the provider". */
function recordingFetch(): { fetch: typeof fetch; urls: string[] } {
  const urls: string[] = [];
  const recording = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    urls.push(input instanceof Request ? input.url : String(input));
    return fetch(input, init);
  };
  return { fetch: recording as typeof fetch, urls };
}

/** A harness as a machine without a desktop keychain: the memory keychain refuses, as no Secret Service does. */
async function headless(env: Env = {}, kernel: 'refused' | 'available' = 'refused'): Promise<Harness> {
  const h = await createHarness(env);
  h.keyStore.broken = NO_KEYCHAIN;
  if (kernel === 'available') h.kernelStore.broken = undefined;
  return h;
}

async function envelopeOf(h: Harness, profile = 'default'): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(h.home, 'sessions', `${profile}.json.enc`), 'utf8')) as Record<string, unknown>;
}

/** The tokens the provider issued since `from`. */
const tokensSince = (from: number): string[] =>
  provider.issued.slice(from).flatMap((set) => [set.access_token, set.refresh_token, set.id_token]).filter((token): token is string => Boolean(token));

async function expectNoLeaks(h: Harness, secrets: string[], runs: RunResult[]): Promise<void> {
  expect(await findLeaks(secrets, { home: h.home, texts: runs.flatMap((run) => [run.stdout, run.stderr]) })).toEqual([]);
}

describe('the kernel vault (kernel keyring in memory)', () => {
  it('is chosen after the keychain, keeps only the key there, and names itself', async () => {
    const h = await headless({}, 'available');
    const from = provider.issued.length;
    const login = await signIn(h, provider, { args: ['--no-dpop'] });
    expect(login.code, login.stderr).toBe(0);
    expect(jsonLines(login.stdout)[1]).toMatchObject({ event: 'signed_in', vault: 'kernel' });
    expect(login.stderr).toMatch(/Session ends \S+ \(in 1h\); stored in the Linux kernel keyring\.\n/);
    expect([...h.kernelStore.items.keys()]).toEqual([keyAccount(h)]);
    expect(h.keyStore.items.size).toBe(0);
    const envelope = await envelopeOf(h);
    expect(envelope.backend).toBe('kernel');
    expect(envelope).not.toHaveProperty('wrappedKey');

    const who = await h.run(['whoami']);
    expect(who.code, who.stderr).toBe(0);
    expect(who.stdout).toContain('\n  vault    Linux kernel keyring\n');
    expect(jsonLines((await h.run(['whoami', '--json'])).stdout)[0]).toMatchObject({ vault: 'kernel' });
    expect(jsonLines((await h.run(['sessions', '--json'])).stdout)[0]).toMatchObject({ profile: 'default', vault: 'kernel' });
    const token = await h.run(['token']);
    expect(token.code, token.stderr).toBe(0);
    const dataKey = itemKey(h.kernelStore.items.get(keyAccount(h)))!.toString('base64');
    await expectNoLeaks(h, [...tokensSince(from).filter((t) => t !== token.stdout.trim()), dataKey], [login, who]);
    await expectNoLeaks(h, [dataKey], [token]);

    const logout = await h.run(['logout', '--local']);
    expect(logout.code, logout.stderr).toBe(0);
    expect(h.kernelStore.items.size).toBe(0); // crypto-shredding: the key first
    expect(await sessionFiles(h)).toEqual([]);
  });

  it('DEVLOGIN_VAULT=kernel where the kernel refuses: exit 6 naming the cause and the other vaults, before any request', async () => {
    const h = await headless({ DEVLOGIN_VAULT: 'kernel', DEVLOGIN_VAULT_KEY: newKey() });
    const recorder = recordingFetch();
    const result = await h.run(['login', '--issuer', provider.issuer, '--client-id', provider.clientId], { fetch: recorder.fetch, answers: ['never asked'] });
    expect(result.code).toBe(6);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe('devlogin: The Linux kernel keyring refused the write (AccessDenied): this process has no session keyring of its own (cron, a service, sudo), '
      + 'or a seccomp profile blocks keyutils (as Docker\'s default does). Run devlogin in a login session (or under "keyctl session -"), or use another vault: '
      + 'DEVLOGIN_VAULT=key with DEVLOGIN_VAULT_KEY (devlogin vault new-key), or DEVLOGIN_VAULT=passphrase.\n');
    expect(recorder.urls).toEqual([]);
    expect(result.prompts).toEqual([]); // never a silent fallback to another vault
    expect(await sessionFiles(h)).toEqual([]);
  });

  it('a kernel session whose key is gone (a reboot) is exit 6 with the hint to drop it', async () => {
    const h = await headless({}, 'available');
    expect((await signIn(h, provider, { args: ['--no-dpop'] })).code).toBe(0);
    h.kernelStore.items.clear();
    const who = await h.run(['whoami']);
    expect(who.code).toBe(6);
    expect(who.stderr).toBe('devlogin: The key for profile "default" is not in the Linux kernel keyring: it is gone (a reboot, or 3 days unused), '
      + 'or this process cannot see it (it has no session keyring of its own: cron, a service, sudo). '
      + 'Run "devlogin logout --local" to drop it, then sign in again.\n');
  });
});

describe('the key vault (DEVLOGIN_VAULT_KEY)', () => {
  it('with the right key: HKDF-wrapped in the file, whoami and token work, and neither the key nor a token is anywhere', async () => {
    const vaultKey = newKey();
    const h = await headless({ DEVLOGIN_VAULT_KEY: vaultKey });
    const from = provider.issued.length;
    const login = await signIn(h, provider, { args: ['--no-dpop'] });
    expect(login.code, login.stderr).toBe(0);
    expect(jsonLines(login.stdout)[1]).toMatchObject({ event: 'signed_in', vault: 'key' });
    expect(login.stderr).toMatch(/; sealed under the vault key \(DEVLOGIN_VAULT_KEY\)\.\n/);
    const envelope = await envelopeOf(h);
    expect(envelope.backend).toBe('key');
    expect(envelope.wrappedKey).toMatchObject({ alg: 'A256GCM', kdf: { kdf: 'hkdf-sha256', info: 'devlogin session key wrapping v1', salt: expect.stringMatching(/^[A-Za-z0-9+/]{43}=$/) } });

    const who = await h.run(['whoami']);
    expect(who.code, who.stderr).toBe(0);
    expect(who.stdout).toContain('\n  vault    vault key (DEVLOGIN_VAULT_KEY)\n');
    const token = await h.run(['token']);
    expect(token.code, token.stderr).toBe(0);
    expect(token.stdout).toMatch(/^\S+\n$/);
    const sessions = await h.run(['sessions']);
    expect(sessions.stdout).toMatch(/\ndefault\s+active\s+alice\s+\S+\s+\S+ \(in [^)]+\)\s+key\n$/);
    const raw = Buffer.from(vaultKey, 'base64url').toString('base64');
    await expectNoLeaks(h, [vaultKey, raw, ...tokensSince(from).filter((t) => t !== token.stdout.trim())], [login, who, token, sessions]);
    await expectNoLeaks(h, [token.stdout.trim()], [login, who, sessions]);
  });

  it('with a wrong key: exit 6, as a wrong passphrase, and the session is kept', async () => {
    const h = await headless({ DEVLOGIN_VAULT_KEY: newKey() });
    expect((await signIn(h, provider, { args: ['--no-dpop'] })).code).toBe(0);
    const other = newKey();
    for (const command of [['whoami'], ['token']]) {
      const result = await h.run(command, { env: { DEVLOGIN_VAULT_KEY: other } });
      expect(result.code).toBe(6);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe('devlogin: Wrong vault key, or the session file was tampered with. Check DEVLOGIN_VAULT_KEY (the key the session was stored under). '
        + 'Run "devlogin logout --local" to drop it, then sign in again.\n');
      expect(result.stderr).not.toContain(other);
    }
    const unset = await h.run(['whoami'], { env: { DEVLOGIN_VAULT_KEY: undefined } });
    expect(unset.code).toBe(6);
    expect(lastLine(unset.stderr)).toBe('devlogin: The key vault needs DEVLOGIN_VAULT_KEY, and it is not set. '
      + 'Set DEVLOGIN_VAULT_KEY from your CI secret store (make one with "devlogin vault new-key"; for an existing session, the one used at login).');
    expect(await sessionFiles(h)).toEqual(['/sessions/default.json.enc']);
    expect((await h.run(['whoami'])).code).toBe(0);
  });

  it.each([
    ['too short', newKey().slice(0, 42)],
    ['padded', `${newKey()}=`],
    ['standard base64', `${newKey().slice(0, 42)}+`],
    ['hex', randomBytes(32).toString('hex')],
    ['a non-canonical last character', `${newKey().slice(0, 42)}B`],
  ])('a malformed key (%s) is exit 2 naming the variable, before any request, prompt or file', async (_, malformed) => {
    const h = await headless({ DEVLOGIN_VAULT_KEY: malformed });
    const recorder = recordingFetch();
    const expected = 'devlogin: DEVLOGIN_VAULT_KEY is not a vault key: it must be 43 characters of unpadded base64url (32 random bytes). '
      + 'Make one with "devlogin vault new-key" and keep it in your CI secret store.\n';
    for (const command of [['login', '--issuer', provider.issuer, '--client-id', provider.clientId], ['whoami'], ['token']]) {
      const result = await h.run(command, { fetch: recorder.fetch, answers: [] });
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(expected);
      expect(result.stdout).toBe('');
      expect(result.prompts).toEqual([]);
    }
    expect(recorder.urls).toEqual([]);
    expect(await sessionFiles(h)).toEqual([]);
  });

  it('vault new-key prints a fresh 256-bit key in the form DEVLOGIN_VAULT_KEY takes, and stores nothing', async () => {
    const h = await createHarness();
    const one = await h.run(['vault', 'new-key']);
    const two = await h.run(['vault', 'new-key']);
    for (const run of [one, two]) {
      expect(run).toMatchObject({ code: 0, stderr: '' });
      expect(run.stdout).toMatch(/^[A-Za-z0-9_-]{43}\n$/);
      expect(Buffer.from(run.stdout.trim(), 'base64url')).toHaveLength(32);
    }
    expect(one.stdout).not.toBe(two.stdout);
    const tty = await h.run(['vault', 'new-key'], { tty: { stdoutIsTTY: true } });
    expect(tty.stderr).toBe('Keep it in your CI secret store as DEVLOGIN_VAULT_KEY, with DEVLOGIN_VAULT=key; devlogin keeps no copy.\n');
    await expectNoLeaks(h, [one.stdout.trim(), two.stdout.trim(), tty.stdout.trim()], []);
    const login = await signIn(h, provider, { args: ['--no-dpop'], env: { DEVLOGIN_VAULT: 'key', DEVLOGIN_VAULT_KEY: one.stdout.trim() } });
    expect(login.code, login.stderr).toBe(0);
    expect(jsonLines(login.stdout)[1]).toMatchObject({ vault: 'key' });
  });
});

describe('the passphrase vault asked on the terminal', () => {
  const PROMPT_NEW = ['New vault passphrase: ', 'Repeat the passphrase: '];
  const PROMPT_OPEN = 'Vault passphrase for profile "default": ';

  it('asks twice at login (before any request), once later; a wrong one is exit 6; no terminal is exit 6', async () => {
    const h = await headless({ DEVLOGIN_VAULT: 'passphrase' });
    const secret = `pass-${randomBytes(6).toString('hex')}`;
    const from = provider.issued.length;
    const login = await signIn(h, provider, { args: ['--no-dpop'], answers: [secret, secret] });
    expect(login.code, login.stderr).toBe(0);
    expect(login.prompts).toEqual(PROMPT_NEW);
    expect(jsonLines(login.stdout)[1]).toMatchObject({ event: 'signed_in', vault: 'passphrase' });
    expect(login.stderr).toMatch(/; stored in the passphrase vault\.\n/);
    expect((await envelopeOf(h)).wrappedKey).toMatchObject({ kdf: { kdf: 'scrypt' } });

    const who = await h.run(['whoami'], { answers: [secret] });
    expect(who.code, who.stderr).toBe(0);
    expect(who.prompts).toEqual([PROMPT_OPEN]);
    expect(who.stdout).toContain('\n  vault    passphrase vault\n');
    const token = await h.run(['token'], { answers: [secret] });
    expect(token.code, token.stderr).toBe(0);
    expect(token.prompts).toEqual([PROMPT_OPEN]);

    const wrong = await h.run(['token'], { answers: ['not it'] });
    expect(wrong.code).toBe(6);
    expect(wrong.stdout).toBe('');
    expect(wrong.stderr).toBe('devlogin: Wrong vault passphrase, or the session file was tampered with. Check the passphrase. Run "devlogin logout --local" to drop it, then sign in again.\n');
    const noTerminal = await h.run(['whoami']);
    expect(noTerminal.code).toBe(6);
    expect(noTerminal.stderr).toBe('devlogin: The passphrase vault needs DEVLOGIN_VAULT_PASSPHRASE or a terminal to ask on, and there is neither. '
      + 'Set DEVLOGIN_VAULT_PASSPHRASE to the passphrase (the one used at login, for an existing session), or run devlogin on a terminal.\n');
    // The environment still wins over the terminal.
    const fromEnv = await h.run(['whoami'], { env: { DEVLOGIN_VAULT_PASSPHRASE: secret }, answers: [] });
    expect(fromEnv).toMatchObject({ code: 0, prompts: [] });
    await expectNoLeaks(h, [secret, ...tokensSince(from).filter((t) => t !== token.stdout.trim())], [login, who, token, wrong, noTerminal]);
  });

  it('gives up after three mismatched or empty passphrases, with exit 6 and no request', async () => {
    const h = await headless({ DEVLOGIN_VAULT: 'passphrase' });
    const recorder = recordingFetch();
    const result = await h.run(['login', '--issuer', provider.issuer, '--client-id', provider.clientId], { fetch: recorder.fetch, answers: ['one', 'two', '', 'three', 'four'] });
    expect(result.code).toBe(6);
    expect(result.prompts).toEqual([...PROMPT_NEW, PROMPT_NEW[0], ...PROMPT_NEW]);
    expect(result.stderr).toBe('devlogin: The passphrases were empty or did not match. Run the command again and type the same passphrase twice, or set DEVLOGIN_VAULT_PASSPHRASE.\n');
    expect(recorder.urls).toEqual([]);
    expect(await sessionFiles(h)).toEqual([]);
  });

  it('a policy without the passphrase vault asks for no passphrase it would refuse', async () => {
    const h = await headless();
    const policy = join(h.home, 'policy.json');
    await import('node:fs/promises').then(({ writeFile }) => writeFile(policy, JSON.stringify({ allowPassphraseVault: false })));
    const result = await h.run(['login', '--issuer', provider.issuer, '--client-id', provider.clientId], { env: { DEVLOGIN_POLICY: policy }, answers: ['a', 'a'] });
    expect(result.code).toBe(6);
    expect(result.prompts).toEqual([]);
    expect(result.stderr).toMatch(/^devlogin: No vault to store the session in\. /);
  });
});

describe('the automatic choice, in each environment', () => {
  const key = newKey();
  it.each([
    ['a desktop (keychain answers)', 'keychain', { keychain: true, kernel: true, env: { DEVLOGIN_VAULT_KEY: key }, answers: ['p', 'p'] }],
    ['an SSH session on a Linux server (kernel keyring, no keychain)', 'kernel', { keychain: false, kernel: true, env: { DEVLOGIN_VAULT_KEY: key }, answers: ['p', 'p'] }],
    ['a CI job (vault key in the secret store, kernel refused)', 'key', { keychain: false, kernel: false, env: { DEVLOGIN_VAULT_KEY: key }, answers: ['p', 'p'] }],
    ['a container with a terminal (kernel blocked, no key)', 'passphrase', { keychain: false, kernel: false, env: {}, answers: ['p', 'p'] }],
    ['a container with DEVLOGIN_VAULT_PASSPHRASE', 'passphrase', { keychain: false, kernel: false, env: { DEVLOGIN_VAULT_PASSPHRASE: 'p' }, answers: [] }],
  ] as const)('%s: %s', async (_, expected, setup) => {
    const h = await headless({ ...setup.env }, setup.kernel ? 'available' : 'refused');
    if (setup.keychain) h.keyStore.broken = undefined;
    const login = await signIn(h, provider, { args: ['--no-dpop'], answers: [...setup.answers] });
    expect(login.code, login.stderr).toBe(0);
    expect(jsonLines(login.stdout)[1]).toMatchObject({ event: 'signed_in', vault: expected });
    expect(login.prompts).toEqual(expected === 'passphrase' && setup.answers.length > 0 ? ['New vault passphrase: ', 'Repeat the passphrase: '] : []);
    expect((await envelopeOf(h)).backend).toBe(expected);
    expect(h.keyStore.items.size).toBe(expected === 'keychain' ? 1 : 0);
    expect(h.kernelStore.items.size).toBe(expected === 'kernel' ? 1 : 0);
    const who = await h.run(['whoami', '--json'], { answers: ['p'] });
    expect(who.code, who.stderr).toBe(0);
    expect(jsonLines(who.stdout)[0]).toMatchObject({ vault: expected });
    await expectNoLeaks(h, [key], [login, who]);
  });

  it('a CI job with nothing (no keychain, kernel refused, no key, no passphrase, no terminal): exit 6', async () => {
    const h = await headless();
    const result = await h.run(['login', '--issuer', provider.issuer, '--client-id', provider.clientId]);
    expect(result.code).toBe(6);
    expect(result.stderr).toMatch(/^devlogin: No vault to store the session in\. The OS keychain is not available: .* The Linux kernel keyring refused the write \(AccessDenied\).*set DEVLOGIN_VAULT_KEY \(devlogin vault new-key\) or DEVLOGIN_VAULT_PASSPHRASE, or run on a terminal to be asked for a passphrase\.\n$/);
    expect(await sessionFiles(h)).toEqual([]);
  });
});
