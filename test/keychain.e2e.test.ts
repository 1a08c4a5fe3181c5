/**
 * Login into the keychain vault end to end: the built CLI, the real local
 * provider, and a real gnome-keyring Secret Service on a private D-Bus
 * session started by the global setup (never the developer's keyring).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { LocalProvider } from '../demo/provider.js';
import { createServer, type Server } from 'node:net';
import { findLeaks, keychainEnv, readTree, runCli, useTempHomes, type TestHome } from './helpers/cli.js';
import { signIn, startProvider } from './helpers/session.js';

const secretService = inject('secretService');

describe.skipIf(!secretService)('login with the OS keychain vault', () => {
  let provider: LocalProvider;
  const homes = useTempHomes();
  beforeAll(async () => {
    provider = await startProvider();
  });
  afterAll(() => provider.close());

  const keychainHome = (extra: NodeJS.ProcessEnv = {}): Promise<TestHome> => homes({ ...keychainEnv(secretService!.address), ...extra });

  it('chooses the keychain when it answers and keeps only the key there', async () => {
    const h = await keychainHome();
    const issuedBefore = provider.issued.length;
    const run = await signIn(provider, h);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout.trim().split('\n')[1]!)).toMatchObject({ event: 'signed_in', vault: 'keychain', subject: 'alice' });
    expect(run.stderr).toContain('stored in the OS keychain');

    // One item per session file, named after it: the key and the file's generation.
    const item = spawnSync('secret-tool', ['lookup', 'service', h.env.DEVLOGIN_KEYCHAIN_SERVICE!, 'username', join(h.home, 'sessions', 'default.json.enc')], {
      env: { ...process.env, DBUS_SESSION_BUS_ADDRESS: secretService!.address }, encoding: 'utf8',
    });
    expect(item.status).toBe(0);
    expect(item.stdout.trim()).toMatch(/^[A-Za-z0-9+/]{43}=\.0$/);
    expect(Buffer.from(item.stdout.trim().split('.')[0]!, 'base64')).toHaveLength(32);

    const files = await readTree(h.home);
    const session = files.find((file) => file.path === join(h.home, 'sessions', 'default.json.enc'))!;
    expect(JSON.parse(session.content.toString())).toMatchObject({ backend: 'keychain' });
    const tokens = provider.issued.slice(issuedBefore).flatMap((set) => [set.access_token, set.refresh_token, set.id_token]).filter((t): t is string => Boolean(t));
    expect(await findLeaks([...tokens, item.stdout.trim()], { home: h.home, texts: [run.stdout, run.stderr] })).toEqual([]);
  });

  describe('a D-Bus session bus that never answers', () => {
    let silent: Server;
    const socket = join(secretService?.home ?? '/tmp', 'silent-bus');
    beforeAll(async () => {
      silent = createServer(() => undefined); // accepts connections, never says a word
      await new Promise<void>((resolve) => silent.listen(socket, () => resolve()));
    });
    afterAll(async () => {
      silent.close();
    });

    it('exits 6 after the 3 s keychain timeout instead of hanging', async () => {
      const h = await keychainHome({ DBUS_SESSION_BUS_ADDRESS: `unix:path=${socket},guid=0123`, DEVLOGIN_VAULT: 'keychain' });
      const result = await runCli(['login', '--issuer', provider.issuer, '--client-id', provider.clientId], h.env);
      expect(result.code).toBe(6);
      expect(result.stderr.trimEnd().split('\n').at(-1)).toBe(
        'devlogin: The OS keychain did not answer within 3 s (connect). Unlock your keychain and try again, or use the passphrase vault: set DEVLOGIN_VAULT=passphrase and DEVLOGIN_VAULT_PASSPHRASE.',
      );
    });
  });
});
