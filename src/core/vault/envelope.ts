import type { SessionMeta } from '../session/record.js';
import type { ScryptParams, Sealed } from './crypto.js';

export type VaultBackend = 'keychain' | 'passphrase';

/**
 * The file `sessions/<profile>.json.enc`: the session sealed under its own
 * key, plus metadata in the clear (no secret) that the cipher authenticates.
 */
export interface Envelope {
  format: 'devlogin-session';
  version: 1;
  backend: VaultBackend;
  meta: SessionMeta;
  session: Sealed;
  /** Passphrase backend only: the session key sealed under a scrypt-derived key. */
  wrappedKey?: WrappedKey;
}

/** A session key sealed under a key derived from a secret the user holds. */
export type WrappedKey = Sealed & { kdf: ScryptParams };

/** Additional authenticated data: tampering with the clear part breaks decryption. */
export function envelopeAad(envelope: Pick<Envelope, 'format' | 'version' | 'backend' | 'meta'>): string {
  const { meta } = envelope;
  return JSON.stringify([envelope.format, envelope.version, envelope.backend, meta.profile, meta.sessionId,
    meta.issuer, meta.clientId, meta.subject, meta.createdAt, meta.sessionExpiresAt, meta.accessTokenExpiresAt]);
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
  if (value.backend !== 'keychain' && value.backend !== 'passphrase') return null;
  if (!isMeta(value.meta) || !isSealed(value.session)) return null;
  if (value.backend === 'passphrase') {
    const wrapped = value.wrappedKey;
    if (!isSealed(wrapped) || !isRecord(wrapped) || !isRecord(wrapped.kdf) || !isScrypt(wrapped.kdf)) return null;
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

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
