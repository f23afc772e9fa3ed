import canonicalizeModule from 'canonicalize';
import { createHash } from 'node:crypto';
import { MalformedMessageError } from './errors.ts';

// A CommonJS module whose typings declare an ES default export; at run time the
// default import is the function itself.
const canonicalize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

/**
 * Canonical JSON (RFC 8785, JCS): the one byte encoding that every signature
 * and every content hash in MeshChain is computed over.
 */
export function canonicalJson(value: unknown): string {
  // Every message is encoded at least once on each side: plain JSON values take
  // one pass; anything else (and every error) takes the checked path below.
  const fast = plainCanonicalJson(value);
  if (fast !== undefined) return fast;
  assertCanonicalizable(value, '$');
  const text = canonicalize(value);
  if (text === undefined) throw new MalformedMessageError('value cannot be canonicalized');
  return text;
}

const utf8 = new TextEncoder();

export function canonicalBytes(value: unknown): Uint8Array {
  return utf8.encode(canonicalJson(value));
}

/**
 * JCS of a value made only of strings, booleans, finite numbers, null,
 * arrays and plain objects without `toJSON`: the same text as `canonicalize`
 * (keys in UTF-16 code-unit order, numbers and strings as JSON.stringify
 * writes them). Undefined for anything else, which the checked path handles.
 */
function plainCanonicalJson(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : undefined;
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (!(i in value)) return undefined;
          const item = plainCanonicalJson(value[i]);
          if (item === undefined) return undefined;
          out += i === 0 ? item : `,${item}`;
        }
        return `${out}]`;
      }
      if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return undefined;
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i] as string;
        const item = plainCanonicalJson(record[key]);
        if (item === undefined) return undefined;
        out += `${i === 0 ? '' : ','}${JSON.stringify(key)}:${item}`;
      }
      return `${out}}`;
    }
    default:
      return undefined;
  }
}

/** sha256 of the canonical encoding, hex. Used for input, result and manifest hashes. */
export function canonicalHash(value: unknown): string {
  return sha256Hex(canonicalBytes(value));
}

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

// JCS is only defined for JSON values; refuse the JavaScript values that would
// silently change meaning (undefined dropped, NaN → null, bigint throws late).
function assertCanonicalizable(value: unknown, path: string): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new MalformedMessageError(`non-finite number at ${path}`);
      return;
    case 'object':
      if (value === null) return;
      if (Array.isArray(value)) {
        value.forEach((item, i) => assertCanonicalizable(item, `${path}[${i}]`));
        return;
      }
      for (const [key, item] of Object.entries(value)) assertCanonicalizable(item, `${path}.${key}`);
      return;
    default:
      throw new MalformedMessageError(`${typeof value} is not a JSON value at ${path}`);
  }
}

export function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

export function fromBase64Url(text: string, expectedLength?: number): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new MalformedMessageError('not base64url');
  const bytes = new Uint8Array(Buffer.from(text, 'base64url'));
  if (expectedLength !== undefined && bytes.length !== expectedLength) {
    throw new MalformedMessageError(`expected ${expectedLength} bytes, got ${bytes.length}`);
  }
  return bytes;
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** RFC 4648 base32, lowercase, no padding: safe in MQTT topics, file names and hostnames. */
export function toBase32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(buffer << (5 - bits)) & 31];
  return out;
}
