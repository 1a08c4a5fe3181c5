import { vaultError } from '../../errors.js';
import type { SessionMeta } from '../session/record.js';
import type { Envelope, VaultBackend, WrappedKey } from './envelope.js';
import { corruptHint } from './hints.js';
import type { KeyStore } from './keychain.js';

/** A stored session's data key, and the last generation of its file the backend saw, where it keeps one. */
export interface UnwrappedKey {
  key: Buffer;
  generation?: number;
}

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
  wrap(key: Buffer, meta: SessionMeta, generation: number): Promise<WrappedKey | undefined>;
  /** The data key of a stored session. */
  unwrap(envelope: Envelope): Promise<UnwrappedKey>;
  /**
   * Records that the session's file is now at `generation` (after a refresh),
   * where the backend keeps the key away from the file: an older copy of the
   * file put back later is then refused (rollback).
   */
  advance(key: Buffer, meta: SessionMeta, generation: number): Promise<void>;
  /** False when opening a session would ask someone (a passphrase prompt): `sessions` then does not verify. */
  opensQuietly(): boolean;
  /** Deletes the key where the backend keeps it (crypto-shredding); nothing to do for a key kept in the file. */
  remove(profile: string): Promise<void>;
}

/**
 * A backend that keeps each session's key as an item of a key store, with
 * nothing of it in the session file (keychain, kernel). The item is named
 * after the session file (`account`): two state folders with the same
 * profile never share one. Its value is the key and the file's generation
 * (`KEY.GENERATION`, base64 and decimal; an item written before generations
 * is the key alone). `missing` says why a stored session finds no key there.
 */
export function keyStoreBackend(name: VaultBackend, store: KeyStore, account: (profile: string) => string, missing: (profile: string) => string): KeyBackend {
  const item = (key: Buffer, generation: number): string => `${key.toString('base64')}.${generation}`;
  return {
    name,
    probe: () => store.probe(),
    async wrap(key, meta, generation) {
      await store.setSecret(account(meta.profile), item(key, generation));
      return undefined;
    },
    async unwrap(envelope) {
      const { profile } = envelope.meta;
      const found = parseItem(await store.getSecret(account(profile)));
      if (!found) throw vaultError(missing(profile), { hint: corruptHint(profile), code: 'vault_corrupt' });
      return found;
    },
    async advance(key, meta, generation) {
      await store.setSecret(account(meta.profile), item(key, generation));
    },
    opensQuietly: () => true,
    async remove(profile) {
      await store.deleteSecret(account(profile));
      // Items written before they were named after the session file were named
      // after the profile; no session opens with one now, so shred it too.
      await store.deleteSecret(profile).catch(() => false);
    },
  };
}

function parseItem(value: string | null): UnwrappedKey | null {
  if (!value) return null;
  const match = /^([A-Za-z0-9+/]{43}=)(?:\.(\d{1,15}))?$/.exec(value);
  if (!match) return null;
  const key = Buffer.from(match[1]!, 'base64');
  if (key.length !== 32) return null;
  return match[2] === undefined ? { key } : { key, generation: Number(match[2]) };
}
