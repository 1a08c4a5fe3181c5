import { vaultError } from '../../errors.js';
import type { Env } from '../settings.js';
import type { KeyBackend } from './backend.js';
import { deriveKey, newScryptParams, open, seal } from './crypto.js';
import { wrapAad } from './envelope.js';
import { corruptHint } from './hints.js';

/**
 * The passphrase backend: the session key sealed in the session file under a
 * key derived from DEVLOGIN_VAULT_PASSPHRASE by scrypt.
 */
export function createPassphraseBackend(env: Env): KeyBackend {
  const passphrase = (): string => {
    const value = env.DEVLOGIN_VAULT_PASSPHRASE;
    if (!value) {
      throw vaultError('The passphrase vault needs DEVLOGIN_VAULT_PASSPHRASE, and it is not set.', {
        hint: 'Set DEVLOGIN_VAULT_PASSPHRASE to the passphrase (the one used at login, for an existing session).',
        code: 'vault_passphrase_missing',
      });
    }
    return value;
  };
  return {
    name: 'passphrase',
    async probe() {
      passphrase();
    },
    async wrap(key, meta) {
      const kdf = newScryptParams();
      return { ...seal(await deriveKey(passphrase(), kdf), key, wrapAad(meta)), kdf };
    },
    async unwrap(envelope) {
      const { profile } = envelope.meta;
      const wrapped = envelope.wrappedKey;
      if (!wrapped) throw vaultError(`The stored session for profile "${profile}" is corrupt.`, { hint: corruptHint(profile), code: 'vault_corrupt' });
      const secret = passphrase();
      const kek = await deriveKey(secret, wrapped.kdf).catch((err: unknown) => {
        throw vaultError(`The stored session for profile "${profile}" is corrupt.`, { hint: corruptHint(profile), cause: err, code: 'vault_corrupt' });
      });
      try {
        return open(kek, wrapped, wrapAad(envelope.meta));
      } catch {
        throw vaultError('Wrong vault passphrase, or the session file was tampered with.', {
          hint: `Check DEVLOGIN_VAULT_PASSPHRASE. ${corruptHint(profile)}`,
          code: 'vault_passphrase',
        });
      }
    },
    async remove() {
      // The wrapped key is in the session file, which vault.ts deletes.
    },
  };
}
