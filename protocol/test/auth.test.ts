import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthTokenError, createAuthToken, deriveId, toBase64Url, verifyAuthToken } from '../src/index.ts';
import { newSigner } from './helpers.ts';

describe('broker auth tokens', () => {
  it('verifies a fresh token and names its subject and role', () => {
    const signer = newSigner();
    const verified = verifyAuthToken(createAuthToken(signer, 'node'));
    assert.equal(verified.id, deriveId(signer.publicKey, 'node'));
    assert.equal(verified.role, 'node');
    assert.equal(verifyAuthToken(createAuthToken(signer, 'cp')).role, 'cp');
  });

  it('refuses expired, future, over-long and garbage tokens', () => {
    const signer = newSigner();
    const now = Date.now();
    assert.throws(() => verifyAuthToken(createAuthToken(signer, 'node', { now: now - 3_600_000, ttlMs: 60_000 })), /expired/);
    assert.throws(() => verifyAuthToken(createAuthToken(signer, 'node', { now: now + 3_600_000 })), /future/);
    assert.throws(() => verifyAuthToken(createAuthToken(signer, 'node', { ttlMs: 48 * 3_600_000 })), /longer/);
    for (const garbage of ['', 'x', 'a.b', '...', 'é.é', 'a'.repeat(2000)]) {
      assert.throws(() => verifyAuthToken(garbage), AuthTokenError, garbage);
    }
  });

  it('refuses a token whose subject belongs to another key', () => {
    const victim = newSigner();
    const attacker = newSigner();
    const token = createAuthToken(attacker, 'node');
    const [claims] = token.split('.');
    const parsed = JSON.parse(Buffer.from(claims ?? '', 'base64url').toString());
    // Claim the victim's id with the attacker's key, then with the victim's key but the attacker's signature.
    const withVictimId = { ...parsed, sub: deriveId(victim.publicKey, 'node') };
    const forged1 = `${toBase64Url(Buffer.from(JSON.stringify(withVictimId)))}.${token.split('.')[1]}`;
    assert.throws(() => verifyAuthToken(forged1), /does not match its public key/);
    const withVictimKey = { ...withVictimId, pub: toBase64Url(victim.publicKey) };
    const forged2 = `${toBase64Url(Buffer.from(JSON.stringify(withVictimKey)))}.${token.split('.')[1]}`;
    assert.throws(() => verifyAuthToken(forged2), /bad signature/);
  });
});
