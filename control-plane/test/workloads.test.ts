// Workloads as a discriminated union: the synthetic workload's request, admission, units and
// output; the manifest root; migration 7 (jobs without a model); and a synthetic shard through a
// real control plane with rewards on (the ack credits the declared units).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { canonicalHash, type ResultBody, type SyntheticInput } from '@meshchain/protocol';
import { runSyntheticShard } from '../../device-agent/src/runtimes/synthetic/index.ts';
import { parseJobRequest } from '../src/api/job-request.ts';
import { buildManifest, manifestLeaf, MANIFEST_LEAF_TYPES, NO_MODEL_SHA256 } from '../src/aggregate/manifest.ts';
import { InvalidRequestError } from '../src/errors.ts';
import { judgeResult } from '../src/intake/judge-result.ts';
import type { Job, Shard } from '../src/jobs/types.ts';
import type { Lease } from '../src/scheduler/lease-store.ts';
import { migrate, openDatabase } from '../src/store/db.ts';
import { MIGRATIONS } from '../src/store/migrations.ts';
import { workloadModule } from '../src/workloads/index.ts';
import { ApiClient } from '../src/index.ts';
import { ScriptedNode, startControlPlane, type RunningControlPlane } from './helpers/harness.ts';

const items: SyntheticInput[] = [
  { index: 2, echo: 'two', units: 5 },
  { index: 3, echo: 'three', sleepMs: 1, units: 7 },
];
const job: Job = {
  id: 'job_s', workload: 'synthetic', modelSha256: null, settings: {},
  shardSize: 2, inputCount: 4, shardCount: 2, state: 'running', error: null, createdAt: 0, completedAt: null, manifestRoot: null, priority: 10,
};
const shard: Shard = {
  id: 'job_s.1', jobId: 'job_s', idx: 1, inputs: items, inputHash: canonicalHash(items), state: 'leased', leaseId: 'lease_s', nodeId: 'mnA',
  leaseUntil: 1, attempts: 0, nextAttemptAt: 0, excludedNodes: [], resultId: null, resultHash: null, completedAt: null, lastError: null,
};
const lease = { id: 'lease_s', shardId: 'job_s.1', nodeId: 'mnA', issuedAt: 0, until: 1, state: 'active' } as Lease;
const honest: ResultBody = {
  workload: 'synthetic', jobId: 'job_s', shardId: 'job_s.1', leaseId: 'lease_s', inputHash: canonicalHash(items),
  outputs: [{ index: 2, echo: 'two' }, { index: 3, echo: 'three' }], stats: { computeMs: 1 },
};

