import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DevloginError, usageError, vaultError } from '../../errors.js';
import { assertSafeDirs, writeFileAtomic, readFileOrNull, isNotFound, removeFile, reserveFile, type Reserved } from '../fs-safe.js';
import { sessionsDir, type Paths } from '../paths.js';
import { metaOf, type SessionMeta, type SessionRecord } from '../session/record.js';
import { resolveVaultKey, type Env } from '../settings.js';
import type { KeyBackend } from './backend.js';
import { generateKey, open, seal } from './crypto.js';
import { envelopeAad, parseEnvelope, type Envelope, type VaultBackend, type WrappedKey } from './envelope.js';
import { corruptHint } from './hints.js';
import { createKeychainBackend, createOsKeyStore, DEFAULT_KEYCHAIN_SERVICE, type KeyStore } from './keychain.js';
import { createKernelBackend, createKernelKeyStore } from './kernel.js';
import { createVaultKeyBackend } from './key.js';
import { createPassphraseBackend, type PromptSecret } from './passphrase.js';

export type { VaultBackend } from './envelope.js';

export interface VaultOptions {
  paths: Paths;
  env: Env;
  /** Defaults to the OS keychain under DEVLOGIN_KEYCHAIN_SERVICE; tests pass one in memory. */
  keyStore?: KeyStore;
  /** Defaults to the Linux kernel keyring under DEVLOGIN_KEYCHAIN_SERVICE; tests pass one in memory. */
  kernelStore?: KeyStore;
  /** Asks for the passphrase when DEVLOGIN_VAULT_PASSPHRASE is unset (Deps.promptSecret); without it, nobody is asked. */
  promptSecret?: PromptSecret;
}

export interface LoadedSession {
  record: SessionRecord;
  backend: VaultBackend;
  /** The session's data key, kept so an update re-seals under the same key. */
  key: Buffer;
  /** A key wrapped in the file (passphrase, key), reused by an update: no new key derivation. */
  wrappedKey?: WrappedKey;
  /** The file's generation (Envelope.generation); an update writes the next one. */
  generation: number;
}

export interface StoredMeta {
  meta: SessionMeta;
  backend: VaultBackend;
}

/** Room made for a session's next update before a refresh spends anything (reserveUpdate). */
export type Reservation = Reserved;

/** The encrypted session store (DESIGN.md, "The vault"). */
export interface Vault {
  /**
   * The backend a new session goes to: DEVLOGIN_VAULT, else the first that
   * answers, skipping `exclude` (backends a policy forbids: the caller
   * refuses an explicit choice of one).
   */
  chooseBackend(options?: { exclude?: readonly VaultBackend[] }): Promise<VaultBackend>;
  /** Stores a new session under a new key. */
  save(record: SessionRecord, backend: VaultBackend): Promise<void>;
  /**
   * Makes room for the session's next update (fs-safe.ts reserveFile) before
   * a refresh spends the refresh token: exit 6 (no_space) when there is
   * none, with the session as it was. release() it when no update follows.
   */
  reserveUpdate(loaded: LoadedSession): Promise<Reservation>;
  /**
   * Re-seals a changed session (a refresh) under its existing key, as the
   * file's next generation, written into `reservation` when given. The key
   * stays put, so a reader that read the file just before the rename still
   * finds the key that opens it; a backend that keeps the key apart then
   * records the new generation with it.
   */
  update(loaded: LoadedSession, record: SessionRecord, reservation?: Reservation): Promise<LoadedSession>;
  /**
   * The decrypted session, or null when the profile has none. A file older
   * than the generation kept with its key (an old copy put back) is refused,
   * exit 6 (vault_rollback).
   */
  load(profile: string): Promise<LoadedSession | null>;
  /** The clear metadata, without touching a key. */
  readMeta(profile: string): Promise<StoredMeta | null>;
  /**
   * The clear metadata, checked against the sealed record (load's checks) when
   * that asks nobody anything: `verified` is false for a passphrase session
   * with no passphrase at hand, or a key store that does not answer. A clear
   * part that the record does not authenticate, a missing key or an old copy
   * throws, as load does.
   */
  verifiedMeta(profile: string): Promise<(StoredMeta & { verified: boolean }) | null>;
  /**
   * Deletes the key first (crypto-shredding), then the file. True when
   * something was there. When the backend refuses to delete the key, the
   * file is deleted all the same (the key alone opens nothing) and the
   * backend's error is thrown after.
   */
  remove(profile: string): Promise<boolean>;
  /** Profiles that have a session file. */
  profiles(): Promise<string[]>;
}

