import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { canPublish } from '@meshchain/broker';
import { inferAssignment, topicFor, type InferAssignmentBody, type InferResultBody } from '@meshchain/protocol';
import { ApiClient, ApiError } from '../src/index.ts';
import { ScriptedNode, startControlPlane, type LogLine, type RunningControlPlane } from './helpers/harness.ts';

/**
 * Leases, progress, speculative copies and cancellation against a real
 * control plane (embedded aedes, SQLite) and scripted nodes on real MQTT.
 */

const MODEL = 'c'.repeat(64);

function resultFor(a: InferAssignmentBody, maxTokens: number): InferResultBody {
  return {
    jobId: a.jobId,
    shardId: a.shardId,
    leaseId: a.leaseId,
    modelSha256: a.model.sha256,
    inputHash: a.inputHash,
    outputs: a.inputs.map((input) => ({ index: input.index, tokens: Array.from({ length: maxTokens }, (_, i) => 5 + i), text: 'x', finishReason: 'length' as const })),
    stats: { promptTokens: 4, generatedTokens: maxTokens * a.inputs.length, computeMs: 1 },
  };
}

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const logged = (cp: RunningControlPlane, msg: string, match: (l: LogLine) => boolean = () => true): Promise<LogLine> =>
  waitFor(`log "${msg}"`, () => cp.lines.find((l) => l.msg === msg && match(l)));

