import { createHash, randomBytes } from 'node:crypto';
import { toBase32 } from './encoding.ts';

/**
 * Self-certifying identities: an id is a prefix plus the first 130 bits of
 * sha256(public key) in base32, so whoever shows the key proves the id.
 * `mn…` names a MeshNode, `cp…` a control plane.
 */
export type Role = 'node' | 'cp';

const PREFIX: Record<Role, string> = { node: 'mn', cp: 'cp' };
const HASH_CHARS = 26;

export const NODE_ID_PATTERN = /^mn[a-z2-7]{26}$/;
export const CONTROL_PLANE_ID_PATTERN = /^cp[a-z2-7]{26}$/;

export function deriveId(publicKey: Uint8Array, role: Role): string {
  const digest = createHash('sha256').update(publicKey).digest();
  return PREFIX[role] + toBase32(new Uint8Array(digest)).slice(0, HASH_CHARS);
}

export function deriveNodeId(publicKey: Uint8Array): string {
  return deriveId(publicKey, 'node');
}

export function roleOfId(id: string): Role | null {
  if (NODE_ID_PATTERN.test(id)) return 'node';
  if (CONTROL_PLANE_ID_PATTERN.test(id)) return 'cp';
  return null;
}

/** A message id: a time-ordered prefix for readable logs and 96 random bits. */
export function newMessageId(now = Date.now()): string {
  return now.toString(36).padStart(9, '0') + '-' + Buffer.from(randomSlice(12)).toString('base64url');
}

/** A short random id for jobs, shards, leases: url- and topic-safe. */
export function newId(prefix: string): string {
  return `${prefix}_${toBase32(randomSlice(10))}`;
}

// Ids are made thousands of times a second on a busy control plane: one
// call into the CSPRNG fills a pool that serves hundreds of them.
const POOL_SIZE = 4096;
let pool = new Uint8Array(0);
let poolOffset = 0;

/** `length` fresh random bytes (each byte of the pool is handed out once). */
function randomSlice(length: number): Uint8Array {
  if (poolOffset + length > pool.length) {
    pool = new Uint8Array(randomBytes(POOL_SIZE));
    poolOffset = 0;
  }
  const slice = pool.slice(poolOffset, poolOffset + length);
  poolOffset += length;
  return slice;
}
