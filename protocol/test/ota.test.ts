import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkReleaseApplies,
  compareVersions,
  domainPrefix,
  isVersionRange,
  ReleaseError,
  releaseSigningBytes,
  satisfiesVersion,
  signRelease,
  toBase64Url,
  verifyRelease,
  type ReleaseManifest,
} from '../src/index.ts';
import { newSigner } from './helpers.ts';

function manifest(overrides: Partial<ReleaseManifest> = {}): ReleaseManifest {
  return {
    version: '1.1.0',
    kind: 'app',
    artifact: { sha256: 'b'.repeat(64), size: 1234 },
    fromVersions: ['^1.0.0'],
    rollback: false,
    compatibility: 'meshnode-arm64',
    createdAt: 1_700_000_000_000,
    ...overrides,
  };
}

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ReleaseError, String(error));
    return error.reason;
  }
  assert.fail('expected a ReleaseError');
}

describe('release signatures', () => {
  it('signs and verifies with a trusted key', () => {
    const key = newSigner();
    const signed = signRelease(manifest(), key);
    const verified = verifyRelease(JSON.parse(JSON.stringify(signed)), [toBase64Url(key.publicKey)]);
    assert.deepEqual(verified.manifest, manifest());
  });

  it('refuses unsigned, untrusted, tampered and malformed releases with a reason', () => {
    const key = newSigner();
    const trusted = [toBase64Url(key.publicKey)];
    const signed = signRelease(manifest(), key);
    assert.equal(reasonOf(() => verifyRelease({ manifest: manifest() }, trusted)), 'malformed');
    assert.equal(reasonOf(() => verifyRelease(signed, [toBase64Url(newSigner().publicKey)])), 'untrusted-key');
    const other = signRelease(manifest(), newSigner());
    assert.equal(reasonOf(() => verifyRelease({ ...signed, signature: other.signature }, trusted)), 'bad-signature');
    for (const tampered of [
      { ...signed.manifest, artifact: { ...signed.manifest.artifact, sha256: 'c'.repeat(64) } },
      { ...signed.manifest, artifact: { ...signed.manifest.artifact, size: 1235 } },
      { ...signed.manifest, rollback: true },
      { ...signed.manifest, fromVersions: ['*'] },
    ]) {
      assert.equal(reasonOf(() => verifyRelease({ ...signed, manifest: tampered }, trusted)), 'bad-signature');
    }
    assert.equal(reasonOf(() => verifyRelease({ ...signed, manifest: { ...signed.manifest, version: 'latest' } }, trusted)), 'malformed');
    assert.equal(reasonOf(() => verifyRelease({ ...signed, signature: 'x' }, trusted)), 'malformed');
    assert.equal(reasonOf(() => verifyRelease(null, trusted)), 'malformed');
  });

  it('is domain-separated from message signatures', () => {
    const bytes = new TextDecoder().decode(releaseSigningBytes(manifest()));
    assert.ok(bytes.startsWith('meshchain/v1/release\n'));
    assert.notEqual(domainPrefix('release'), '');
    assert.throws(() => signRelease(manifest({ fromVersions: [] }), newSigner()), ReleaseError);
    assert.throws(() => signRelease(manifest({ fromVersions: ['>=banana'] }), newSigner()), ReleaseError);
  });
});

describe('versions and ranges', () => {
  it('orders by semver precedence', () => {
    const ordered = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.0.1', '1.2.0', '1.10.0', '2.0.0'];
    for (let i = 0; i + 1 < ordered.length; i++) {
      assert.equal(compareVersions(ordered[i] ?? '', ordered[i + 1] ?? ''), -1, `${ordered[i]} < ${ordered[i + 1]}`);
      assert.equal(compareVersions(ordered[i + 1] ?? '', ordered[i] ?? ''), 1);
    }
    assert.equal(compareVersions('1.0.0+build.1', '1.0.0+build.2'), 0);
    assert.throws(() => compareVersions('1.0', '1.0.0'), ReleaseError);
  });

  it('matches ranges', () => {
    const cases: [string, string, boolean][] = [
      ['1.2.3', '1.2.3', true],
      ['1.2.4', '1.2.3', false],
      ['1.9.9', '^1.2.3', true],
      ['2.0.0', '^1.2.3', false],
      ['1.2.2', '^1.2.3', false],
      ['0.2.9', '^0.2.3', true],
      ['0.3.0', '^0.2.3', false],
      ['1.2.9', '~1.2.3', true],
      ['1.3.0', '~1.2.3', false],
      ['1.4.0', '1.x', true],
      ['2.0.0', '1.x', false],
      ['1.2.7', '1.2', true],
      ['5.0.0', '*', true],
      ['1.5.0', '>=1.0.0 <2.0.0', true],
      ['2.0.0', '>=1.0.0 <2.0.0', false],
      ['0.9.0', '0.9.0 || >=1.5.0', true],
      ['1.4.0', '0.9.0 || >=1.5.0', false],
      ['1.0.0', '> 0.9.0', true],
      ['1.0.0', '<=1.0', true],
      ['1.1.0', '<=1.0', false],
      ['garbage', '*', false],
    ];
    for (const [version, range, expected] of cases) assert.equal(satisfiesVersion(version, range), expected, `${version} in ${range}`);
    for (const bad of ['', '||', '>=', 'banana', '1.2.3.4', '<*']) assert.equal(isVersionRange(bad), false, bad);
  });
});

describe('does a release apply to a box', () => {
  const box = { currentVersion: '1.0.0', compatibility: 'meshnode-arm64' };

  it('accepts an upgrade from an allowed version', () => {
    checkReleaseApplies(manifest(), box);
    checkReleaseApplies(manifest(), { ...box, kind: 'app' });
  });

  it('refuses downgrades unless signed as a rollback, the same version, other versions, other hardware', () => {
    assert.equal(reasonOf(() => checkReleaseApplies(manifest({ version: '0.9.0', fromVersions: ['*'] }), box)), 'downgrade');
    checkReleaseApplies(manifest({ version: '0.9.0', fromVersions: ['1.0.0'], rollback: true }), box);
    assert.equal(reasonOf(() => checkReleaseApplies(manifest({ version: '1.0.0', fromVersions: ['*'] }), box)), 'same-version');
    assert.equal(reasonOf(() => checkReleaseApplies(manifest({ fromVersions: ['>=1.0.1'] }), box)), 'not-from-version');
    assert.equal(reasonOf(() => checkReleaseApplies(manifest({ compatibility: 'meshnode-amd64' }), box)), 'incompatible');
    assert.equal(reasonOf(() => checkReleaseApplies(manifest({ kind: 'system' }), { ...box, kind: 'app' })), 'wrong-kind');
  });
});
