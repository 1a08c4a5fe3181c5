import { vaultError } from '../../errors.js';

/** Where the keychain backend keeps per-session keys: one item per profile. */
export interface KeyStore {
  /** Resolves when the store answers; rejects with a vault error when it cannot be used. */
  probe(): Promise<void>;
  getKey(account: string): Promise<Buffer | null>;
  setKey(account: string, key: Buffer): Promise<void>;
  /** True when an item was deleted. */
  deleteKey(account: string): Promise<boolean>;
}

export const DEFAULT_KEYCHAIN_SERVICE = 'devlogin';
/** A locked or unresponsive Secret Service must not hang the CLI. */
export const KEYCHAIN_TIMEOUT_MS = 3000;
const PROBE_ACCOUNT = '.devlogin-probe';

type AsyncEntryClass = typeof import('@napi-rs/keyring').AsyncEntry;
type AsyncEntryInstance = InstanceType<AsyncEntryClass>;

/**
 * The OS credential store through @napi-rs/keyring. On Linux it is pinned to
 * the Secret Service: the library would otherwise fall back to the kernel
 * keyring, which does not survive a reboot and is not what the user chose.
 */
export function createOsKeyStore(service: string, timeoutMs = KEYCHAIN_TIMEOUT_MS): KeyStore {
  let entryClass: Promise<AsyncEntryClass> | undefined;
  const entry = async (account: string): Promise<AsyncEntryInstance> => {
    entryClass ??= import('@napi-rs/keyring').then((module) => module.AsyncEntry);
    const AsyncEntry = await entryClass;
    return new AsyncEntry(service, account, { linux: { store: 'secret-service' } });
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
    async getKey(account) {
      const item = await entry(account);
      const value = await call('read', (signal) => item.getPassword(signal));
      if (value === null || value === undefined) return null;
      const key = Buffer.from(value, 'base64');
      return key.length === 32 ? key : null;
    },
    async setKey(account, key) {
      const item = await entry(account);
      await call('write', (signal) => item.setPassword(key.toString('base64'), signal));
    },
    async deleteKey(account) {
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
      reject(vaultError(`The OS keychain did not answer within ${timeoutMs / 1000} s (${what}).`, {
        hint: 'Unlock your keychain and try again, or use the passphrase vault: set DEVLOGIN_VAULT=passphrase and DEVLOGIN_VAULT_PASSPHRASE.',
        code: 'keychain_timeout',
      }));
    }, timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([run(controller.signal).catch((err: unknown) => { throw unavailable(err); }), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function unavailable(err: unknown): Error {
  const detail = err instanceof Error ? err.message.split('\n', 1)[0] : String(err);
  return vaultError(`The OS keychain is not available: ${detail}`, {
    hint: 'Start or unlock your keychain (on Linux, a Secret Service such as gnome-keyring), or set DEVLOGIN_VAULT_PASSPHRASE to use the passphrase vault.',
    code: 'keychain_unavailable',
    cause: err,
  });
}