export function createVault({ paths, env, keyStore, kernelStore, promptSecret }: VaultOptions): Vault {
  const service = env.DEVLOGIN_KEYCHAIN_SERVICE || DEFAULT_KEYCHAIN_SERVICE;
  const store = keyStore ?? createOsKeyStore(service, undefined, env.DBUS_SESSION_BUS_ADDRESS);
  // DEVLOGIN_VAULT_KEY is checked on the vault's first use, whatever the
  // backend: a malformed key is exit 2 before any request or prompt.
  let vaultKey: { value: Buffer | undefined } | undefined;
  const checkedVaultKey = (): Buffer | undefined => (vaultKey ??= { value: resolveVaultKey(env) }).value;
  // The automatic choice tries them in this order (DESIGN.md "Environment": DEVLOGIN_VAULT).
  const dir = sessionsDir(paths);
  const fileOf = (profile: string): string => join(dir, `${profile}.json.enc`);
  // A key store item is named after the session file it opens: two state
  // folders with the same profile never share (or delete) each other's key.
  const accountOf = (profile: string): string => resolve(fileOf(profile));
  const backends: KeyBackend[] = [
    createKeychainBackend(store, accountOf),
    createKernelBackend(kernelStore ?? createKernelKeyStore(service), accountOf),
    createVaultKeyBackend(checkedVaultKey),
    createPassphraseBackend(env, promptSecret),
  ];
  const backendOf = (name: VaultBackend): KeyBackend => backends.find((backend) => backend.name === name)!;
  const corrupt = (profile: string, cause?: unknown): DevloginError =>
    vaultError(`The stored session for profile "${profile}" is corrupt.`, { hint: corruptHint(profile), code: 'vault_corrupt', cause });

  async function readEnvelope(profile: string): Promise<Envelope | null> {
    let raw: Buffer | null;
    assertSafeDirs(paths.stateDir, dir);
    try {
      raw = await readFileOrNull(fileOf(profile));
    } catch (err) {
      if (err instanceof DevloginError) throw err;
      throw vaultError(`Cannot read the session file ${fileOf(profile)}: ${(err as Error).message}`, { cause: err });
    }
    if (raw === null) return null;
    const envelope = parseEnvelope(raw.toString('utf8'));
    if (!envelope || envelope.meta.profile !== profile) throw corrupt(profile);
    return envelope;
  }

  async function writeEnvelope(record: SessionRecord, backend: VaultBackend, key: Buffer, wrappedKey: WrappedKey | undefined, generation: number, reservation?: Reservation): Promise<void> {
    const header = { format: 'devlogin-session', version: 1, backend, meta: metaOf(record), generation } as const;
    const envelope: Envelope = {
      ...header,
      session: seal(key, Buffer.from(JSON.stringify(record), 'utf8'), envelopeAad(header)),
      ...(wrappedKey ? { wrappedKey } : {}),
    };
    try {
      await writeFileAtomic(fileOf(record.profile), `${JSON.stringify(envelope)}\n`, reservation);
    } catch (err) {
      if (err instanceof DevloginError) throw err;
      throw vaultError(`Cannot write the session file: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Unwraps and decrypts an envelope, refusing one older than the generation its backend kept. */
  async function openEnvelope(profile: string, envelope: Envelope, reread = true): Promise<LoadedSession> {
    const { key, generation: latest } = await backendOf(envelope.backend).unwrap(envelope);
    const generation = envelope.generation ?? 0;
    if (latest !== undefined && generation < latest) {
      // A refresh elsewhere may have renamed a newer file in between the read
      // of the file and of the key (it writes the file first): look once more.
      const again = reread ? await readEnvelope(profile) : null;
      if (again && again.meta.sessionId === envelope.meta.sessionId && (again.generation ?? 0) >= latest) return openEnvelope(profile, again, false);
      throw vaultError(`The session file for profile "${profile}" is an older copy than the one last saved (generation ${generation}; the ${envelope.backend} has ${latest}): it was put back from a copy, and its refresh token may be spent.`, {
        hint: corruptHint(profile),
        code: 'vault_rollback',
      });
    }
    let record: unknown;
    try {
      record = JSON.parse(open(key, envelope.session, envelopeAad(envelope)).toString('utf8'));
    } catch {
      throw vaultError(`The stored session for profile "${profile}" cannot be decrypted.`, { hint: corruptHint(profile), code: 'vault_corrupt' });
    }
    if (!isSessionRecord(record) || record.sessionId !== envelope.meta.sessionId) throw corrupt(profile);
    return { record, backend: envelope.backend, key, generation, ...(envelope.wrappedKey ? { wrappedKey: envelope.wrappedKey } : {}) };
  }

  return {
    async chooseBackend({ exclude = [] } = {}) {
      checkedVaultKey();
      const wanted = env.DEVLOGIN_VAULT?.trim();
      if (wanted) {
        const backend = backends.find((candidate) => candidate.name === wanted);
        if (!backend) throw usageError(`Invalid DEVLOGIN_VAULT "${wanted.slice(0, 40)}".`, `Use one of: ${backends.map((b) => b.name).join(', ')}.`);
        await backend.probe();
        return backend.name;
      }
      const reasons: string[] = [];
      for (const backend of backends.filter((candidate) => !exclude.includes(candidate.name))) {
        try {
          await backend.probe();
          return backend.name;
        } catch (err) {
          reasons.push(err instanceof DevloginError ? err.message : `the ${backend.name} vault is not available.`);
        }
      }
      // The keychain's and the kernel keyring's reasons: the two that can be fixed where devlogin runs.
      throw vaultError(`No vault to store the session in. ${reasons.slice(0, 2).join(' ')}`.trim(), {
        hint: 'Start or unlock your OS keychain (on Linux, a Secret Service such as gnome-keyring); on Linux, run in a login session for the kernel keyring; '
          + 'or set DEVLOGIN_VAULT_KEY (devlogin vault new-key) or DEVLOGIN_VAULT_PASSPHRASE, or run on a terminal to be asked for a passphrase.',
        code: 'vault_unavailable',
      });
    },

    async save(record, backend) {
      checkedVaultKey();
      const key = generateKey();
      await writeEnvelope(record, backend, key, await backendOf(backend).wrap(key, metaOf(record), 0), 0);
    },

    reserveUpdate(loaded) {
      // Room for the record sealed (base64: 4/3) with what a refresh adds (new tokens, an ID token), and plenty more.
      return reserveFile(fileOf(loaded.record.profile), 64 * 1024 + 4 * JSON.stringify(loaded.record).length);
    },

    async update(loaded, record, reservation) {
      if (record.profile !== loaded.record.profile || record.sessionId !== loaded.record.sessionId) {
        throw new Error('update must keep the profile and the session id');
      }
      const generation = loaded.generation + 1;
      // The wrapped key is bound to profile and session id, which an update keeps.
      await writeEnvelope(record, loaded.backend, loaded.key, loaded.wrappedKey, generation, reservation);
      // After the file: a key store behind the file is harmless (load takes a
      // newer file), ahead of it would refuse the file as an old copy. If
      // the store does not answer now, the next update records it.
      await backendOf(loaded.backend).advance(loaded.key, metaOf(record), generation).catch(() => undefined);
      return { ...loaded, record, generation };
    },

    async load(profile) {
      checkedVaultKey();
      const envelope = await readEnvelope(profile);
      return envelope && openEnvelope(profile, envelope);
    },

    async readMeta(profile) {
      checkedVaultKey();
      const envelope = await readEnvelope(profile);
      return envelope && { meta: envelope.meta, backend: envelope.backend };
    },

    async verifiedMeta(profile) {
      checkedVaultKey();
      const envelope = await readEnvelope(profile);
      if (!envelope) return null;
      const stored = { meta: envelope.meta, backend: envelope.backend };
      if (!backendOf(envelope.backend).opensQuietly()) return { ...stored, verified: false };
      try {
        await openEnvelope(profile, envelope);
        return { ...stored, verified: true };
      } catch (err) {
        // What says the file is not what was saved is thrown; a store that cannot be asked now only leaves it unchecked.
        if (err instanceof DevloginError && UNVERIFIABLE.has(err.code ?? '')) return { ...stored, verified: false };
        throw err;
      }
    },

    async remove(profile) {
      checkedVaultKey();
      let envelope: Envelope | null;
      try {
        envelope = await readEnvelope(profile);
      } catch {
        // Unreadable: shred whatever key any backend may hold for it, then drop the file.
        await Promise.all(backends.map((backend) => backend.remove(profile).catch(() => undefined)));
        removeFile(fileOf(profile));
        return true;
      }
      if (!envelope) return false;
      let keyError: unknown;
      await backendOf(envelope.backend).remove(profile).catch((err: unknown) => { keyError = err; });
      removeFile(fileOf(profile));
      if (keyError) throw keyError;
      return true;
    },

    async profiles() {
      assertSafeDirs(paths.stateDir, dir);
      try {
        const names = readdirSync(dir);
        return names.filter((name) => name.endsWith('.json.enc')).map((name) => name.slice(0, -'.json.enc'.length)).sort();
      } catch (err) {
        if (isNotFound(err)) return [];
        throw err;
      }
    },
  };
}

/** Why a session could not be checked, without anything being wrong with it (a key store that does not answer, a key not given). */
const UNVERIFIABLE = new Set(['keychain_timeout', 'keychain_unavailable', 'kernel_refused', 'kernel_unavailable', 'vault_key_missing']);

function isSessionRecord(value: unknown): value is SessionRecord {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return record.version === 1
    && ['sessionId', 'profile', 'issuer', 'clientId', 'subject', 'tokenType', 'accessToken', 'scope'].every((key) => typeof record[key] === 'string')
    && Number.isFinite(record.sessionExpiresAt) && Number.isFinite(record.createdAt);
}
