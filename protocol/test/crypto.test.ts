import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  NobleSigner,
  NodeCryptoSigner,
  deriveId,
  deriveNodeId,
  generateSeed,
  roleOfId,
  verifySignature,
  verifySignatureNoble,
  NODE_ID_PATTERN,
} from '../src/index.ts';

describe('ed25519', () => {
  it('node:crypto and noble derive the same key and byte-identical signatures', () => {
    for (let i = 0; i < 20; i++) {
      const seed = generateSeed();
      const fast = new NodeCryptoSigner(seed);
      const portable = new NobleSigner(seed);
      assert.deepEqual(fast.publicKey, portable.publicKey);
      const message = new TextEncoder().encode(`message ${i}`);
      const a = fast.sign(message);
      const b = portable.sign(message);
      assert.deepEqual(a, b);
      assert.ok(verifySignature(portable.publicKey, message, b));
      assert.ok(verifySignatureNoble(fast.publicKey, message, a));
    }
  });

  it('rejects a flipped bit, another key, and malformed inputs', () => {
    const signer = new NodeCryptoSigner(generateSeed());
    const other = new NodeCryptoSigner(generateSeed());
    const message = new TextEncoder().encode('pay 10 MCP');
    const sig = signer.sign(message);
    const flipped = sig.slice();
    flipped[10] = (flipped[10] ?? 0) ^ 1;
    assert.equal(verifySignature(signer.publicKey, message, flipped), false);
    assert.equal(verifySignatureNoble(signer.publicKey, message, flipped), false);
    assert.equal(verifySignature(other.publicKey, message, sig), false);
    assert.equal(verifySignature(signer.publicKey.slice(1), message, sig), false);
    assert.equal(verifySignature(signer.publicKey, message, sig.slice(1)), false);
    assert.equal(verifySignature(new Uint8Array(32), message, sig), false);
  });

  it('refuses seeds of the wrong length', () => {
    assert.throws(() => new NodeCryptoSigner(new Uint8Array(31)), /32 bytes/);
    assert.throws(() => new NobleSigner(new Uint8Array(33)), /32 bytes/);
  });
});

describe('ids', () => {
  it('derives self-certifying node and control-plane ids', () => {
    const signer = new NodeCryptoSigner(generateSeed());
    const nodeId = deriveNodeId(signer.publicKey);
    assert.match(nodeId, NODE_ID_PATTERN);
    assert.equal(deriveNodeId(signer.publicKey), nodeId, 'deterministic');
    assert.equal(roleOfId(nodeId), 'node');
    const cpId = deriveId(signer.publicKey, 'cp');
    assert.equal(roleOfId(cpId), 'cp');
    assert.equal(cpId.slice(2), nodeId.slice(2));
    assert.notEqual(deriveNodeId(new NodeCryptoSigner(generateSeed()).publicKey), nodeId);
    assert.equal(roleOfId('mn' + 'A'.repeat(26)), null);
    assert.equal(roleOfId('../etc'), null);
  });
});
