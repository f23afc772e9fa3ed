// OTA wired into the agent: offers over MQTT from a control-plane stand-in,
// artifacts over HTTP, status reports back, the LED and page showing "updating".
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { mkdir, stat, symlink } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import {
  canonicalHash,
  releaseDigest,
  type InferAssignmentBody,
  type SignedRelease,
  type UpdateState,
  type UpdateStatusBody,
} from '@meshchain/protocol';
import { MeshBroker } from '@meshchain/broker';
import { writeTinyModel } from '@meshchain/scripts/model';
import { Agent, loadAgentConfig } from '../../src/index.ts';
import type { OtaConfig } from '../../src/ota/ota-config.ts';
import type { SystemInstaller, SystemSlotStatus } from '../../src/ota/rauc.ts';
import { ReleaseDirectory } from '../../src/ota/release-dir.ts';
import { ControlPlaneStandIn } from '../helpers/control-plane-stand-in.ts';
import { COMPAT, deferred, otaFixture, snapshot, type OtaFixture } from './helpers.ts';

/** The control plane's side of OTA: offers out, status reports in. */
class OtaControlPlane extends ControlPlaneStandIn {
  status(nodeId: string, state: UpdateState, timeoutMs = 30_000): Promise<UpdateStatusBody> {
    return this.waitFor((m) => m.kind === 'updateStatus' && m.nodeId === nodeId && m.body.state === state, timeoutMs).then((m) => m.body as UpdateStatusBody);
  }

  statesOf(nodeId: string): UpdateState[] {
    return this.inbox.flatMap((m) => (m.kind === 'updateStatus' && m.nodeId === nodeId ? [m.body.state] : []));
  }

  async offer(nodeId: string, signed: SignedRelease | Record<string, unknown>, artifactUrl: string, rolloutId = 'ro_test', force = false): Promise<void> {
    const manifest = (signed as SignedRelease).manifest;
    await this.send('updateOffer', nodeId, { rolloutId, releaseId: releaseDigest(manifest), release: signed as SignedRelease, artifactUrl, force });
  }
}

/** The A/B box of the system-updater tests, as the agent's installer. */
class FakeRauc implements SystemInstaller {
  version = '5.0.0';
  installed: string[] = [];
  marked = 0;
  async install(bundlePath: string): Promise<void> {
    this.installed.push(bundlePath);
  }
  async markGood(): Promise<void> {
    this.marked += 1;
  }
  async status(): Promise<SystemSlotStatus> {
    return { booted: 'A', primary: 'A', slots: [] };
  }
}

