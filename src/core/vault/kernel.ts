import { platform } from 'node:os';
import { describeThrown, DevloginError, vaultError } from '../../errors.js';
import { keyStoreBackend, type KeyBackend } from './backend.js';
import type { KeyStore } from './keychain.js';
import { loadKeyring } from './keyring-binding.js';

const PROBE_ACCOUNT = '.devlogin-probe';

/**
 * The Linux kernel keyring through @napi-rs/keyring's `keyutils` store. Its
 * item for account A of service S is a `user` key described
 * `keyring:A@S`, added to the process's session keyring and linked into the
 * user's persistent keyring (`_persistent.UID`), which is how another
 * session of the same user finds it: see the README, "The kernel keyring".
 * The calls are plain system calls, so they are synchronous and need no
 * timeout. Where the kernel refuses them (no session keyring this process
 * possesses, or a seccomp profile that blocks keyutils) every call fails with
 * exit 6 naming the cause; nothing ever falls back to another store.
 */
export function createKernelKeyStore(service: string): KeyStore {
  const options = { linux: { store: 'keyutils' as const } };
  const call = <T>(what: string, account: string, run: (entry: InstanceType<ReturnType<typeof loadKeyring>['Entry']>) => T): T => {
    // Off Linux the binding ignores the pin and would use the OS keychain instead.
    if (platform() !== 'linux') throw notLinux();
    try {
      return run(new (loadKeyring().Entry)(service, account, options));
    } catch (err) {
      throw refused(what, err);
    }
  };
  return {
    async probe() {
      // A write is the only call that shows a refusal: without a possessed
      // session keyring, reads answer "nothing stored" and only writes fail.
      call('write', PROBE_ACCOUNT, (entry) => entry.setPassword('probe'));
      call('delete', PROBE_ACCOUNT, (entry) => entry.deleteCredential());
    },
    async getSecret(account) {
      return call('read', account, (entry) => entry.getPassword()) ?? null;
    },
    async setSecret(account, value) {
      call('write', account, (entry) => entry.setPassword(value));
    },
    async deleteSecret(account) {
      return call('delete', account, (entry) => entry.deleteCredential());
    },
  };
}

/** What the kernel backend says when the kernel refuses it (the store's probe rejects with this). */
export function refused(what: string, err: unknown): DevloginError {
  if (err instanceof DevloginError) return err;
  // The binding says "Couldn't access platform storage: AccessDenied": the cause is the last part.
  const detail = describeThrown(err).split('\n', 1)[0]!.replace(/^.*platform storage: /, '');
  return vaultError(`The Linux kernel keyring refused the ${what} (${detail}): this process has no session keyring of its own (cron, a service, sudo), or a seccomp profile blocks keyutils (as Docker's default does).`, {
    hint: 'Run devlogin in a login session (or under "keyctl session -"), or use another vault: DEVLOGIN_VAULT=key with DEVLOGIN_VAULT_KEY (devlogin vault new-key), or DEVLOGIN_VAULT=passphrase.',
    code: 'kernel_refused',
    cause: err,
  });
}

function notLinux(): DevloginError {
  return vaultError('The kernel keyring vault is only on Linux.', {
    hint: 'Use DEVLOGIN_VAULT=keychain, key or passphrase.',
    code: 'kernel_unavailable',
  });
}

/**
 * The kernel backend: the session key as a key in the kernel keyring, one
 * per session file (`account`); nothing of it in the session file or anywhere on disk.
 */
export function createKernelBackend(store: KeyStore, account: (profile: string) => string): KeyBackend {
  return keyStoreBackend('kernel', store, account, (profile) =>
    `The key for profile "${profile}" is not in the Linux kernel keyring: it is gone (a reboot, or 3 days unused), or this process cannot see it (it has no session keyring of its own: cron, a service, sudo).`);
}
