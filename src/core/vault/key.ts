import { vaultError } from '../../errors.js';
import type { KeyBackend } from './backend.js';
import { deriveWrappingKey, newHkdfParams, open, seal, type HkdfParams } from './crypto.js';
import { wrapAad } from './envelope.js';
import { corruptHint } from './hints.js';

/**
 * The `key` backend, for CI: the session key sealed in the session file
 * under a key derived by HKDF from DEVLOGIN_VAULT_KEY, a random key kept in
 * the CI secret store. `vaultKey` returns the key already validated by
 * settings.ts (a malformed one is exit 2 before this is reached), or
 * undefined when the variable is unset.
 */
export function createVaultKeyBackend(vaultKey: () => Buffer | undefined): KeyBackend {
  const key = (): Buffer => {
    const value = vaultKey();
    if (!value) {
      throw vaultError('The key vault needs DEVLOGIN_VAULT_KEY, and it is not set.', {
        hint: 'Set DEVLOGIN_VAULT_KEY from your CI secret store (make one with "devlogin vault new-key"; for an existing session, the one used at login).',
        code: 'vault_key_missing',
      });
    }
    return value;
  };
  return {
    name: 'key',
    async probe() {
      key();
    },
    async wrap(dataKey, meta) {
      const kdf = newHkdfParams();
      return { ...seal(deriveWrappingKey(key(), kdf), dataKey, wrapAad(meta)), kdf };
    },
    async unwrap(envelope) {
      const { profile } = envelope.meta;
      const wrapped = envelope.wrappedKey;
      if (!wrapped || wrapped.kdf.kdf !== 'hkdf-sha256') {
        throw vaultError(`The stored session for profile "${profile}" is corrupt.`, { hint: corruptHint(profile), code: 'vault_corrupt' });
      }
      const kek = deriveWrappingKey(key(), wrapped.kdf as HkdfParams);
      try {
        return { key: open(kek, wrapped, wrapAad(envelope.meta)) };
      } catch {
        throw vaultError('Wrong vault key, or the session file was tampered with.', {
          hint: `Check DEVLOGIN_VAULT_KEY (the key the session was stored under). ${corruptHint(profile)}`,
          code: 'vault_key_wrong',
        });
      }
    },
    async advance() {
      // The key travels with the file: nothing outside it to keep a generation in.
    },
    opensQuietly: () => true,
    async remove() {
      // The wrapped key is in the session file, which vault.ts deletes.
    },
  };
}
