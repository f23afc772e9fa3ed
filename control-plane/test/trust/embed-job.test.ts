import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import type { AssignmentBody, EmbedAssignmentBody, EmbedResultBody } from '@meshchain/protocol';
import { Agent, loadAgentConfig } from '@meshchain/device-agent';
import { LlamaRuntime, type ModelRef } from '@meshchain/device-agent/runtimes/llama';
import { writeTinyModel } from '@meshchain/scripts/model';
import { ApiClient, ApiError } from '../../src/index.ts';
import { CAPABILITIES, ScriptedNode, startControlPlane, type RunningControlPlane } from '../helpers/harness.ts';
import { until } from './fixtures.ts';

const TEXTS = ['boards at home', 'the mesh embeds text', 'a third text, somewhat longer than the others', 'four', 'five texts in all'];

function embedAssignment(body: AssignmentBody): EmbedAssignmentBody {
  if (body.workload !== 'embed') throw new Error(`expected an embed assignment, got ${body.workload}`);
  return body;
}

function resultOf(a: EmbedAssignmentBody, vectors: (index: number) => number[]): EmbedResultBody {
  return {
    workload: 'embed',
    jobId: a.jobId,
    shardId: a.shardId,
    leaseId: a.leaseId,
    modelSha256: a.model.sha256,
    inputHash: a.inputHash,
    outputs: a.inputs.map((input) => ({ index: input.index, vector: vectors(input.index) })),
    stats: { promptTokens: 10, computeMs: 1 },
  };
}

interface Line {
  index: number;
  text: string;
  embedding: number[];
}

const parseOutput = (text: string): Line[] => text.trim().split('\n').map((l) => JSON.parse(l) as Line);

describe('embed workload', () => {
  let cp: RunningControlPlane;
  let api: ApiClient;
  let dir = '';
  let model: ModelRef;
  let reference: number[][] = [];
  let otherModelVectors: number[][] = [];
  const runtime = new LlamaRuntime();
  const scripted: ScriptedNode[] = [];

  before(async () => {
    cp = await startControlPlane({ chain: { enabled: false } });
    api = new ApiClient(cp.info.apiUrl);
    dir = await mkdtemp(join(tmpdir(), 'meshchain-embed-job-'));
    model = await writeTinyModel({ path: join(dir, 'tiny.gguf') });
    await api.uploadModel(model.path);
    reference = (await runtime.embed(model, TEXTS, { contextSize: 512, batchSize: 512, threads: 1 })).vectors;
    const other = await writeTinyModel({ path: join(dir, 'other.gguf'), seed: 99 });
    otherModelVectors = (await runtime.embed(other, TEXTS, { contextSize: 512, batchSize: 512, threads: 1 })).vectors;
    await runtime.stop();
  });
  after(async () => {
    for (const node of scripted) await node.close();
    await cp.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses bad requests with a clear error', async () => {
    const bad = (body: unknown, status = 400) => assert.rejects(api.submitJob(body as never), (e: unknown) => e instanceof ApiError && e.status === status);
    await bad({ workload: 'embed', model: model.sha256, texts: [] });
    await bad({ workload: 'embed', model: model.sha256, texts: ['ok', ''] });
    await bad({ workload: 'embed', model: 'f'.repeat(64), texts: ['unknown model'] }, 404);
    await bad({ workload: 'verify', model: model.sha256, texts: ['a verify task is not a job'] });
  });

  it('catches a cheating embedder (random, then other-model vectors); an honest agent redoes the shards; output in input order', async (t) => {
    const cheater = new ScriptedNode(cp.info.controlPlaneId);
    scripted.push(cheater);
    await cheater.connect(cp.info.mqttUrl);
    await cheater.send('presence', { state: 'online', since: Date.now() });
    await cheater.send('capabilities', { ...CAPABILITIES, runtimes: [{ workload: 'embed', engine: 'test', version: '0' }] });

    const { job } = await api.submitJob({ workload: 'embed', model: model.sha256, texts: TEXTS, shardSize: 3 });
    assert.equal(job.shardCount, 2);
    const first = embedAssignment((await cheater.next('assignment')).body);
    await cheater.send('result', resultOf(first, (i) => reference[i]!.map((_, d) => Math.sin(i * 31 + d))));
    assert.equal((await cheater.next('ack')).body.status, 'accepted', 'well-formed vectors pass admission: only recomputation can tell');
    const second = embedAssignment((await cheater.next('assignment')).body);
    assert.notEqual(second.shardId, first.shardId, 'the shard it cheated on never comes back to it');
    await cheater.send('result', resultOf(second, (i) => otherModelVectors[i]!));
    assert.equal((await cheater.next('ack')).body.status, 'accepted');
    await until('quarantine', async () => (await api.nodes()).find((n) => n.id === cheater.id)?.trust?.quarantined === true);
    const caught = await api.job(job.id);
    const failures = caught.events.filter((e) => e.kind === 'check_failed');
    assert.equal(failures.length, 2);
    assert.ok(failures.every((e) => /cosine similarity/.test(e.detail ?? '')), JSON.stringify(failures));

    const config = loadAgentConfig({ env: {}, overrides: { dataDir: join(dir, 'honest'), mqttUrl: cp.info.mqttUrl, controlPlaneId: cp.info.controlPlaneId, web: { enabled: false }, threads: 2 } });
    const honest = new Agent(config, pino({ level: 'silent' }));
    const { nodeId } = await honest.start();
    t.after(() => honest.stop());
    const done = await until('the job', async () => {
      const s = await api.job(job.id);
      return s.job.state === 'completed' ? s : null;
    });
    assert.ok(done.shards.every((s) => s.nodeId === nodeId));
    const lines = parseOutput(await api.resultText(job.id));
    assert.deepEqual(lines.map((l) => l.index), [0, 1, 2, 3, 4]);
    assert.deepEqual(lines.map((l) => l.text), TEXTS);
    // Computed by the agent with 2 threads; the reference with 1: the same vectors.
    assert.deepEqual(lines.map((l) => l.embedding), reference, 'the final output equals an all-honest run');
    const manifest = await api.manifest(job.id);
    assert.ok(manifest.shards.every((s) => s.verdict === 'verified'), 'a new node is checked in full');
    const view = (await api.nodes()).find((n) => n.id === cheater.id);
    assert.equal(view?.shardsRejected, 2);
    assert.equal(cheater.received.filter((m) => m.kind === 'assignment').length, 0, 'nothing more for a quarantined node');
  });
});
