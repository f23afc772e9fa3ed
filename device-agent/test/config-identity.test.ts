import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { deriveNodeId } from '@meshchain/protocol';
import { backoffDelay, ConfigError, IdentityError, loadAgentConfig, loadOrCreateIdentity } from '../src/index.ts';

const CP = 'cp' + 'a'.repeat(26);

describe('agent config', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshnode-config-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('layers defaults, the file, MESHNODE_* and overrides', async () => {
    const file = join(dir, 'config.json');
    await writeFile(file, JSON.stringify({ mqttUrl: 'mqtt://file:1883', controlPlaneId: CP, threads: 2, dataDir: dir }));
    const config = loadAgentConfig({ file, env: { MESHNODE_THREADS: '3' }, overrides: { shutdownGraceMs: 5 } });
    assert.equal(config.mqttUrl, 'mqtt://file:1883');
    assert.equal(config.threads, 3, 'env beats file');
    assert.equal(config.shutdownGraceMs, 5);
    assert.equal(config.modelCacheBytes, 8 * 1024 ** 3, 'default');
    assert.equal(loadAgentConfig({ env: { MESHNODE_DATA_DIR: dir } }).threads, 2, 'the data dir\'s config.json is read by default');
  });

  it('names what is missing or wrong and where to set it', () => {
    assert.throws(
      () => loadAgentConfig({ env: { MESHNODE_DATA_DIR: join(dir, 'none') } }),
      (e: unknown) => e instanceof ConfigError && /mqttUrl/.test(e.details ?? '') && /MESHNODE_MQTT_URL/.test(e.details ?? ''),
    );
    assert.throws(() => loadAgentConfig({ env: { MESHNODE_DATA_DIR: join(dir, 'none'), MESHNODE_MQTT_URL: 'mqtt://x:1', MESHNODE_CONTROL_PLANE_ID: 'mnnope' } }), /control-plane id/);
    assert.throws(() => loadAgentConfig({ file: join(dir, 'missing.json') }), /cannot read config file/);
  });
});

describe('node identity', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshnode-identity-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('is made once with mode 0600 and is the same on every later start', async () => {
    const path = join(dir, 'a', 'identity.json');
    const first = await loadOrCreateIdentity(path);
    assert.equal(first.created, true);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const again = await loadOrCreateIdentity(path);
    assert.equal(again.created, false);
    assert.equal(again.nodeId, first.nodeId);
    assert.equal(deriveNodeId(again.signer.publicKey), first.nodeId, 'the id is derived from the key');
  });

  it('refuses a key file others can read, and a corrupt one, with what to do', async () => {
    const path = join(dir, 'b', 'identity.json');
    await loadOrCreateIdentity(path);
    await chmod(path, 0o644);
    await assert.rejects(loadOrCreateIdentity(path), (e: unknown) => e instanceof IdentityError && /chmod 600/.test(e.details ?? ''));
    await chmod(path, 0o600);
    await writeFile(path, (await readFile(path, 'utf8')).slice(0, 20));
    await assert.rejects(loadOrCreateIdentity(path), /corrupt/);
  });
});

describe('reconnect backoff', () => {
  it('doubles up to the cap with equal jitter', () => {
    const policy = { initialMs: 1000, factor: 2, maxMs: 8000 };
    assert.equal(backoffDelay(policy, 1, () => 0), 500);
    assert.equal(backoffDelay(policy, 1, () => 1), 1000);
    assert.equal(backoffDelay(policy, 3, () => 1), 4000);
    assert.equal(backoffDelay(policy, 10, () => 1), 8000, 'capped');
    const spread = new Set(Array.from({ length: 50 }, () => backoffDelay(policy, 4)));
    assert.ok(spread.size > 10, 'a fleet does not reconnect in lockstep');
    for (const d of spread) assert.ok(d >= 4000 && d <= 8000);
  });
});
