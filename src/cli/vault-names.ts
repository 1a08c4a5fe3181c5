import type { VaultBackend } from '../core/vault/vault.js';

/** The vault backends as people read them (whoami's vault line). */
export const VAULT_NAMES: Record<VaultBackend, string> = {
  keychain: 'OS keychain',
  kernel: 'Linux kernel keyring',
  key: 'vault key (DEVLOGIN_VAULT_KEY)',
  passphrase: 'passphrase vault',
};

/** Where login says the session went: "stored in the OS keychain". */
export const storedIn = (backend: VaultBackend): string =>
  backend === 'key' ? `sealed under the ${VAULT_NAMES.key}` : `stored in the ${VAULT_NAMES[backend]}`;