describe('OTA in the agent', { timeout: 120_000 }, () => {
  let fx: OtaFixture;
  let broker: MeshBroker;
  let http: Server;
  let baseUrl = '';
  const cp = new OtaControlPlane();
  const files = new Map<string, string>();
  const requests: { path: string; range: string | undefined }[] = [];
  /** Artifacts whose first full download sends this many bytes and then stalls (a connection that dies). */
  const stallAfter = new Map<string, number>();
  const stalled: ServerResponse[] = [];

  /** A box with release 1.0.0 installed under <box>/app. */
  async function box(name: string): Promise<{ root: string; dataDir: string }> {
    const root = join(fx.dir, name, 'app');
    await mkdir(join(root, 'releases', '1.0.0'), { recursive: true });
    await symlink(join('releases', '1.0.0'), join(root, 'current'));
    return { root, dataDir: join(fx.dir, name, 'data') };
  }

  async function startAgent(where: { root: string; dataDir: string }, version: string, options: { system?: FakeRauc; systemVersion?: () => string; model?: boolean } = {}) {
    const config = loadAgentConfig({ env: {}, overrides: { dataDir: where.dataDir, mqttUrl: broker.url, controlPlaneId: cp.id, web: { enabled: false } } });
    const ota: OtaConfig = { agentVersion: version, releaseRoot: where.root, trustedKeys: fx.trustedKeys, compatibility: COMPAT, healthDeadlineMs: 20_000, systemUpdates: 'off', rebootCommand: ['systemctl', 'reboot'] };
    const restarted = deferred();
    const reboots = deferred();
    const agent = new Agent(config, pino({ level: 'silent' }), {
      ota,
      startRuntime: options.model ?? false,
      onRestart: () => restarted.resolve(),
      ...(options.system ? { system: { installer: options.system, currentVersion: async () => options.systemVersion?.() ?? '5.0.0', reboot: async () => reboots.resolve() } } : {}),
    });
    const { nodeId } = await agent.start();
    await cp.waitFor((m) => m.kind === 'capabilities' && m.nodeId === nodeId && m.body.agentVersion === version);
    return { agent, nodeId, restarted: restarted.promise, rebooted: reboots.promise };
  }

  async function serve(path: string): Promise<string> {
    const name = canonicalHash({ path }).slice(0, 16);
    files.set(name, path);
    return `${baseUrl}/artifacts/${name}`;
  }

  before(async () => {
    fx = await otaFixture();
    broker = new MeshBroker({ port: 0, enrollment: 'open', trustedControlPlanes: new Set([cp.id]) });
    await broker.start();
    await cp.connect(broker.url, ['updateStatus', 'capabilities', 'result', 'handback']);
    http = createServer(async (req, res) => {
      const name = req.url?.split('/').pop() ?? '';
      const path = files.get(name);
      requests.push({ path: req.url ?? '', range: req.headers.range });
      if (!path) return void res.writeHead(404).end();
      const size = (await stat(path)).size;
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = m ? Number(m[1]) : 0;
      res.writeHead(m ? 206 : 200, { 'content-length': size - start, ...(m ? { 'content-range': `bytes ${start}-${size - 1}/${size}` } : {}) });
      const stall = m ? undefined : stallAfter.get(name);
      if (stall !== undefined) {
        stallAfter.delete(name);
        stalled.push(res);
        createReadStream(path, { start: 0, end: stall - 1 }).pipe(res, { end: false });
        return;
      }
      createReadStream(path, { start }).pipe(res);
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const address = http.address();
    baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });

  after(async () => {
    for (const res of stalled) res.destroy();
    await cp.client?.endAsync();
    await broker.stop();
    await new Promise((resolve) => http.close(resolve));
    await fx.cleanup();
  });

  it('installs an app update: reports each step, shows "updating", hands over, and the new agent reports healthy', async () => {
    const where = await box('app');
    const { signed, artifactPath } = await fx.release('1.1.0');
    const url = await serve(artifactPath);
    const old = await startAgent(where, '1.0.0');
    await cp.offer(old.nodeId, signed, url);
    await old.restarted;
    assert.equal(old.agent.status.led, 'updating', 'the LED says do not unplug');
    await old.agent.stop();
    const installed = await cp.status(old.nodeId, 'installed');
    assert.equal(installed.version, '1.1.0');
    assert.equal(installed.fromVersion, '1.0.0');
    assert.equal(installed.bytes, (await stat(artifactPath)).size);
    assert.deepEqual(cp.statesOf(old.nodeId), ['offered', 'downloading', 'installing', 'installed']);
    const dir = new ReleaseDirectory(where.root);
    assert.equal(await dir.currentVersion(), '1.1.0');

    // The supervisor starts `current`: the new agent confirms once connected.
    const fresh = await startAgent(where, '1.1.0');
    const healthy = await cp.status(fresh.nodeId, 'healthy');
    assert.equal(healthy.currentVersion, '1.1.0');
    assert.equal(healthy.rolloutId, 'ro_test');
    await fresh.agent.stop();
    assert.equal((await dir.readState()).last?.outcome, 'healthy');
    await assert.rejects(stat(join(where.dataDir, 'ota', 'offer.json')), { code: 'ENOENT' });
  });

  it('refuses tampered, untrusted, downgrading and foreign offers with a reason, changes nothing, and keeps working', async () => {
    const where = await box('refusals');
    const good = await fx.release('1.2.0');
    const url = await serve(good.artifactPath);
    const agent = await startAgent(where, '1.0.0');
    const before = await snapshot(where.root);
    const strangerFx = await otaFixture();
    const stranger = await strangerFx.release('1.2.0');
    await strangerFx.cleanup();
    const cases: [string, Record<string, unknown>, string][] = [
      ['tampered', { ...good.signed, manifest: { ...good.signed.manifest, fromVersions: ['>=0.0.1'] } }, 'bad-signature'],
      ['untrusted', stranger.signed as unknown as Record<string, unknown>, 'untrusted-key'],
      ['downgrade', (await fx.release('0.9.0')).signed as unknown as Record<string, unknown>, 'downgrade'],
      ['foreign', (await fx.release('1.3.0', { compatibility: 'meshnode-amd64' })).signed as unknown as Record<string, unknown>, 'incompatible'],
    ];
    for (const [name, signed, reason] of cases) {
      await cp.offer(agent.nodeId, signed, url, `ro_${name}`);
      const failed = await cp.waitFor((m) => m.kind === 'updateStatus' && m.nodeId === agent.nodeId && m.body.rolloutId === `ro_${name}`);
      assert.equal(failed.kind === 'updateStatus' && failed.body.state, 'failed', name);
      assert.equal(failed.kind === 'updateStatus' && failed.body.reason, reason, name);
    }
    // A hash mismatch is found after the download: the artifact on the server is not the signed one.
    const other = await fx.release('1.4.0');
    await cp.offer(agent.nodeId, other.signed, url, 'ro_hash');
    const hash = await cp.waitFor((m) => m.kind === 'updateStatus' && m.nodeId === agent.nodeId && m.body.rolloutId === 'ro_hash' && (m.body.state === 'failed'));
    assert.ok(hash.kind === 'updateStatus' && (hash.body.reason === 'size-mismatch' || hash.body.reason === 'hash-mismatch'));
    assert.deepEqual(await snapshot(where.root), before, 'nothing changed on the box');
    assert.equal(agent.agent.status.connected, true);
    await agent.agent.stop();
  });

  /** Starts a long shard on the agent and resolves once it runs. */
  async function runLongShard(agent: Agent, nodeId: string, name: string): Promise<InferAssignmentBody> {
    const model = await writeTinyModel({ path: join(fx.dir, `tiny-${name}.gguf`) });
    const modelUrl = await serve(model.path);
    const inputs = ['a', 'b', 'c', 'd'].map((prompt, index) => ({ index, prompt }));
    const shard: InferAssignmentBody = {
      jobId: `job_${name}`,
      shardId: `job_${name}.0`,
      shardIndex: 0,
      leaseId: `lease_${name}`,
      leaseUntil: Date.now() + 120_000,
      workload: 'infer',
      model: { sha256: model.sha256, size: model.size, url: modelUrl },
      inputs,
      inputHash: canonicalHash(inputs),
      settings: { maxTokens: 1500, temperature: 0, seed: 0, contextSize: 2048, batchSize: 512, addBos: true },
    };
    await cp.send('assignment', nodeId, shard);
    const deadline = Date.now() + 30_000;
    while (agent.status.current === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(agent.status.current?.shardId, shard.shardId, 'the shard is running when the offer comes');
    return shard;
  }

  it('never interrupts a running shard: the update waits for the result', async () => {
    const where = await box('drain');
    const { signed, artifactPath } = await fx.release('1.5.0');
    const url = await serve(artifactPath);
    const agent = await startAgent(where, '1.0.0', { model: true });
    await runLongShard(agent.agent, agent.nodeId, 'drain');
    await cp.offer(agent.nodeId, signed, url, 'ro_drain');
    await agent.restarted;
    await cp.status(agent.nodeId, 'installed');
    await agent.agent.stop();
    const order = cp.inbox.flatMap((m) => (m.nodeId !== agent.nodeId ? [] : m.kind === 'result' ? ['result'] : m.kind === 'handback' ? ['handback'] : m.kind === 'updateStatus' ? [m.body.state] : []));
    assert.ok(order.includes('result'), `the shard finished: ${order.join(', ')}`);
    assert.ok(!order.includes('handback'), 'nothing was handed back');
    assert.ok(order.indexOf('result') < order.indexOf('installed'), `the switch came after the result: ${order.join(', ')}`);
  });

  it('with force, does not wait for the running shard', async () => {
    const where = await box('force');
    const { signed, artifactPath } = await fx.release('1.5.1');
    const url = await serve(artifactPath);
    const agent = await startAgent(where, '1.0.0', { model: true });
    const shard = await runLongShard(agent.agent, agent.nodeId, 'force');
    await cp.offer(agent.nodeId, signed, url, 'ro_force', true);
    await agent.restarted;
    assert.equal(agent.agent.status.current?.shardId, shard.shardId, 'switched while the shard still runs');
    assert.equal(await new ReleaseDirectory(where.root).currentVersion(), '1.5.1');
    await cp.status(agent.nodeId, 'installed');
    assert.ok(!cp.inbox.some((m) => m.kind === 'result' && m.nodeId === agent.nodeId), 'no result before the switch');
    await agent.agent.stop(); // the restart's normal stop: the shard finishes within the grace period or is handed back
  });

  it('resumes an interrupted download after a restart, counting every byte once', async () => {
    const where = await box('resume');
    const { signed, artifactPath } = await fx.release('1.6.0');
    const size = (await stat(artifactPath)).size;
    const url = await serve(artifactPath);
    const name = url.split('/').pop() ?? '';
    const half = Math.floor(size / 2);
    stallAfter.set(name, half);
    const first = await startAgent(where, '1.0.0');
    await cp.offer(first.nodeId, signed, url, 'ro_resume');
    await cp.status(first.nodeId, 'downloading');
    const part = join(where.dataDir, 'ota', 'downloads', signed.manifest.artifact.sha256);
    const deadline = Date.now() + 20_000;
    while (((await stat(part).catch(() => null))?.size ?? 0) < half && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal((await stat(part)).size, half, 'half of the artifact is on disk');
    await first.agent.stop(); // the box restarts mid-download

    const second = await startAgent(where, '1.0.0');
    await second.restarted;
    await second.agent.stop();
    const installed = await cp.waitFor((m) => m.kind === 'updateStatus' && m.body.rolloutId === 'ro_resume' && m.body.state === 'installed');
    assert.equal(installed.kind === 'updateStatus' && installed.body.bytes, size, 'half before the restart + the rest after it');
    assert.ok(requests.some((r) => r.path.endsWith(name) && r.range === `bytes=${half}-`), 'the second attempt asked for the rest only');
    assert.equal(await new ReleaseDirectory(where.root).currentVersion(), '1.6.0');
  });

  it('wires system updates to the installer: install, reboot, mark good once healthy on the new version', async () => {
    const where = await box('system');
    const rauc = new FakeRauc();
    const bundle = await fx.release('6.0.0', { kind: 'system' });
    const url = await serve(bundle.artifactPath);
    let version = '5.0.0';
    const old = await startAgent(where, '1.0.0', { system: rauc, systemVersion: () => version });
    await cp.offer(old.nodeId, bundle.signed, url, 'ro_system');
    await old.rebooted;
    assert.equal(rauc.installed.length, 1, 'RAUC installed the bundle into the other slot');
    const installed = await cp.status(old.nodeId, 'installed');
    assert.equal(installed.kind, 'system');
    assert.equal(installed.currentVersion, '5.0.0');
    await old.agent.stop();
    version = '6.0.0'; // booted into the new slot
    const fresh = await startAgent(where, '1.0.0', { system: rauc, systemVersion: () => version });
    const healthy = await cp.status(fresh.nodeId, 'healthy');
    assert.equal(healthy.currentVersion, '6.0.0');
    assert.equal(rauc.marked, 1, 'the slot was marked good');
    await fresh.agent.stop();
  });
});
