import { describeThrown, DevloginError, vaultError } from '../../errors.js';
import { keyStoreBackend, type KeyBackend } from './backend.js';
import { loadKeyring } from './keyring-binding.js';

/** Where the keychain and kernel backends keep per-session keys: one secret item per session file (backend.ts says what it holds). */
export interface KeyStore {
  /** Resolves when the store answers; rejects with a vault error when it cannot be used. */
  probe(): Promise<void>;
  getSecret(account: string): Promise<string | null>;
  setSecret(account: string, value: string): Promise<void>;
  /** True when an item was deleted. */
  deleteSecret(account: string): Promise<boolean>;
}

export const DEFAULT_KEYCHAIN_SERVICE = 'devlogin';
/** A locked or unresponsive Secret Service must not hang the CLI. */
export const KEYCHAIN_TIMEOUT_MS = 3000;
const PROBE_ACCOUNT = '.devlogin-probe';

/**
 * The OS credential store through @napi-rs/keyring. On Linux it is pinned to
 * the Secret Service: the library would otherwise fall back to the kernel
 * keyring, which does not survive a reboot and is not what the user chose.
 */
export function createOsKeyStore(service: string, timeoutMs = KEYCHAIN_TIMEOUT_MS, busAddress?: string): KeyStore {
  const options = { linux: { store: 'secret-service' as const } };
  let busChecked: Promise<void> | undefined;
  const busAnswers = (what: string): Promise<void> =>
    // Loaded here, not at the top: node:net is for the keychain alone, and
    // whoami or token on a kernel or key session should not pay for it.
    (busChecked ??= import('./dbus-preflight.js')
      .then(({ checkSessionBus }) => checkSessionBus(busAddress, timeoutMs))
      .catch(() => {
        throw keychainTimeout(what, timeoutMs);
      }));
  const entry = async (account: string) => {
    await busAnswers('connect');
    return new (loadKeyring().AsyncEntry)(service, account, options);
  };
  const call = <T>(what: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> =>
    withTimeout(what, timeoutMs, run);

  return {
    async probe() {
      // A read is not enough: with a D-Bus session but no Secret Service on it,
      // reads answer "nothing stored" and only writes fail. So write, then delete.
      const item = await entry(PROBE_ACCOUNT).catch((err: unknown) => { throw unavailable(err); });
      await call('write', (signal) => item.setPassword('probe', signal));
      await call('delete', (signal) => item.deleteCredential(signal));
    },
    async getSecret(account) {
      // The read is on every whoami/token: the synchronous call skips a trip
      // through the thread pool. (Creating an entry blocks on the D-Bus
      // connection either way, hence the bus check first.)
      await busAnswers('connect');
      return (await call('read', async () => new (loadKeyring().Entry)(service, account, options).getPassword())) ?? null;
    },
    async setSecret(account, value) {
      const item = await entry(account);
      await call('write', (signal) => item.setPassword(value, signal));
    },
    async deleteSecret(account) {
      const item = await entry(account);
      return call('delete', (signal) => item.deleteCredential(signal));
    },
  };
}

async function withTimeout<T>(what: string, timeoutMs: number, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(keychainTimeout(what, timeoutMs));
    }, timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([run(controller.signal).catch((err: unknown) => { throw unavailable(err); }), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function keychainTimeout(what: string, timeoutMs: number): Error {
  return vaultError(`The OS keychain did not answer within ${timeoutMs / 1000} s (${what}).`, {
    hint: 'Unlock your keychain and try again, or use the passphrase vault: set DEVLOGIN_VAULT=passphrase and DEVLOGIN_VAULT_PASSPHRASE.',
    code: 'keychain_timeout',
  });
}

function unavailable(err: unknown): Error {
  if (err instanceof DevloginError) return err;
  const detail = describeThrown(err).split('\n', 1)[0];
  return vaultError(`The OS keychain is not available: ${detail}`, {
    hint: 'Start or unlock your keychain (on Linux, a Secret Service such as gnome-keyring), or set DEVLOGIN_VAULT_PASSPHRASE to use the passphrase vault.',
    code: 'keychain_unavailable',
    cause: err,
  });
}

/**
 * The keychain backend: the session key as an item of the OS credential
 * store, one per session file (`account`); nothing of it in the session file.
 */
export function createKeychainBackend(store: KeyStore, account: (profile: string) => string): KeyBackend {
  return keyStoreBackend('keychain', store, account, (profile) => `The key for profile "${profile}" is missing from the OS keychain.`);
}
