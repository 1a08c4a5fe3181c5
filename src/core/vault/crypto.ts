import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, scrypt as scryptCallback } from 'node:crypto';

/** AES-256-GCM output, every field base64. */
export interface Sealed {
  alg: 'A256GCM';
  iv: string;
  tag: string;
  data: string;
}

export const KEY_BYTES = 32;

/** A fresh random 256-bit data key: one per session. */
export function generateKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

/** Encrypts with AES-256-GCM; `aad` is authenticated but not encrypted. */
export function seal(key: Uint8Array, plaintext: Uint8Array, aad: string): Sealed {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const data = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { alg: 'A256GCM', iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
}

/** Decrypts what seal produced; throws when the key, data or aad do not match. */
export function open(key: Uint8Array, sealed: Sealed, aad: string): Buffer {
  if (sealed.alg !== 'A256GCM') throw new Error(`unsupported cipher ${String(sealed.alg)}`);
  const tag = Buffer.from(sealed.tag, 'base64');
  const iv = Buffer.from(sealed.iv, 'base64');
  if (tag.length !== 16 || iv.length !== 12) throw new Error('malformed cipher parameters');
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]);
}

/** scrypt parameters, stored beside the wrapped key so they can be raised later. */
export interface ScryptParams {
  kdf: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
}

/** N = 2^15, r = 8: 32 MiB and about a tenth of a second per unlock here. */
export function newScryptParams(): ScryptParams {
  return { kdf: 'scrypt', N: 2 ** 15, r: 8, p: 1, salt: randomBytes(16).toString('base64') };
}

const MAX_N = 2 ** 20;

/** Derives the key-wrapping key from the passphrase. */
export function deriveKey(passphrase: string, params: ScryptParams): Promise<Buffer> {
  const { N, r, p } = params;
  if (params.kdf !== 'scrypt' || !isPowerOfTwo(N) || N > MAX_N || !inRange(r, 1, 32) || !inRange(p, 1, 16)) {
    return Promise.reject(new Error('unsupported key derivation parameters'));
  }
  return new Promise((resolve, reject) => {
    scryptCallback(passphrase.normalize('NFC'), Buffer.from(params.salt, 'base64'), KEY_BYTES,
      { N, r, p, maxmem: 256 * N * r + 1024 * 1024 },
      (err, derived) => (err ? reject(err) : resolve(derived)));
  });
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n >= 2 && (n & (n - 1)) === 0;
}

function inRange(n: number, min: number, max: number): boolean {
  return Number.isInteger(n) && n >= min && n <= max;
}

/**
 * HKDF parameters of a key wrapped under DEVLOGIN_VAULT_KEY, stored beside
 * it. The vault key is already 256 random bits, so a slow KDF would add
 * nothing but time: HKDF (RFC 5869) with a fresh salt per session only
 * derives a distinct wrapping key for each one.
 */
export interface HkdfParams {
  kdf: 'hkdf-sha256';
  salt: string;
  info: string;
}

export const VAULT_KEY_INFO = 'devlogin session key wrapping v1';

export function newHkdfParams(): HkdfParams {
  return { kdf: 'hkdf-sha256', salt: randomBytes(KEY_BYTES).toString('base64'), info: VAULT_KEY_INFO };
}

/** The key-wrapping key for one session, from the vault key. */
export function deriveWrappingKey(vaultKey: Uint8Array, params: HkdfParams): Buffer {
  return Buffer.from(hkdfSync('sha256', vaultKey, Buffer.from(params.salt, 'base64'), params.info, KEY_BYTES));
}

/** A fresh vault key, as DEVLOGIN_VAULT_KEY holds it: 32 random bytes, unpadded base64url (43 characters). */
export function newVaultKey(): string {
  return randomBytes(KEY_BYTES).toString('base64url');
}

/** The 32 bytes of a vault key in its text form, or null when the text is not exactly one. */
export function decodeVaultKey(text: string): Buffer | null {
  if (!/^[A-Za-z0-9_-]{43}$/.test(text)) return null;
  const key = Buffer.from(text, 'base64url');
  // 43 characters carry 258 bits: the last 2 must be zero, so each key has one spelling.
  return key.length === KEY_BYTES && key.toString('base64url') === text ? key : null;
}
