import { webcrypto, type JsonWebKey } from 'node:crypto';
import * as client from 'openid-client';
import { providerError } from '../../errors.js';

/** The key a DPoP-bound session proves possession of (RFC 9449); kept only inside the sealed session. */
export interface StoredDpopKey {
  alg: string;
  privateJwk: JsonWebKey;
  publicJwk: JsonWebKey;
}

/**
 * How login treats DPoP: demand it (--dpop, the profile, or policy), or not
 * use it. Never "when offered": a bound token is useless to token and exec.
 */
export type DpopMode = 'require' | 'off';

const ALGORITHMS: Record<string, webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams | { name: 'Ed25519' }> = {
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  ES384: { name: 'ECDSA', namedCurve: 'P-384' },
  PS256: { name: 'RSA-PSS', hash: 'SHA-256' },
  RS256: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  Ed25519: { name: 'Ed25519' },
  EdDSA: { name: 'Ed25519' },
};

/** The algorithm to use, from what the provider advertises (ES256 first), or undefined when it offers no DPoP. */
export function chooseDpopAlg(metadata: client.ServerMetadata): string | undefined {
  const offered = metadata.dpop_signing_alg_values_supported;
  if (!Array.isArray(offered)) return undefined;
  return Object.keys(ALGORITHMS).find((alg) => offered.includes(alg));
}

/** A fresh key pair for a new session, and its JWK form for the vault. */
export async function newDpopKey(alg: string): Promise<{ stored: StoredDpopKey; keyPair: webcrypto.CryptoKeyPair }> {
  const keyPair = await client.randomDPoPKeyPair(alg, { extractable: true });
  const [privateJwk, publicJwk] = await Promise.all([
    webcrypto.subtle.exportKey('jwk', keyPair.privateKey),
    webcrypto.subtle.exportKey('jwk', keyPair.publicKey),
  ]);
  return { stored: { alg, privateJwk: privateJwk as JsonWebKey, publicJwk: publicJwk as JsonWebKey }, keyPair };
}

/** The DPoP handle that signs proofs for a stored key. */
export async function dpopHandle(config: client.Configuration, stored: StoredDpopKey): Promise<client.DPoPHandle> {
  const algorithm = ALGORITHMS[stored.alg];
  if (!algorithm) throw providerError(`Unsupported DPoP algorithm ${stored.alg} in the stored session.`, { code: 'dpop' });
  const [privateKey, publicKey] = await Promise.all([
    webcrypto.subtle.importKey('jwk', stored.privateJwk as webcrypto.JsonWebKey, algorithm, false, ['sign']),
    webcrypto.subtle.importKey('jwk', stored.publicJwk as webcrypto.JsonWebKey, algorithm, true, ['verify']),
  ]);
  return client.getDPoPHandle(config, { privateKey, publicKey });
}

/**
 * A DPoP proof JWT (RFC 9449 §4.2) for a request openid-client sends without
 * one: token revocation. RFC 7009 does not ask for it, but a provider that
 * binds refresh tokens may, and it costs nothing to show possession.
 */
export async function dpopProof(stored: StoredDpopKey, method: string, url: string): Promise<string> {
  const { SignJWT, importJWK } = await import('jose');
  const key = await importJWK(stored.privateJwk as Parameters<typeof importJWK>[0], stored.alg);
  const { kty, crv, x, y, n, e } = stored.publicJwk as Record<string, string | undefined>;
  const jwk = Object.fromEntries(Object.entries({ kty, crv, x, y, n, e }).filter(([, value]) => value !== undefined));
  const target = new URL(url);
  return new SignJWT({ htm: method, htu: `${target.origin}${target.pathname}`, jti: webcrypto.randomUUID() })
    .setProtectedHeader({ typ: 'dpop+jwt', alg: stored.alg, jwk })
    .setIssuedAt()
    .sign(key);
}
