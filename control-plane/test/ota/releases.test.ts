import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createAuthToken, generateSeed, NodeCryptoSigner, sha256Hex, signRelease, toBase64Url, verifyRelease, type ReleaseManifest } from '@meshchain/protocol';
import { ApiError } from '../../src/cli/api-client.ts';
import { OtaClient } from '../../src/ota/client.ts';
import { startControlPlane, type RunningControlPlane } from '../helpers/harness.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

function meshchain(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

function manifestFor(artifact: Buffer, overrides: Partial<ReleaseManifest> = {}): ReleaseManifest {
  return {
    version: '1.1.0',
    kind: 'app',
    artifact: { sha256: sha256Hex(artifact), size: artifact.length },
    fromVersions: ['^1.0.0'],
    rollback: false,
    compatibility: 'meshnode-arm64',
    createdAt: Date.now(),
    ...overrides,
  };
}

async function expectApiError(promise: Promise<unknown>, status: number, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ApiError, String(error));
    assert.equal(error.status, status, error.message);
    assert.match(error.message, pattern);
    return true;
  });
}

describe('releases', () => {
  let cp: RunningControlPlane;
  let dir: string;

  before(async () => {
    cp = await startControlPlane({ apiToken: 'a-long-enough-api-token' });
    dir = await mkdtemp(join(tmpdir(), 'meshchain-release-'));
  });
  after(async () => {
    await cp.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('keygen writes a 0600 key once; create uploads, signs and registers; list shows it', async () => {
    const env = { MESHCHAIN_API: cp.info.apiUrl, MESHCHAIN_API_TOKEN: 'a-long-enough-api-token' };
    const keyPath = join(dir, 'keys', 'release.key.json');
    const keygen = await meshchain(['release', 'keygen', '--out', keyPath, '--json']);
    assert.equal(keygen.code, 0, keygen.stderr);
    const { publicKey } = JSON.parse(keygen.stdout) as { publicKey: string };
    assert.equal((await stat(keyPath)).mode & 0o777, 0o600);
    const again = await meshchain(['release', 'keygen', '--out', keyPath]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already exists/);

    const artifactPath = join(dir, 'agent-1.1.0.tar');
    const artifact = randomBytes(50_000);
    await writeFile(artifactPath, artifact);
    const create = await meshchain(['release', 'create', '--kind', 'app', '--version', '1.1.0', '--artifact', artifactPath, '--key', keyPath, '--from', '^1.0.0', '1.0.0-rc.1', '--json'], env);
    assert.equal(create.code, 0, create.stderr);
    const created = JSON.parse(create.stdout) as { created: boolean; release: { id: string; version: string; fromVersions: string[]; publisherKey: string } };
    assert.equal(created.created, true);
    assert.deepEqual(created.release.fromVersions, ['^1.0.0', '1.0.0-rc.1']);
    assert.equal(created.release.publisherKey, publicKey);

    const list = await meshchain(['release', 'list', '--json'], env);
    assert.equal(list.code, 0, list.stderr);
    const releases = JSON.parse(list.stdout) as { id: string }[];
    assert.deepEqual(releases.map((r) => r.id), [created.release.id]);

    // What a box receives verifies against the operator's public key, and the artifact is the file.
    const client = new OtaClient(cp.info.apiUrl, { token: 'a-long-enough-api-token' });
    const { signed } = await client.release(created.release.id);
    assert.equal(verifyRelease(signed, [publicKey]).manifest.artifact.sha256, sha256Hex(artifact));

    const badVersion = await meshchain(['release', 'create', '--kind', 'app', '--version', 'v2', '--artifact', artifactPath, '--key', keyPath], env);
    assert.equal(badVersion.code, 1);
    assert.match(badVersion.stderr, /not a semantic version/);
  });

  it('serves artifacts by hash with byte ranges, to nodes with their broker token', async () => {
    const client = new OtaClient(cp.info.apiUrl, { token: 'a-long-enough-api-token' });
    const path = join(dir, 'bundle.raucb');
    const bytes = randomBytes(10_000);
    await writeFile(path, bytes);
    const uploaded = await client.uploadArtifact(path);
    assert.equal(uploaded.uploaded, true);
    assert.equal((await client.uploadArtifact(path)).uploaded, false);

    const node = new NodeCryptoSigner(generateSeed());
    const auth = { authorization: `MeshNode ${createAuthToken(node, 'node')}` };
    const url = `${cp.info.apiUrl}/v1/artifacts/${uploaded.sha256}`;
    const whole = await fetch(url, { headers: auth });
    assert.equal(whole.status, 200);
    assert.deepEqual(Buffer.from(await whole.arrayBuffer()), bytes);
    const part = await fetch(url, { headers: { ...auth, range: 'bytes=4000-' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 4000-9999/10000`);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), bytes.subarray(4000));
    assert.equal((await fetch(url, { headers: { ...auth, range: 'bytes=10000-' } })).status, 416);
    assert.equal((await fetch(url)).status, 401);

    const wrong = await fetch(`${cp.info.apiUrl}/v1/artifacts/${'0'.repeat(64)}`, {
      method: 'PUT',
      headers: { authorization: 'Bearer a-long-enough-api-token', 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    assert.equal(wrong.status, 400);
    assert.match(await wrong.text(), /hash to/);
  });

  it('refuses bad signatures, missing or mis-sized artifacts and a second manifest for a version', async () => {
    const client = new OtaClient(cp.info.apiUrl, { token: 'a-long-enough-api-token' });
    const key = new NodeCryptoSigner(generateSeed());
    const path = join(dir, 'agent-2.tar');
    const artifact = randomBytes(2_000);
    await writeFile(path, artifact);
    await client.uploadArtifact(path);

    const signed = signRelease(manifestFor(artifact, { version: '2.0.0' }), key);
    await expectApiError(client.registerRelease({ ...signed, manifest: { ...signed.manifest, rollback: true } }), 400, /bad signature/);
    await expectApiError(client.registerRelease({ ...signed, signature: toBase64Url(new Uint8Array(64)) }), 400, /bad signature/);
    await expectApiError(client.registerRelease(signRelease(manifestFor(randomBytes(10), { version: '2.0.0' }), key)), 400, /not uploaded/);
    await expectApiError(client.registerRelease(signRelease({ ...manifestFor(artifact, { version: '2.0.0' }), artifact: { sha256: sha256Hex(artifact), size: 1999 } }, key)), 400, /1999 bytes/);

    const first = await client.registerRelease(signed);
    assert.equal(first.created, true);
    assert.equal((await client.registerRelease(signed)).created, false);
    await expectApiError(client.registerRelease(signRelease(manifestFor(artifact, { version: '2.0.0', rollback: true }), key)), 409, /already exists/);
    await expectApiError(client.release('nope'), 404, /not found/);
  });
});