describe('synthetic workload', () => {
  it('parses a request into indexed items and refuses bad ones with the field named', () => {
    const parsed = parseJobRequest({ workload: 'synthetic', items: [{ echo: 'a', units: 1 }, { echo: 'b', units: 2, sleepMs: 10 }], shardSize: 1 });
    assert.equal(parsed.workload, 'synthetic');
    assert.equal(parsed.modelSha256, null);
    assert.deepEqual(parsed.inputs, [{ index: 0, echo: 'a', units: 1 }, { index: 1, echo: 'b', units: 2, sleepMs: 10 }]);
    const bad: [unknown, RegExp][] = [
      [{ workload: 'synthetic', items: [] }, /items/],
      [{ workload: 'synthetic', items: [{ echo: 'a', units: 0 }] }, /units/],
      [{ workload: 'synthetic', items: [{ echo: 'a' }] }, /units/],
      [{ workload: 'synthetic', items: [{ echo: 'a', units: 1, sleepMs: -1 }] }, /sleepMs/],
      [{ workload: 'train', items: [] }, /workload/],
      [{ items: [{ echo: 'a', units: 1 }] }, /workload/],
      ['not an object', /workload/],
    ];
    for (const [body, field] of bad) {
      assert.throws(() => parseJobRequest(body), (error: unknown) => error instanceof InvalidRequestError && field.test(`${error.message} ${String(error.details)}`), JSON.stringify(body));
    }
  });

  it('admits an honest echo and rejects, with a penalty, a wrong echo, a wrong shape or a result of another workload', () => {
    assert.deepEqual(judgeResult({ nodeId: 'mnA', body: honest, job, shard, lease }), { status: 'accepted' });
    const cases: [ResultBody, RegExp][] = [
      [{ ...honest, outputs: [{ index: 2, echo: 'two' }, { index: 3, echo: 'THREE' }] }, /does not echo/],
      [{ ...honest, outputs: [{ index: 2, echo: 'two' }] }, /expected 2 outputs/],
      [{ ...honest, outputs: [{ index: 3, echo: 'three' }, { index: 2, echo: 'two' }] }, /index 3, expected 2/],
      [{ ...honest, inputHash: 'f'.repeat(64) }, /input hash/],
      [
        { jobId: 'job_s', shardId: 'job_s.1', leaseId: 'lease_s', modelSha256: 'a'.repeat(64), inputHash: canonicalHash(items), outputs: [], stats: { promptTokens: 0, generatedTokens: 0, computeMs: 0 } },
        /infer result for a synthetic job/,
      ],
    ];
    for (const [body, reason] of cases) {
      const verdict = judgeResult({ nodeId: 'mnA', body, job, shard, lease });
      assert.equal(verdict.status, 'rejected');
      assert.ok(verdict.status === 'rejected' && verdict.penalize && reason.test(verdict.reason), JSON.stringify(verdict));
    }
  });

  it('credits the declared units times the cost factor, and stitches echoes in input order', () => {
    const synthetic = workloadModule('synthetic');
    assert.deepEqual(synthetic.units(items, honest, 3), { promptTokens: 0, generatedTokens: 0, units: 36 });
    assert.deepEqual(synthetic.outputLines(items, honest), [{ index: 2, echo: 'two', units: 5 }, { index: 3, echo: 'three', units: 7 }]);
    assert.equal(synthetic.recomputedAtAdmission, true);
    assert.equal(synthetic.leaseMs({ baseMs: 1000, perTokenMs: 50 }, job, shard), 1001);
  });

  it('runs on the agent without a model: echoes after the sleep, and stops when aborted', async () => {
    const assignment = { jobId: 'job_s', shardId: 'job_s.1', shardIndex: 1, leaseId: 'lease_s', leaseUntil: Date.now() + 60_000, inputHash: canonicalHash(items), workload: 'synthetic' as const, inputs: items };
    const done: number[] = [];
    const outcome = await runSyntheticShard(assignment, { signal: new AbortController().signal, onOutput: () => done.push(1) });
    assert.deepEqual(outcome.result, { ...honest, stats: outcome.result.stats });
    assert.equal(done.length, 2);
    const abort = new AbortController();
    const running = runSyntheticShard({ ...assignment, inputs: [{ index: 0, echo: 'x', sleepMs: 60_000, units: 1 }] }, { signal: abort.signal, onOutput: () => {} });
    abort.abort();
    await assert.rejects(running, { name: 'AbortError' });
  });
});

describe('job manifest', () => {
  it('has the root StandardMerkleTree gives for the same leaves', () => {
    // Strings shorter and longer than one 32-byte word, multi-byte characters, tree sizes odd, even and one.
    for (const [jobId, length] of [['job_m', 1], ['job_m', 2], ['job_m', 3], ['job_m', 37], [`job_${'é'.repeat(40)}`, 64]] as const) {
      const shards = Array.from({ length }, (_, i) => ({
        index: i * 1000, shardId: `job_m.${i}`, nodeId: i % 2 ? `mn${i % 5}` : `mn${'x'.repeat(26 + i)}`, resultHash: canonicalHash({ i }), verdict: i % 3 ? ('accepted' as const) : ('verified' as const), inputs: { first: i * 2, last: i * 2 + 1 },
      }));
      for (const model of ['a'.repeat(64), 'Ab'.repeat(32), NO_MODEL_SHA256]) {
        const manifest = buildManifest(jobId, model, 2 * length, [...shards].reverse());
        const reference = StandardMerkleTree.of(shards.map((s) => manifestLeaf(jobId, model, s)), [...MANIFEST_LEAF_TYPES]);
        assert.equal(manifest.root, reference.root, `${length} shards`);
        assert.deepEqual(manifest.shards.map((s) => s.index), shards.map((s) => s.index));
      }
    }
  });
});

