import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import { createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { SignatureError } from '../errors.ts';

// noble's synchronous API needs a sha512 implementation.
ed.hashes.sha512 = sha512;

/** Something that holds an ed25519 private key and signs with it. */
export interface Signer {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

export const SEED_LENGTH = 32;
export const PUBLIC_KEY_LENGTH = 32;
export const SIGNATURE_LENGTH = 64;

// DER prefixes for raw ed25519 keys (RFC 8410): node:crypto takes keys as DER or JWK.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function generateSeed(): Uint8Array {
  return new Uint8Array(randomBytes(SEED_LENGTH));
}

/**
 * The fast path for servers: node:crypto (OpenSSL), ~10x noble's speed here.
 */
export class NodeCryptoSigner implements Signer {
  readonly publicKey: Uint8Array;
  readonly #key: KeyObject;

  constructor(seed: Uint8Array) {
    if (seed.length !== SEED_LENGTH) throw new SignatureError(`an ed25519 seed is ${SEED_LENGTH} bytes, got ${seed.length}`);
    this.#key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
    const spki = createPublicKey(this.#key).export({ format: 'der', type: 'spki' });
    this.publicKey = new Uint8Array(spki.subarray(SPKI_PREFIX.length));
  }

  sign(message: Uint8Array): Uint8Array {
    return new Uint8Array(sign(null, message, this.#key));
  }
}

/** The portable path: pure JavaScript, byte-identical signatures to node:crypto. */
export class NobleSigner implements Signer {
  readonly publicKey: Uint8Array;
  readonly #seed: Uint8Array;

  constructor(seed: Uint8Array) {
    if (seed.length !== SEED_LENGTH) throw new SignatureError(`an ed25519 seed is ${SEED_LENGTH} bytes, got ${seed.length}`);
    this.#seed = seed.slice();
    this.publicKey = ed.getPublicKey(this.#seed);
  }

  sign(message: Uint8Array): Uint8Array {
    return ed.sign(message, this.#seed);
  }
}

// Public keys recur (one per node); parsing DER on every verify costs more than verifying.
// Least recently used goes first, and the limit is well above a large fleet: with first-in
// first-out and a limit at the fleet's size, a fleet one node larger re-parsed every key.
const publicKeyCache = new Map<string, KeyObject>();
const PUBLIC_KEY_CACHE_LIMIT = 100_000;

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  const cacheKey = Buffer.from(publicKey).toString('hex');
  let key = publicKeyCache.get(cacheKey);
  if (key) {
    publicKeyCache.delete(cacheKey);
  } else {
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
    if (publicKeyCache.size >= PUBLIC_KEY_CACHE_LIMIT) {
      const oldest = publicKeyCache.keys().next().value;
      if (oldest !== undefined) publicKeyCache.delete(oldest);
    }
  }
  publicKeyCache.set(cacheKey, key);
  return key;
}

/** Verifies with node:crypto. Returns false for any malformed key or signature. */
export function verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== PUBLIC_KEY_LENGTH || signature.length !== SIGNATURE_LENGTH) return false;
  try {
    return verify(null, message, publicKeyObject(publicKey), signature);
  } catch {
    return false;
  }
}

/** Verifies with noble (pure JavaScript). */
export function verifySignatureNoble(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== PUBLIC_KEY_LENGTH || signature.length !== SIGNATURE_LENGTH) return false;
  try {
    return ed.verify(signature, message, publicKey);
  } catch {
    return false;
  }
}
