import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { inferAssignment } from '@meshchain/protocol';
import { Agent, loadAgentConfig } from '@meshchain/device-agent';
import { writeTinyModel } from '@meshchain/scripts/model';
import { ApiClient, ApiError } from '../../src/index.ts';
import { ScriptedNode, startControlPlane, type RunningControlPlane } from '../helpers/harness.ts';
import { forged, until } from './fixtures.ts';

describe('spot checks catch a cheating node', () => {
  let cp: RunningControlPlane;
  let api: ApiClient;
  let dir = '';
  let modelSha = '';
  const cheaters: ScriptedNode[] = [];

  before(async () => {
    cp = await startControlPlane({ chain: { enabled: false } });
    api = new ApiClient(cp.info.apiUrl);
    dir = await mkdtemp(join(tmpdir(), 'meshchain-trust-'));
    modelSha = (await api.uploadModel((await writeTinyModel({ path: join(dir, 'tiny.gguf') })).path)).sha256;
  });
  after(async () => {
    for (const c of cheaters) await c.close();
    await cp.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('recomputes, rejects, requeues, quarantines, and an honest node finishes with verified results', async (t) => {
    const cheater = new ScriptedNode(cp.info.controlPlaneId);
    cheaters.push(cheater);
    await cheater.connect(cp.info.mqttUrl);
    await cheater.announce();
    const submit = (prompts: string[]) => api.submitJob({ workload: 'infer', model: modelSha, prompts, shardSize: 4, settings: { maxTokens: 8 } });

    // First forgery: admitted (right shape), then caught by recomputation.
    const { job: jobA } = await submit(['one', 'two']);
    const a1 = inferAssignment((await cheater.next('assignment')).body);
    await cheater.send('result', forged(a1));
    assert.equal((await cheater.next('ack')).body.status, 'accepted', 'admission checks pass: only recomputation can tell');
    const afterA = await until('the failed check', async () => {
      const s = await api.job(jobA.id);
      return s.events.some((e) => e.kind === 'check_failed') ? s : null;
    });
    assert.equal(afterA.shards[0]?.state, 'queued', 'the shard went back to the queue');
    assert.equal(afterA.trust?.failed, 1);
    assert.match(afterA.events.find((e) => e.kind === 'check_failed')?.detail ?? '', /spot check failed: output \d+: (position \d+|claimed text)/);
    assert.equal(afterA.job.state, 'running');

    // Second forgery on another job: quarantine.
    const { job: jobB } = await submit(['three']);
    const b1 = inferAssignment((await cheater.next('assignment')).body);
    assert.equal(b1.jobId, jobB.id, 'excluded from job A, still eligible for job B');
    await cheater.send('result', forged(b1));
    await until('quarantine', async () => (await api.nodes()).find((n) => n.id === cheater.id)?.trust?.quarantined === true);
    const { job: jobC } = await submit(['four', 'five']);

    // The honest node does all three jobs; the quarantined cheater gets nothing more.
    const config = loadAgentConfig({ env: {}, overrides: { dataDir: join(dir, 'honest'), mqttUrl: cp.info.mqttUrl, controlPlaneId: cp.info.controlPlaneId, web: { enabled: false } } });
    const honest = new Agent(config, pino({ level: 'silent' }));
    const { nodeId } = await honest.start();
    t.after(() => honest.stop());
    for (const job of [jobA, jobB, jobC]) {
      const status = await until(`job ${job.id}`, async () => {
        const s = await api.job(job.id);
        return s.job.state === 'completed' ? s : null;
      });
      assert.ok(status.shards.every((s) => s.nodeId === nodeId));
      const manifest = await api.manifest(job.id);
      assert.ok(manifest.shards.every((s) => s.verdict === 'verified'), 'a new node is checked in full');
    }
    assert.equal(cheater.received.filter((m) => m.kind === 'assignment').length, 0, 'no assignment beyond the two it cheated on');

    const report = (await api.job(jobA.id)).trust;
    const cheaterLine = report?.nodes.find((n) => n.nodeId === cheater.id);
    assert.equal(cheaterLine?.failed, 1);
    assert.equal(cheaterLine?.detection['0.5'], 0.5, 'one result checked at rate 1: caught with p = f');
    const nodes = await api.nodes();
    const honestView = nodes.find((n) => n.id === nodeId);
    assert.equal(honestView?.trust?.failures, 0);
    assert.ok((honestView?.trust?.passes ?? 0) >= 3);
    const cheaterView = nodes.find((n) => n.id === cheater.id);
    assert.equal(cheaterView?.shardsCompleted, 0);
    assert.equal(cheaterView?.shardsRejected, 2);

    // An operator releases it: back on probation.
    assert.deepEqual(await api.release(cheater.id), { nodeId: cheater.id, released: true });
    assert.equal((await api.nodes()).find((n) => n.id === cheater.id)?.trust?.quarantined, false);
    await assert.rejects(api.release(cheater.id), (e: unknown) => e instanceof ApiError && e.status === 409);
  });
});
