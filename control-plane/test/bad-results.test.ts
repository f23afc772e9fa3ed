import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { encodeMessage, inferAssignment, topicFor, type Envelope, type InferResultBody } from '@meshchain/protocol';
import { Agent, loadAgentConfig } from '@meshchain/device-agent';
import { writeTinyModel } from '@meshchain/scripts/model';
import { ApiClient } from '../src/index.ts';
import { ScriptedNode, startControlPlane, type RunningControlPlane } from './helpers/harness.ts';

/**
 * Two scripted nodes take a job's two shards and then misbehave in every way
 * the control plane must refuse. Each refusal is logged with its reason, the
 * control plane keeps running, and an honest agent completes both shards.
 */
describe('bad results are refused and the job is still completed by an honest node', () => {
  let cp: RunningControlPlane;
  let api: ApiClient;
  let dir = '';
  let modelSha = '';
  const rogues: ScriptedNode[] = [];

  before(async () => {
    cp = await startControlPlane();
    api = new ApiClient(cp.info.apiUrl);
    dir = await mkdtemp(join(tmpdir(), 'meshchain-bad-'));
    const model = await writeTinyModel({ path: join(dir, 'tiny.gguf') });
    modelSha = (await api.uploadModel(model.path)).sha256;
  });
  after(async () => {
    for (const rogue of rogues) await rogue.close();
    await cp.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses forged, tampered, foreign-lease and mismatched results, then an honest node finishes', async (t) => {
    const [r1, r2] = [new ScriptedNode(cp.info.controlPlaneId), new ScriptedNode(cp.info.controlPlaneId)];
    rogues.push(r1, r2);
    await r1.connect(cp.info.mqttUrl);
    await r2.connect(cp.info.mqttUrl);
    await r1.announce();
    await r2.announce();

    const { job } = await api.submitJob({ workload: 'infer', model: modelSha, prompts: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], shardSize: 4, settings: { maxTokens: 4 } });
    const a1 = inferAssignment((await r1.next('assignment')).body);
    const a2 = inferAssignment((await r2.next('assignment')).body);
    assert.notEqual(a1.shardId, a2.shardId);
    // Both leave the pool of workers (still connected), so requeued shards wait for the honest node.
    await r1.send('presence', { state: 'offline', since: Date.now() });
    await r2.send('presence', { state: 'offline', since: Date.now() });

    const resultFor = (a: typeof a1, patch: Partial<InferResultBody> = {}): InferResultBody => ({
      jobId: a.jobId,
      shardId: a.shardId,
      leaseId: a.leaseId,
      modelSha256: a.model.sha256,
      inputHash: a.inputHash,
      outputs: a.inputs.map((input) => ({ index: input.index, tokens: [5, 6, 7, 8], text: 'fake', finishReason: 'length' as const })),
      stats: { promptTokens: 4, generatedTokens: 16, computeMs: 1 },
      ...patch,
    });

    // r2 claims r1's shard under r1's lease.
    await r2.send('result', resultFor(a1));
    const foreign = (await r2.next('ack')).body;
    assert.equal(foreign.status, 'rejected');
    assert.match(foreign.reason ?? '', /leased to another node/);

    // r1: a tampered signature, then garbage, then a result for the wrong inputs.
    const sealed = r1.seal('result', resultFor(a1));
    const tampered: Envelope<'result'> = { ...sealed, body: { ...resultFor(a1), outputs: resultFor(a1).outputs.map((o) => ({ ...o, tokens: [1] })) } };
    await r1.sendRaw(topicFor('result', r1.id), encodeMessage(tampered));
    await r1.sendRaw(topicFor('result', r1.id), Buffer.from('{"v":1,"kind":"result", not json'));
    await r1.send('result', resultFor(a1, { inputHash: 'f'.repeat(64) }));
    const wrongInput = (await r1.next('ack')).body;
    assert.equal(wrongInput.status, 'rejected');
    assert.match(wrongInput.reason ?? '', /wrong input hash/);
    // Messages from one client are handled in order: the two before the ack were refused at the door.
    const refused = cp.lines.filter((l) => l.msg === 'message rejected');
    assert.ok(refused.some((l) => l.kind === 'SignatureError' && /bad signature/.test(String(l.reason))), 'tampered result logged');
    assert.ok(refused.some((l) => l.kind === 'MalformedMessageError'), 'garbage logged');

    // r2: its own shard with the wrong model.
    await r2.send('result', resultFor(a2, { modelSha256: '0'.repeat(64) }));
    const wrongModel = (await r2.next('ack')).body;
    assert.equal(wrongModel.status, 'rejected');
    assert.match(wrongModel.reason ?? '', /wrong model hash/);

    let status = await api.job(job.id);
    assert.deepEqual(status.shards.map((s) => s.state), ['queued', 'queued'], 'both shards went back to the queue');
    const rejections = status.events.filter((e) => e.kind === 'result_rejected').map((e) => e.detail);
    assert.equal(rejections.length, 3);

    // The honest node arrives and finishes the job.
    const config = loadAgentConfig({ env: {}, overrides: { dataDir: join(dir, 'honest'), mqttUrl: cp.info.mqttUrl, controlPlaneId: cp.info.controlPlaneId, web: { enabled: false } } });
    const agent = new Agent(config, pino({ level: 'silent' }));
    const { nodeId } = await agent.start();
    t.after(() => agent.stop());
    const deadline = Date.now() + 60_000;
    while ((status = await api.job(job.id)).job.state === 'running' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(status.job.state, 'completed');
    assert.deepEqual(status.shards.map((s) => s.nodeId), [nodeId, nodeId]);
    const output = (await api.resultText(job.id)).trim().split('\n').map((l) => JSON.parse(l) as { tokens: number[] });
    assert.equal(output.length, 8);
    assert.ok(output.every((o) => o.tokens.join() !== '5,6,7,8'), 'no forged output made it into the result');

    const nodes = await api.nodes();
    assert.equal(nodes.find((n) => n.id === r1.id)?.shardsRejected, 1);
    assert.equal(nodes.find((n) => n.id === r2.id)?.shardsRejected, 1);
    assert.equal(nodes.find((n) => n.id === r1.id)?.shardsCompleted, 0);
    assert.deepEqual(await api.info().then((i) => i.controlPlaneId), cp.info.controlPlaneId, 'the control plane is still up');
  });
});
