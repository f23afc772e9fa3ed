import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import canonicalizeModule from 'canonicalize';
import { canonicalHash, canonicalJson, fromBase64Url, MalformedMessageError, ReplayGuard, toBase32, toBase64Url } from '../src/index.ts';

const canonicalize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

/** A seeded random JSON value: strings with escapes, astral and surrogate-order keys, odd numbers, nesting. */
function randomJson(next: () => number, depth = 0): unknown {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const text = (): string => Array.from({ length: Math.floor(next() * 6) }, () => pick(['a', 'B', 'é', '\u20ac', '😀', '\ufb33', '"', '\\', '\n', '\u0001', '\u2028', '1', '_'])).join('');
  const kind = depth > 3 ? Math.floor(next() * 4) : Math.floor(next() * 6);
  switch (kind) {
    case 0:
      return text();
    case 1:
      return pick([0, -0, 1, -1.5, 1e21, 1e-7, 123456789.125, Number.MAX_SAFE_INTEGER, 5e-324, 0.1 + 0.2]);
    case 2:
      return pick([true, false]);
    case 3:
      return null;
    case 4:
      return Array.from({ length: Math.floor(next() * 4) }, () => randomJson(next, depth + 1));
    default:
      return Object.fromEntries(Array.from({ length: Math.floor(next() * 5) }, () => [text(), randomJson(next, depth + 1)]));
  }
}

describe('canonical encoding', () => {
  it('sorts keys recursively and is independent of insertion order', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [1, 'x'], c: null } }), '{"a":{"c":null,"d":[1,"x"]},"b":1}');
    assert.equal(canonicalHash({ x: 1, y: 2 }), canonicalHash({ y: 2, x: 1 }));
    assert.notEqual(canonicalHash({ x: 1 }), canonicalHash({ x: 2 }));
  });

  it('writes exactly what the reference JCS implementation writes', () => {
    let seed = 7;
    const next = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 2000; i++) {
      const value = randomJson(next);
      assert.equal(canonicalJson(value), canonicalize(value));
    }
    // Values outside plain JSON take the checked path and still match.
    const date = new Date(0);
    assert.equal(canonicalJson({ at: date }), canonicalize({ at: date }));
  });

  it('refuses values JSON cannot carry faithfully', () => {
    assert.throws(() => canonicalJson({ a: Number.NaN }), MalformedMessageError);
    assert.throws(() => canonicalJson({ a: Infinity }), MalformedMessageError);
    assert.throws(() => canonicalJson({ a: undefined }), MalformedMessageError);
    assert.throws(() => canonicalJson({ a: 1n }), MalformedMessageError);
    assert.throws(() => canonicalJson({ a: [1, undefined] }), /undefined is not a JSON value at \$\.a\[1\]/);
    assert.throws(() => canonicalJson([() => 1]), /function is not a JSON value/);
  });

  it('round-trips base64url and refuses other alphabets and lengths', () => {
    const bytes = new Uint8Array([0, 255, 62, 63, 1]);
    assert.deepEqual(fromBase64Url(toBase64Url(bytes)), bytes);
    assert.throws(() => fromBase64Url('ab+/'), MalformedMessageError);
    assert.throws(() => fromBase64Url(toBase64Url(bytes), 4), /expected 4 bytes/);
  });

  it('encodes base32 per RFC 4648 (lowercase, unpadded)', () => {
    assert.equal(toBase32(new TextEncoder().encode('foobar')), 'mzxw6ytboi');
    assert.equal(toBase32(new Uint8Array()), '');
  });
});

describe('ReplayGuard', () => {
  it('accepts an id once within the window and forgets it after', () => {
    const guard = new ReplayGuard({ windowMs: 1000 });
    assert.equal(guard.accept('a', 0, 0), true);
    assert.equal(guard.accept('a', 0, 500), false);
    assert.equal(guard.accept('b', 0, 500), true);
    assert.equal(guard.accept('a', 0, 1001), true, 'expired ids are forgotten');
  });

  it('stays bounded under a flood', () => {
    const guard = new ReplayGuard({ windowMs: 60_000, maxEntries: 100 });
    for (let i = 0; i < 1000; i++) guard.accept(`id${i}`, 0, 0);
    assert.equal(guard.size, 100);
  });
});