describe('migration 7: jobs without a model', () => {
  it('keeps every job and shard of an existing database, lets synthetic jobs go without a model, and keeps the constraints', () => {
    const db = new Database(':memory:');
    db.pragma('foreign_keys = ON');
    for (const migration of MIGRATIONS.filter((m) => m.version <= 6)) db.exec(migration.sql);
    db.pragma('user_version = 6');
    db.prepare(`INSERT INTO models (sha256, size, created_at) VALUES (?, 1, 0)`).run('a'.repeat(64));
    db.prepare(
      `INSERT INTO jobs (id, workload, model_sha256, settings, shard_size, input_count, shard_count, state, created_at) VALUES ('job_old', 'infer', ?, '{}', 1, 1, 1, 'running', 5)`,
    ).run('a'.repeat(64));
    db.prepare(`INSERT INTO shards (id, job_id, idx, inputs, input_hash, state, next_attempt_at) VALUES ('job_old.0', 'job_old', 0, '[]', 'h', 'queued', 0)`).run();
    migrate(db);

    assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.at(-1)?.version);
    assert.deepEqual(db.prepare(`SELECT id, workload, model_sha256 AS model, created_at AS createdAt FROM jobs`).all(), [
      { id: 'job_old', workload: 'infer', model: 'a'.repeat(64), createdAt: 5 },
    ]);
    assert.equal((db.prepare(`SELECT COUNT(*) AS n FROM shards WHERE job_id = 'job_old'`).get() as { n: number }).n, 1);
    const insert = db.prepare(
      `INSERT INTO jobs (id, workload, model_sha256, settings, shard_size, input_count, shard_count, state, created_at) VALUES (?, ?, ?, '{}', 1, 1, 1, 'running', 6)`,
    );
    insert.run('job_synth', 'synthetic', null);
    assert.throws(() => insert.run('job_bad', 'infer', null), /CHECK constraint/);
    assert.throws(() => insert.run('job_ghost', 'infer', 'b'.repeat(64)), /FOREIGN KEY/);
    assert.throws(() => db.prepare(`INSERT INTO shards (id, job_id, idx, inputs, input_hash, state, next_attempt_at) VALUES ('x.0', 'job_nope', 0, '[]', 'h', 'queued', 0)`).run(), /FOREIGN KEY/);
    assert.deepEqual(db.pragma('foreign_key_check'), []);
    db.close();
    // A fresh database gets there too.
    openDatabase(':memory:').close();
  });
});

describe('a synthetic shard through the control plane with rewards on', () => {
  let cp: RunningControlPlane;
  let node: ScriptedNode;
  before(async () => {
    cp = await startControlPlane();
    node = new ScriptedNode(cp.info.controlPlaneId);
    await node.connect(cp.info.mqttUrl);
    await node.send('presence', { state: 'online', since: Date.now() });
    await node.send('capabilities', {
      agentVersion: '0.1.0', roles: ['worker'], runtimes: [{ workload: 'synthetic', engine: 'test', version: '0' }],
      hardware: { arch: 'arm64', platform: 'linux', cpuModel: 'test', cpus: 4, memoryBytes: 2 ** 30, gpu: null }, models: [], maxConcurrentShards: 1,
    });
  });
  after(async () => {
    await node?.close();
    await cp?.stop();
  });

  it('is assigned, echoed, verified, acknowledged with its declared units, and recorded once', async () => {
    const api = new ApiClient(cp.info.apiUrl);
    const { job: submitted } = await api.submitJob({ workload: 'synthetic', items: [{ echo: 'hello', units: 4 }, { echo: 'mesh', units: 6 }], shardSize: 2 });
    const assignment = (await node.next('assignment')).body;
    assert.equal(assignment.workload, 'synthetic');
    assert.ok(!('model' in assignment), 'a synthetic assignment names no model');
    if (assignment.workload !== 'synthetic') return;
    const result: ResultBody = {
      workload: 'synthetic', jobId: assignment.jobId, shardId: assignment.shardId, leaseId: assignment.leaseId, inputHash: assignment.inputHash,
      outputs: assignment.inputs.map((i) => ({ index: i.index, echo: i.echo })), stats: { computeMs: 1 },
    };
    const envelope = node.seal('result', result);
    await node.sendRaw(`meshchain/v1/nodes/${node.id}/results`, Buffer.from(JSON.stringify(envelope)));
    const ack = (await node.next('ack')).body;
    assert.equal(ack.status, 'accepted');
    assert.equal(ack.units, 10);
    // The same envelope again: answered with the stored verdict, not counted twice.
    await node.sendRaw(`meshchain/v1/nodes/${node.id}/results`, Buffer.from(JSON.stringify(envelope)));
    assert.equal((await node.next('ack')).body.status, 'accepted');
    const deadline = Date.now() + 10_000;
    let status = await api.job(submitted.id);
    while (status.job.state === 'running' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      status = await api.job(submitted.id);
    }
    assert.equal(status.job.state, 'completed');
    assert.equal(status.trust?.checked, 1, 'the admission recomputation counts as a passed check');
    assert.equal(await api.resultText(submitted.id), '{"index":0,"echo":"hello","units":4}\n{"index":1,"echo":"mesh","units":6}\n');
    const db = new Database(`${cp.dir}/control-plane.db`, { readonly: true });
    assert.deepEqual(db.prepare(`SELECT units, prompt_tokens AS p, generated_tokens AS g FROM contributions WHERE job_id = ?`).all(submitted.id), [{ units: 10, p: 0, g: 0 }]);
    db.close();
  });
});