describe('scheduling on a live control plane', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  async function setup(overrides: Parameters<typeof startControlPlane>[0], nodes: number): Promise<{ cp: RunningControlPlane; api: ApiClient; nodes: ScriptedNode[] }> {
    const cp = await startControlPlane({ chain: { enabled: false }, trust: { enabled: false }, ...overrides });
    cleanup.push(() => cp.stop());
    const api = new ApiClient(cp.info.apiUrl);
    // A model the control plane knows; scripted nodes never download it.
    const handle = new Database(`${cp.dir}/control-plane.db`);
    handle.prepare('INSERT INTO models (sha256, size, created_at) VALUES (?, ?, ?)').run(MODEL, 1000, Date.now());
    handle.close();
    const scripted: ScriptedNode[] = [];
    for (let i = 0; i < nodes; i++) {
      const node = new ScriptedNode(cp.info.controlPlaneId);
      await node.connect(cp.info.mqttUrl);
      cleanup.push(() => node.close());
      scripted.push(node);
    }
    return { cp, api, nodes: scripted };
  }

  it('lets a node publish progress (and only unretained, only on its own subtree)', () => {
    const me = { id: 'mn1111111111111111111111111111111111', role: 'node' as const };
    const own = `meshchain/v1/nodes/${me.id}/progress`;
    assert.deepEqual(canPublish(me, own, false), { allowed: true });
    assert.equal(canPublish(me, own, true).allowed, false, 'progress is an event, never retained');
    assert.equal(canPublish(me, 'meshchain/v1/nodes/mn2222222222222222222222222222222222/progress', false).allowed, false);
  });

  it('extends the lease of the node that reports progress, and ignores stale or foreign progress with a logged reason', async () => {
    const { cp, api, nodes } = await setup({ lease: { baseMs: 20_000, perTokenMs: 0, extendMs: 60_000, maxAgeMs: 120_000 }, stragglers: { enabled: false } }, 2);
    const [holder, other] = nodes as [ScriptedNode, ScriptedNode];
    await holder.announce();
    const { job } = await api.submitJob({ workload: 'infer', model: MODEL, prompts: ['a', 'b'], shardSize: 2, settings: { maxTokens: 4 } });
    const a = inferAssignment((await holder.next('assignment')).body);
    assert.equal(topicFor('progress', holder.id).endsWith('/progress'), true);

    await holder.send('progress', { jobId: a.jobId, shardId: a.shardId, leaseId: a.leaseId, done: 1, tokens: 4 });
    const extended = await logged(cp, 'progress: lease extended', (l) => l.leaseId === a.leaseId);
    assert.ok((extended.until as number) >= a.leaseUntil + 30_000, 'the deadline moved to about now + extendMs');

    await other.send('progress', { jobId: a.jobId, shardId: a.shardId, leaseId: a.leaseId, done: 2, tokens: 8 });
    const foreign = await logged(cp, 'progress ignored', (l) => l.nodeId === other.id);
    assert.match(String(foreign.reason), /held by another node/);
    await holder.send('progress', { jobId: a.jobId, shardId: `${job.id}.9`, leaseId: a.leaseId, done: 0, tokens: 0 });
    const mismatched = await logged(cp, 'progress ignored', (l) => l.shardId === `${job.id}.9`);
    assert.match(String(mismatched.reason), /not a lease of shard/);
    await holder.send('progress', { jobId: a.jobId, shardId: a.shardId, leaseId: 'lease_unknown', done: 0, tokens: 0 });
    assert.match(String((await logged(cp, 'progress ignored', (l) => l.leaseId === 'lease_unknown')).reason), /unknown lease/);

    await holder.send('result', resultFor(a, 4));
    assert.equal((await holder.next('ack')).body.status, 'accepted');
    await holder.send('progress', { jobId: a.jobId, shardId: a.shardId, leaseId: a.leaseId, done: 2, tokens: 8 });
    const stale = await logged(cp, 'progress ignored', (l) => l.leaseId === a.leaseId && l.nodeId === holder.id && l.done === 2);
    assert.match(String(stale.reason), /is completed/);
    assert.equal((await api.job(job.id)).job.state, 'completed');
  });

  it('runs a straggling shard speculatively on another node: the first result wins, the loser is told to stop and counted nowhere', async () => {
    const { cp, api, nodes } = await setup(
      { lease: { baseMs: 120_000, perTokenMs: 0 }, stragglers: { enabled: true, factor: 2, minRunMs: 300, leaseFraction: 0.5 } },
      2,
    );
    const [slow, fast] = nodes as [ScriptedNode, ScriptedNode];
    await slow.announce();
    const { job } = await api.submitJob({ workload: 'infer', model: MODEL, prompts: ['a', 'b', 'c', 'd'], shardSize: 2, settings: { maxTokens: 3 } });
    const straggling = inferAssignment((await slow.next('assignment')).body);
    await fast.announce();
    const quick = inferAssignment((await fast.next('assignment')).body);
    assert.notEqual(quick.shardId, straggling.shardId);
    await fast.send('result', resultFor(quick, 3));
    assert.equal((await fast.next('ack')).body.status, 'accepted');

    // The queue is empty and the slow node's shard runs far longer than its peer took: a copy goes to the free node.
    const copy = inferAssignment((await fast.next('assignment')).body);
    assert.equal(copy.shardId, straggling.shardId);
    assert.notEqual(copy.leaseId, straggling.leaseId);
    assert.deepEqual(copy.inputs, straggling.inputs);
    await logged(cp, 'straggler: speculative copy assigned', (l) => l.shardId === straggling.shardId);

    await fast.send('result', resultFor(copy, 3));
    assert.equal((await fast.next('ack')).body.status, 'accepted');
    const stop = (await slow.next('command')).body;
    assert.deepEqual(stop.type === 'cancel' ? [stop.jobId, stop.leaseIds] : null, [job.id, [straggling.leaseId]], 'the losing copy is told to stop');

    await slow.send('result', resultFor(straggling, 3));
    const late = (await slow.next('ack')).body;
    assert.equal(late.status, 'duplicate');
    assert.equal(late.units, undefined, 'nothing credited');

    const status = await waitFor('job completed', async () => {
      const s = await api.job(job.id);
      return s.job.state === 'completed' ? s : undefined;
    });
    assert.ok(status.events.some((e) => e.kind === 'shard_speculated' && e.shardId === straggling.shardId));
    assert.equal(status.events.filter((e) => e.kind === 'shard_completed').length, 2, 'each shard counted once');
    const fleet = await api.nodes();
    assert.equal(fleet.find((n) => n.id === fast.id)?.shardsCompleted, 2);
    assert.equal(fleet.find((n) => n.id === slow.id)?.shardsCompleted, 0, 'the loser is not credited');
  });

  it('cancels a job: queued shards dropped, leases revoked, the node told to stop, a late result answered and not counted', async () => {
    const { cp, api, nodes } = await setup({ stragglers: { enabled: false } }, 1);
    const [node] = nodes as [ScriptedNode];
    await node.announce();
    const { job } = await api.submitJob({ workload: 'infer', model: MODEL, prompts: ['a', 'b', 'c'], shardSize: 1, settings: { maxTokens: 3 }, priority: 20 });
    assert.equal(job.priority, 20);
    const running = inferAssignment((await node.next('assignment')).body);

    const cancelled = await api.cancelJob(job.id, 'wrong prompts');
    assert.equal(cancelled.job.state, 'cancelled');
    assert.equal(cancelled.droppedShards, 3);
    assert.equal(cancelled.revokedLeases, 1);
    const stop = (await node.next('command')).body;
    assert.deepEqual(stop, { type: 'cancel', jobId: job.id, leaseIds: [running.leaseId], reason: 'wrong prompts' });
    await logged(cp, 'job cancelled', (l) => l.jobId === job.id);

    await node.send('result', resultFor(running, 3));
    const late = (await node.next('ack')).body;
    assert.equal(late.status, 'rejected');
    assert.match(late.reason ?? '', /cancelled/);
    const status = await api.job(job.id);
    assert.equal(status.job.state, 'cancelled');
    assert.equal(status.progress.shards.completed, 0, 'the late result is not counted');
    assert.equal((await api.nodes()).find((n) => n.id === node.id)?.shardsRejected, 0, 'nor held against the node');

    await assert.rejects(api.cancelJob(job.id), (e: unknown) => e instanceof ApiError && e.status === 409 && /already cancelled/.test(e.message));
    await assert.rejects(api.cancelJob('job_nope'), (e: unknown) => e instanceof ApiError && e.status === 404);
    await assert.rejects(
      api.submitJob({ workload: 'infer', model: MODEL, prompts: ['a'], priority: 0 }),
      (e: unknown) => e instanceof ApiError && e.status === 400 && /priority/.test(e.message),
    );
  });
});
