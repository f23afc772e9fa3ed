import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalHash, canonicalJson, fromBase64Url, MalformedMessageError, ReplayGuard, toBase32, toBase64Url } from '../src/index.ts';

describe('canonical encoding', () => {
  it('sorts keys recursively and is independent of insertion order', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [1, 'x'], c: null } }), '{"a":{"c":null,"d":[1,"x"]},"b":1}');
    assert.equal(canonicalHash({ x: 1, y: 2 }), canonicalHash({ y: 2, x: 1 }));
    assert.notEqual(canonicalHash({ x: 1 }), canonicalHash({ x: 2 }));
  });

  it('refuses values JSON cannot carry faithfully', () => {
    assert.throws(() => canonicalJson({ a: Number.NaN }), MalformedMessageError);
    assert.throws(() => canonicalJson({ a: Infinity }), MalformedMessageError);
    assert.throws(() => canonicalJson({ a: undefined }), MalformedMessageError);
    assert.throws(() => canonicalJson({ a: 1n }), MalformedMessageError);
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
