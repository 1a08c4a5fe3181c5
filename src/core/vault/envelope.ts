import type { SessionMeta } from '../session/record.js';
import type { HkdfParams, ScryptParams, Sealed } from './crypto.js';

/** The automatic choice tries them in this order (DESIGN.md "Environment": DEVLOGIN_VAULT). */
export const VAULT_BACKENDS = ['keychain', 'kernel', 'key', 'passphrase'] as const;
export type VaultBackend = (typeof VAULT_BACKENDS)[number];

/**
 * The file `sessions/<profile>.json.enc`: the session sealed under its own
 * key, plus metadata in the clear (no secret) that the cipher authenticates.
 */
export interface Envelope {
  format: 'devlogin-session';
  version: 1;
  backend: VaultBackend;
  meta: SessionMeta;
  /**
   * How many times this session's file has been rewritten (each refresh adds
   * one; absent in files written before generations: 0). The keychain and
   * kernel backends keep the latest with the key, so an older copy put back
   * is refused.
   */
  generation?: number;
  session: Sealed;
  /**
   * Passphrase and key backends only: the session key sealed under a key
   * derived from the passphrase (scrypt) or from DEVLOGIN_VAULT_KEY (HKDF).
   */
  wrappedKey?: WrappedKey;
}

/** A session key sealed under a key derived from a secret the user holds. */
export type WrappedKey = Sealed & { kdf: ScryptParams | HkdfParams };

/** Additional authenticated data: tampering with the clear part breaks decryption. */
export function envelopeAad(envelope: Pick<Envelope, 'format' | 'version' | 'backend' | 'meta' | 'generation'>): string {
  const { meta } = envelope;
  const fields = [envelope.format, envelope.version, envelope.backend, meta.profile, meta.sessionId,
    meta.issuer, meta.clientId, meta.subject, meta.createdAt, meta.sessionExpiresAt, meta.accessTokenExpiresAt];
  // Files from before generations authenticate the list without it; removing it from a newer file breaks decryption.
  return JSON.stringify(envelope.generation === undefined ? fields : [...fields, envelope.generation]);
}

export const wrapAad = (meta: SessionMeta): string => JSON.stringify(['devlogin-key', meta.profile, meta.sessionId]);

/** Parses and shape-checks an envelope; returns null when it is not one. */
export function parseEnvelope(text: string): Envelope | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isRecord(value) || value.format !== 'devlogin-session' || value.version !== 1) return null;
  if (!(VAULT_BACKENDS as readonly unknown[]).includes(value.backend)) return null;
  if (!isMeta(value.meta) || !isSealed(value.session)) return null;
  if (value.generation !== undefined && !(Number.isSafeInteger(value.generation) && (value.generation as number) >= 0)) return null;
  if (value.backend === 'passphrase' || value.backend === 'key') {
    const wrapped = value.wrappedKey;
    if (!isSealed(wrapped) || !isRecord(wrapped) || !isRecord(wrapped.kdf)) return null;
    if (!(value.backend === 'passphrase' ? isScrypt(wrapped.kdf) : isHkdf(wrapped.kdf))) return null;
  }
  return value as unknown as Envelope;
}

function isMeta(value: unknown): value is SessionMeta {
  return isRecord(value)
    && ['profile', 'sessionId', 'issuer', 'clientId', 'subject'].every((key) => typeof value[key] === 'string')
    && ['createdAt', 'sessionExpiresAt'].every((key) => Number.isFinite(value[key]))
    && (value.accessTokenExpiresAt === null || Number.isFinite(value.accessTokenExpiresAt));
}

function isSealed(value: unknown): value is Sealed {
  return isRecord(value) && value.alg === 'A256GCM'
    && typeof value.iv === 'string' && typeof value.tag === 'string' && typeof value.data === 'string';
}

function isScrypt(value: Record<string, unknown>): boolean {
  return value.kdf === 'scrypt' && typeof value.salt === 'string'
    && Number.isInteger(value.N) && Number.isInteger(value.r) && Number.isInteger(value.p);
}

function isHkdf(value: Record<string, unknown>): boolean {
  return value.kdf === 'hkdf-sha256' && typeof value.salt === 'string' && typeof value.info === 'string';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
