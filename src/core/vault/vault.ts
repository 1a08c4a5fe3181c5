import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DevloginError, usageError, vaultError } from '../../errors.js';
import { profileFlag } from '../config.js';
import { writeFileAtomic, readFileOrNull, isNotFound } from '../fs-safe.js';
import { sessionsDir, type Paths } from '../paths.js';
import { metaOf, type SessionMeta, type SessionRecord } from '../session.js';
import { deriveKey, generateKey, newScryptParams, open, seal } from './crypto.js';
import { envelopeAad, parseEnvelope, wrapAad, type Envelope, type VaultBackend } from './envelope.js';
import type { KeyCache } from './key-cache.js';
import { createOsKeyStore, DEFAULT_KEYCHAIN_SERVICE, type KeyStore } from './keychain.js';

export type { VaultBackend } from './envelope.js';

export interface VaultOptions {
  paths: Paths;
  env: Readonly<Record<string, string | undefined>>;
  /** Defaults to the OS keychain under DEVLOGIN_KEYCHAIN_SERVICE. */
  keyStore?: KeyStore;
  /**
   * Keychain keys held in memory (the agent): a key is read from the
   * keychain only when this holds none for the session.
   */
  keyCache?: KeyCache;
}

export interface LoadedSession {
  record: SessionRecord;
  backend: VaultBackend;
  /** The session's data key, kept so an update re-seals under the same key. */
  key: Buffer;
  /** Passphrase backend: the wrapped key, reused by an update (no new scrypt run). */
  wrappedKey?: Envelope['wrappedKey'];
}

export interface StoredMeta {
  meta: SessionMeta;
  backend: VaultBackend;
}

/** The encrypted session store (DESIGN.md, "The vault"). */
export interface Vault {
  /** The backend a new session goes to: DEVLOGIN_VAULT, else keychain if it answers, else passphrase if set. */
  chooseBackend(): Promise<VaultBackend>;
  /** Stores a new session under a new key. */
  save(record: SessionRecord, backend: VaultBackend): Promise<void>;
  /**
   * Re-seals a changed session (a refresh) under its existing key. The key
   * stays put, so a reader that read the file just before the rename still
   * finds the key that opens it.
   */
  update(loaded: LoadedSession, record: SessionRecord): Promise<void>;
  /** The decrypted session, or null when the profile has none. */
  load(profile: string): Promise<LoadedSession | null>;
  /** The clear metadata, without touching a key. */
  readMeta(profile: string): Promise<StoredMeta | null>;
  /**
   * Deletes the key first (crypto-shredding), then the file. True when
   * something was there. When the keychain refuses to delete the key, the
   * file is deleted all the same (the key alone opens nothing) and the
   * keychain's error is thrown after.
   */
  remove(profile: string): Promise<boolean>;
  /** Profiles that have a session file. */
  profiles(): Promise<string[]>;
}

const corruptHint = (profile: string): string =>
  `Run "devlogin logout --local${profileFlag(profile)}" to drop it, then sign in again.`;

