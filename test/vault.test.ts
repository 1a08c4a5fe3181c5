/**
 * The vault: envelope encryption, the passphrase backend, tampering, and the
 * keychain backend against a real Secret Service on a private D-Bus session.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { DevloginError, EXIT } from '../src/errors.js';
import type { SessionRecord } from '../src/core/session/record.js';
import { createVault } from '../src/core/vault/vault.js';
import { createMemoryKeyStore } from './helpers/harness.js';
import type { Paths } from '../src/core/paths.js';

let dir: string;
let paths: Paths;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'devlogin-vault-'));
  paths = { configDir: dir, stateDir: dir };
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function record(profile = 'default'): SessionRecord {
  const now = Math.floor(Date.now() / 1000);
  return {
    version: 1,
    sessionId: `s-${randomBytes(4).toString('hex')}`,
    profile,
    issuer: 'https://login.example.test',
    clientId: 'cli',
    requestedScope: 'openid',
    scope: 'openid',
    subject: 'alice',
    claims: { name: 'Alice' },
    tokenType: 'Bearer',
    accessToken: `access-${randomBytes(16).toString('hex')}`,
    accessTokenExpiresAt: now + 300,
    refreshToken: `refresh-${randomBytes(16).toString('hex')}`,
    idToken: `id-${randomBytes(16).toString('hex')}`,
    createdAt: now,
    sessionExpiresAt: now + 3600,
    providerMetadata: { issuer: 'https://login.example.test', token_endpoint: 'https://login.example.test/token' },
  };
}

// Its own service name: removing an unreadable session shreds every backend's key for the profile, the kernel keyring's too.
const passphraseEnv = { DEVLOGIN_VAULT: 'passphrase', DEVLOGIN_VAULT_PASSPHRASE: 'pass one', DEVLOGIN_KEYCHAIN_SERVICE: `devlogin-test-${randomBytes(4).toString('hex')}` };
const fileOf = (profile = 'default') => join(dir, 'sessions', `${profile}.json.enc`);

async function failure(promise: Promise<unknown>): Promise<DevloginError> {
  const error = await promise.then(() => undefined, (err: unknown) => err);
  expect(error).toBeInstanceOf(DevloginError);
  return error as DevloginError;
}

describe('passphrase vault', () => {
  it('round-trips a session and keeps no secret in the clear', async () => {
    const vault = createVault({ paths, env: passphraseEnv });
    const session = record();
    expect(await vault.chooseBackend()).toBe('passphrase');
    await vault.save(session, 'passphrase');
    expect(await vault.load('default')).toMatchObject({ record: session, backend: 'passphrase' });

    const raw = await readFile(fileOf(), 'utf8');
    for (const secret of [session.accessToken, session.refreshToken!, session.idToken!]) expect(raw).not.toContain(secret);
    expect((await stat(fileOf())).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'sessions'))).mode & 0o777).toBe(0o700);
    expect(await readdir(join(dir, 'sessions'))).toEqual(['default.json.enc']); // no temp file left
    expect(await vault.readMeta('default')).toEqual({ backend: 'passphrase', meta: expect.objectContaining({ subject: 'alice', sessionId: session.sessionId }) });
  });

  it('refuses a wrong passphrase with exit 6', async () => {
    await createVault({ paths, env: passphraseEnv }).save(record(), 'passphrase');
    const error = await failure(createVault({ paths, env: { ...passphraseEnv, DEVLOGIN_VAULT_PASSPHRASE: 'pass two' } }).load('default'));
    expect(error.exitCode).toBe(EXIT.vault);
    expect(error.message).toBe('Wrong vault passphrase, or the session file was tampered with.');
    expect(error.hint).toContain('devlogin logout --local');
  });

  it('refuses a session whose ciphertext was changed', async () => {
    const vault = createVault({ paths, env: passphraseEnv });
    await vault.save(record(), 'passphrase');
    const envelope = JSON.parse(await readFile(fileOf(), 'utf8')) as { session: { data: string } };
    const data = Buffer.from(envelope.session.data, 'base64');
    data[5] ^= 1;
    envelope.session.data = data.toString('base64');
    await writeFile(fileOf(), JSON.stringify(envelope));
    const error = await failure(vault.load('default'));
    expect(error).toMatchObject({ exitCode: EXIT.vault, code: 'vault_corrupt' });
  });

  it('refuses a session whose clear metadata was changed (it is authenticated)', async () => {
    const vault = createVault({ paths, env: passphraseEnv });
    await vault.save(record(), 'passphrase');
    const envelope = JSON.parse(await readFile(fileOf(), 'utf8')) as { meta: { sessionExpiresAt: number } };
    envelope.meta.sessionExpiresAt += 86_400; // try to extend the session
    await writeFile(fileOf(), JSON.stringify(envelope));
    expect(await failure(vault.load('default'))).toMatchObject({ exitCode: EXIT.vault, code: 'vault_corrupt' });
  });

  it('refuses a session file copied to another profile', async () => {
    const vault = createVault({ paths, env: passphraseEnv });
    await vault.save(record('work'), 'passphrase');
    await copyFile(fileOf('work'), fileOf('default'));
    expect(await failure(vault.load('default'))).toMatchObject({ exitCode: EXIT.vault, code: 'vault_corrupt' });
  });

  it('turns a garbage file into exit 6 with the logout --local hint, and can still remove it', async () => {
    const vault = createVault({ paths, env: passphraseEnv });
    await vault.save(record(), 'passphrase');
    await writeFile(fileOf(), 'not json at all');
    const error = await failure(vault.load('default'));
    expect(error.message).toBe('The stored session for profile "default" is corrupt.');
    expect(error.hint).toBe('Run "devlogin logout --local" to drop it, then sign in again.');
    expect(await vault.remove('default')).toBe(true);
    expect(await vault.profiles()).toEqual([]);
  });

  it('removes the session file and reports when there was nothing', async () => {
    const vault = createVault({ paths, env: passphraseEnv });
    await vault.save(record(), 'passphrase');
    expect(await vault.profiles()).toEqual(['default']);
    expect(await vault.remove('default')).toBe(true);
    expect(await vault.load('default')).toBeNull();
    expect(await vault.remove('default')).toBe(false);
  });
});

const secretService = inject('secretService');

describe.skipIf(!secretService)('keychain vault (real Secret Service, private D-Bus session)', () => {
  const service = `devlogin-test-${randomBytes(4).toString('hex')}`;
  const env = { DEVLOGIN_KEYCHAIN_SERVICE: service };
  const busEnv = () => ({ ...process.env, DBUS_SESSION_BUS_ADDRESS: secretService!.address, HOME: secretService!.home });
  const lookup = (account: string) => spawnSync('secret-tool', ['lookup', 'service', service, 'username', account], { env: busEnv(), encoding: 'utf8' });

  it('is chosen when it answers, and holds only the 256-bit key', async () => {
    const vault = createVault({ paths, env });
    expect(await vault.chooseBackend()).toBe('keychain');
    const session = record();
    await vault.save(session, 'keychain');
    const item = lookup(fileOf());
    expect(item.status).toBe(0);
    expect(item.stdout.trim()).toMatch(/^[A-Za-z0-9+/]{43}=\.0$/); // the key and the file's generation
    expect(Buffer.from(item.stdout.trim().split('.')[0]!, 'base64')).toHaveLength(32);
    const raw = await readFile(fileOf(), 'utf8');
    expect(raw).not.toContain(item.stdout.trim());
    expect(raw).not.toContain(session.accessToken);
    expect(JSON.parse(raw)).toMatchObject({ backend: 'keychain' });
    expect(JSON.parse(raw)).not.toHaveProperty('wrappedKey');
    expect(await vault.load('default')).toMatchObject({ record: session, backend: 'keychain' });
  });

  it('deletes the key first on remove, so a copy of the file is useless', async () => {
    const vault = createVault({ paths, env });
    await vault.save(record(), 'keychain');
    const backup = join(dir, 'backup.json.enc');
    await copyFile(fileOf(), backup);
    expect(await vault.remove('default')).toBe(true);
    expect(lookup(fileOf()).status).not.toBe(0);
    await copyFile(backup, fileOf());
    const error = await failure(vault.load('default'));
    expect(error.message).toBe('The key for profile "default" is missing from the OS keychain.');
    expect(error.exitCode).toBe(EXIT.vault);
  });

  it('keeps the file\'s generation with the key: an older copy put back is refused; a file ahead of the item (a refresh between the two writes) is not', async () => {
    const vault = createVault({ paths, env });
    await vault.save(record(), 'keychain');
    const first = (await vault.load('default'))!;
    const copy = await readFile(fileOf());
    const refreshed = await vault.update(first, { ...first.record, accessToken: 'access-2' });
    expect(refreshed.generation).toBe(1);
    expect(lookup(fileOf()).stdout.trim()).toMatch(/\.1$/);
    await writeFile(fileOf(), copy);
    expect(await failure(vault.load('default'))).toMatchObject({ exitCode: EXIT.vault, code: 'vault_rollback' });
    await expect(vault.verifiedMeta('default')).rejects.toMatchObject({ code: 'vault_rollback' });
  });

  it('opens a file ahead of its item (written by an update whose key store write did not land) as the newer one it is', async () => {
    const store = createMemoryKeyStore();
    const vault = createVault({ paths, env, keyStore: store });
    await vault.save(record(), 'keychain');
    const first = (await vault.load('default'))!;
    const second = await vault.update(first, { ...first.record, accessToken: 'access-2' });
    store.items.set(fileOf(), store.items.get(fileOf())!.replace(/\.1$/, '.0'));
    expect(await vault.load('default')).toMatchObject({ generation: 1, record: { accessToken: 'access-2' } });
    await vault.update(second, { ...second.record, accessToken: 'access-3' });
    expect(store.items.get(fileOf())).toMatch(/\.2$/);
  });

  it('names each item after its session file: two state folders with the same profile never share or delete each other\'s key', async () => {
    const other = await mkdtemp(join(tmpdir(), 'devlogin-vault-'));
    try {
      const here = createVault({ paths, env });
      const there = createVault({ paths: { configDir: other, stateDir: other }, env });
      await here.save(record(), 'keychain');
      await there.save(record(), 'keychain');
      expect(await here.remove('default')).toBe(true);
      expect(lookup(join(other, 'sessions', 'default.json.enc')).status).toBe(0);
      expect(await there.load('default')).toMatchObject({ backend: 'keychain' });
      await there.remove('default');
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it('turns a session whose key was rotated by another login into exit 6', async () => {
    const vault = createVault({ paths, env });
    await vault.save(record(), 'keychain');
    const stale = await readFile(fileOf());
    await vault.save(record(), 'keychain');
    await writeFile(fileOf(), stale);
    expect(await failure(vault.load('default'))).toMatchObject({ exitCode: EXIT.vault, code: 'vault_corrupt' });
  });
});
