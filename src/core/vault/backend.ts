import { vaultError } from '../../errors.js';
import type { SessionMeta } from '../session/record.js';
import type { Envelope, VaultBackend, WrappedKey } from './envelope.js';
import { corruptHint } from './hints.js';
import type { KeyStore } from './keychain.js';

/**
 * Where a session's data key lives (DESIGN.md, "The vault"). The session
 * itself is always sealed in its file by vault.ts; a backend only keeps the
 * key, one file per backend, so adding a backend touches one file and the list
 * in vault.ts.
 */
export interface KeyBackend {
  readonly name: VaultBackend;
  /** Resolves when a new session's key can be kept here; else throws a vault error naming the cause. */
  probe(): Promise<void>;
  /** Keeps a new session's key; returns what the envelope must carry for it (a wrapped key), if anything. */
  wrap(key: Buffer, meta: SessionMeta): Promise<WrappedKey | undefined>;
  /** The data key of a stored session. */
  unwrap(envelope: Envelope): Promise<Buffer>;
  /** Deletes the key where the backend keeps it (crypto-shredding); nothing to do for a key kept in the file. */
  remove(profile: string): Promise<void>;
}

/**
 * A backend that keeps each session's key as an item of a key store, one per
 * profile, with nothing of it in the session file (keychain, kernel).
 * `missing` says why a stored session finds no key there.
 */
export function keyStoreBackend(name: VaultBackend, store: KeyStore, missing: (profile: string) => string): KeyBackend {
  return {
    name,
    probe: () => store.probe(),
    async wrap(key, meta) {
      await store.setKey(meta.profile, key);
      return undefined;
    },
    async unwrap(envelope) {
      const { profile } = envelope.meta;
      const key = await store.getKey(profile);
      if (!key) throw vaultError(missing(profile), { hint: corruptHint(profile), code: 'vault_corrupt' });
      return key;
    },
    async remove(profile) {
      await store.deleteKey(profile);
    },
  };
}