export function createVault({ paths, env, keyStore, keyCache }: VaultOptions): Vault {
  const keychain = keyStore ?? createOsKeyStore(env.DEVLOGIN_KEYCHAIN_SERVICE || DEFAULT_KEYCHAIN_SERVICE, undefined, env.DBUS_SESSION_BUS_ADDRESS);
  const dir = sessionsDir(paths);
  const fileOf = (profile: string): string => join(dir, `${profile}.json.enc`);

  const passphrase = (): string => {
    const value = env.DEVLOGIN_VAULT_PASSPHRASE;
    if (!value) {
      throw vaultError('This session is in the passphrase vault, but DEVLOGIN_VAULT_PASSPHRASE is not set.', {
        hint: 'Set DEVLOGIN_VAULT_PASSPHRASE to the passphrase used at login.',
      });
    }
    return value;
  };

  async function readEnvelope(profile: string): Promise<Envelope | null> {
    let raw: Buffer | null;
    try {
      raw = await readFileOrNull(fileOf(profile));
    } catch (err) {
      throw vaultError(`Cannot read the session file ${fileOf(profile)}: ${(err as Error).message}`, { cause: err });
    }
    if (raw === null) return null;
    const envelope = parseEnvelope(raw.toString('utf8'));
    if (!envelope || envelope.meta.profile !== profile) {
      throw vaultError(`The stored session for profile "${profile}" is corrupt.`, { hint: corruptHint(profile), code: 'vault_corrupt' });
    }
    return envelope;
  }

  async function unwrapKey(envelope: Envelope): Promise<Buffer> {
    const profile = envelope.meta.profile;
    if (envelope.backend === 'keychain') {
      const { sessionId, sessionExpiresAt } = envelope.meta;
      const held = keyCache?.get(profile, sessionId, Date.now() / 1000);
      if (held) return held;
      const key = await keychain.getKey(profile);
      if (!key) {
        throw vaultError(`The key for profile "${profile}" is missing from the OS keychain.`, { hint: corruptHint(profile), code: 'vault_corrupt' });
      }
      keyCache?.set(profile, sessionId, key, sessionExpiresAt);
      return key;
    }
    const wrapped = envelope.wrappedKey!;
    const kek = await deriveKey(passphrase(), wrapped.kdf).catch((err: unknown) => {
      throw vaultError(`The stored session for profile "${profile}" is corrupt.`, { hint: corruptHint(profile), cause: err });
    });
    try {
      return open(kek, wrapped, wrapAad(envelope.meta));
    } catch {
      throw vaultError('Wrong vault passphrase, or the session file was tampered with.', {
        hint: `Check DEVLOGIN_VAULT_PASSPHRASE. ${corruptHint(profile)}`,
        code: 'vault_passphrase',
      });
    }
  }

  /** Seals the record, stores the key where the backend keeps it, then renames the file into place. */
  async function writeEnvelope(
    record: SessionRecord,
    backend: VaultBackend,
    key: Buffer,
    how: { storeKey?: () => Promise<void>; wrappedKey?: Envelope['wrappedKey'] },
  ): Promise<void> {
    const meta = metaOf(record);
    const header = { format: 'devlogin-session', version: 1, backend, meta } as const;
    const envelope: Envelope = { ...header, session: seal(key, Buffer.from(JSON.stringify(record), 'utf8'), envelopeAad(header)) };
    if (backend === 'passphrase') {
      if (how.wrappedKey) {
        envelope.wrappedKey = how.wrappedKey; // bound to profile and session id, which an update keeps
      } else {
        const kdf = newScryptParams();
        const kek = await deriveKey(passphrase(), kdf);
        envelope.wrappedKey = { ...seal(kek, key, wrapAad(meta)), kdf };
      }
    } else {
      await how.storeKey?.();
    }
    try {
      await writeFileAtomic(fileOf(record.profile), `${JSON.stringify(envelope)}\n`);
    } catch (err) {
      throw vaultError(`Cannot write the session file: ${(err as Error).message}`, { cause: err });
    }
  }

  return {
    async chooseBackend() {
      const wanted = env.DEVLOGIN_VAULT?.trim();
      if (wanted === 'passphrase') {
        passphrase();
        return 'passphrase';
      }
      if (wanted === 'keychain') {
        await keychain.probe();
        return 'keychain';
      }
      if (wanted) throw usageError(`Invalid DEVLOGIN_VAULT "${wanted.slice(0, 40)}".`, 'Use "keychain" or "passphrase".');
      try {
        await keychain.probe();
        return 'keychain';
      } catch (err) {
        if (env.DEVLOGIN_VAULT_PASSPHRASE) return 'passphrase';
        const reason = err instanceof DevloginError ? err.message : 'The OS keychain is not available.';
        throw vaultError(`No vault to store the session in. ${reason}`, {
          hint: 'Start or unlock your OS keychain (on Linux, a Secret Service such as gnome-keyring), or set DEVLOGIN_VAULT_PASSPHRASE to use the passphrase vault.',
          code: 'vault_unavailable',
          cause: err,
        });
      }
    },

    async save(record, backend) {
      const key = generateKey();
      await writeEnvelope(record, backend, key, { storeKey: () => keychain.setKey(record.profile, key) });
    },

    async update(loaded, record) {
      if (record.profile !== loaded.record.profile || record.sessionId !== loaded.record.sessionId) {
        throw new Error('update must keep the profile and the session id');
      }
      await writeEnvelope(record, loaded.backend, loaded.key, { wrappedKey: loaded.wrappedKey });
    },

    async load(profile) {
      const envelope = await readEnvelope(profile);
      if (!envelope) return null;
      const key = await unwrapKey(envelope);
      let record: unknown;
      try {
        record = JSON.parse(open(key, envelope.session, envelopeAad(envelope)).toString('utf8'));
      } catch {
        keyCache?.forget(profile);
        throw vaultError(`The stored session for profile "${profile}" cannot be decrypted.`, { hint: corruptHint(profile), code: 'vault_corrupt' });
      }
      if (!isSessionRecord(record) || record.sessionId !== envelope.meta.sessionId) {
        throw vaultError(`The stored session for profile "${profile}" is corrupt.`, { hint: corruptHint(profile), code: 'vault_corrupt' });
      }
      return { record, backend: envelope.backend, key, ...(envelope.wrappedKey ? { wrappedKey: envelope.wrappedKey } : {}) };
    },

    async readMeta(profile) {
      const envelope = await readEnvelope(profile);
      return envelope && { meta: envelope.meta, backend: envelope.backend };
    },

    async remove(profile) {
      let envelope: Envelope | null;
      try {
        envelope = await readEnvelope(profile);
      } catch {
        // Corrupt: shred whatever key the keychain may hold for it, then drop the file.
        await keychain.deleteKey(profile).catch(() => false);
        await rm(fileOf(profile), { force: true });
        return true;
      }
      if (!envelope) return false;
      let keyError: unknown;
      if (envelope.backend === 'keychain') await keychain.deleteKey(profile).catch((err: unknown) => { keyError = err; });
      await rm(fileOf(profile), { force: true });
      if (keyError) throw keyError;
      return true;
    },

    async profiles() {
      try {
        const names = await readdir(dir);
        return names.filter((name) => name.endsWith('.json.enc')).map((name) => name.slice(0, -'.json.enc'.length)).sort();
      } catch (err) {
        if (isNotFound(err)) return [];
        throw err;
      }
    },
  };
}

function isSessionRecord(value: unknown): value is SessionRecord {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return record.version === 1
    && ['sessionId', 'profile', 'issuer', 'clientId', 'subject', 'tokenType', 'accessToken', 'scope'].every((key) => typeof record[key] === 'string')
    && Number.isFinite(record.sessionExpiresAt) && Number.isFinite(record.createdAt);
}
