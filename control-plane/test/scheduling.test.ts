import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalHash } from '@meshchain/protocol';
import { cutIntoShards } from '../src/jobs/sharding.ts';
import {
  compareSemver,
  nodeEligibility,
  planPlacements,
  planSpeculation,
  stragglerThresholdMs,
  type JobDemand,
  type JobPace,
  type NodeSlot,
  type RunningShard,
} from '../src/scheduler/placement.ts';
import { retryDelay } from '../src/scheduler/retry.ts';
import { parseRange } from '../src/api/range.ts';
import type { Shard } from '../src/jobs/types.ts';

const shard = (id: string, excluded: string[] = []): Shard => ({
  id, jobId: 'job', idx: 0, inputs: [], inputHash: '', state: 'queued', leaseId: null, nodeId: null, leaseUntil: null,
  attempts: 0, nextAttemptAt: 0, excludedNodes: excluded, resultId: null, resultHash: null, completedAt: null, lastError: null,
});

describe('sharding', () => {
  it('cuts inputs in order into shards of at most the shard size, hashing each', () => {
    const inputs = Array.from({ length: 10 }, (_, index) => ({ index, prompt: `p${index}` }));
    const shards = cutIntoShards(inputs, 4);
    assert.deepEqual(shards.map((s) => s.inputs.map((i) => i.index)), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    assert.equal(shards[2]?.inputHash, canonicalHash(inputs.slice(8)));
    assert.throws(() => cutIntoShards(inputs, 0), RangeError);
  });
});

const demand = (jobId: string, queued: Shard[], extra: Partial<JobDemand> = {}): JobDemand => ({
  jobId, priority: 10, createdAt: 0, modelSha256: 'm', modelSize: 1000, running: 0, queued, ...extra,
});
const node = (nodeId: string, freeSlots: number, extra: Partial<NodeSlot> = {}): NodeSlot => ({
  nodeId, freeSlots, cachedModels: new Set<string>(), memoryBytes: 4 * 2 ** 30, agentVersion: '0.1.0', ...extra,
});
const shardsOf = (jobId: string, n: number): Shard[] => Array.from({ length: n }, (_, i) => ({ ...shard(`${jobId}.${i}`), jobId }));

describe('placement', () => {
  it('fills free slots in queue order, spreading work and honouring exclusions', () => {
    const nodes = [node('b', 1), node('a', 2)];
    const plan = planPlacements([demand('job', [shard('s1'), shard('s2', ['a']), shard('s3'), shard('s4')])], nodes);
    assert.deepEqual(plan.map((p) => [p.shardId, p.nodeId]), [
      ['s1', 'a'],
      ['s2', 'b'],
      ['s3', 'a'],
    ]);
  });

  it('prefers nodes that already hold the model, then nodes with fewer failed spot checks', () => {
    assert.equal(planPlacements([demand('job', [shard('s1')])], [node('a', 3), node('z', 1, { cachedModels: new Set(['m']) })])[0]?.nodeId, 'z');
    assert.equal(planPlacements([demand('job', [shard('s1')])], [node('a', 1, { failedChecks: 2 }), node('b', 1)])[0]?.nodeId, 'b');
  });

  it('fills every slot of the nodes holding the model before any other node, spreading within them', () => {
    const nodes = [node('x', 5), node('c2', 2, { cachedModels: new Set(['m']) }), node('c1', 1, { cachedModels: new Set(['m']) })];
    const plan = planPlacements([demand('job', shardsOf('job', 5))], nodes);
    assert.deepEqual(plan.map((p) => p.nodeId), ['c2', 'c1', 'c2', 'x', 'x']);
  });

  it('plans a large fleet: each free slot used once, no node over its slots', () => {
    const nodes = Array.from({ length: 3000 }, (_, i) => node(`n${String(i).padStart(4, '0')}`, 1 + (i % 2)));
    const jobs = [demand('a', shardsOf('a', 3000)), demand('b', shardsOf('b', 3000), { createdAt: 1 })];
    const plan = planPlacements(jobs, nodes);
    assert.equal(plan.length, 4500);
    const perNode = new Map<string, number>();
    for (const p of plan) perNode.set(p.nodeId, (perNode.get(p.nodeId) ?? 0) + 1);
    for (const n of nodes) assert.equal(perNode.get(n.nodeId), n.freeSlots);
    assert.deepEqual([plan.filter((p) => p.jobId === 'a').length, plan.filter((p) => p.jobId === 'b').length], [2250, 2250]);
  });

  it('places nothing when no node is free', () => {
    assert.deepEqual(planPlacements([demand('job', [shard('s1')])], [node('a', 0)]), []);
  });

  it('gives no work to nodes that are quarantined, overheating, too small for the model or running too old an agent', () => {
    const policy = { minAgentVersion: '0.2.0', memoryFactor: 1.25 };
    const nodes = [
      node('quarantined', 1, { quarantined: true, agentVersion: '1.0.0' }),
      node('hot', 1, { overheating: true, agentVersion: '1.0.0' }),
      node('small', 1, { memoryBytes: 1200, agentVersion: '1.0.0' }),
      node('old', 1, { agentVersion: '0.1.9' }),
      node('prerelease', 1, { agentVersion: '0.2.0-rc.1' }),
      node('ok', 1, { memoryBytes: 1250, agentVersion: '0.2.0' }),
    ];
    const plan = planPlacements([demand('job', shardsOf('job', 6))], nodes, policy);
    assert.deepEqual(plan.map((p) => p.nodeId), ['ok']);
    assert.deepEqual(
      nodes.map((n) => nodeEligibility(n, 1000, policy)).map((e) => (e.eligible ? 'ok' : e.reason)),
      ['quarantined', 'overheating', '1200 bytes of memory is too little for a 1000-byte model', 'agent 0.1.9 is older than 0.2.0', 'agent 0.2.0-rc.1 is older than 0.2.0', 'ok'],
    );
  });

  it('shares free slots fairly: a big old job does not starve a small new one', () => {
    const big = demand('big', shardsOf('big', 100), { createdAt: 0 });
    const small = demand('small', shardsOf('small', 2), { createdAt: 5 });
    const plan = planPlacements([big, small], [node('a', 2), node('b', 2)]);
    assert.equal(plan.length, 4);
    assert.equal(plan.filter((p) => p.jobId === 'small').length, 2, 'the small job runs now, not after 100 shards');
  });

  it('shares in proportion to priority, counting what each job already runs', () => {
    const high = demand('high', shardsOf('high', 50), { priority: 30, createdAt: 1 });
    const low = demand('low', shardsOf('low', 50), { priority: 10, createdAt: 0 });
    const plan = planPlacements([high, low], [node('a', 8)]);
    assert.deepEqual([plan.filter((p) => p.jobId === 'high').length, plan.filter((p) => p.jobId === 'low').length], [6, 2]);

    const busy = demand('busy', shardsOf('busy', 10), { running: 4 });
    const idle = demand('idle', shardsOf('idle', 10), { createdAt: 9 });
    const next = planPlacements([busy, idle], [node('a', 4)]);
    assert.deepEqual(next.map((p) => p.jobId), ['idle', 'idle', 'idle', 'idle'], 'the job already holding 4 leases waits until the other catches up');
  });

  it('moves on to the next job when a job has no eligible node (too big a model)', () => {
    const huge = demand('huge', shardsOf('huge', 3), { modelSize: 2 ** 40 });
    const tiny = demand('tiny', shardsOf('tiny', 3), { createdAt: 1 });
    assert.deepEqual(planPlacements([huge, tiny], [node('a', 2)]).map((p) => p.jobId), ['tiny', 'tiny']);
  });
});

describe('stragglers', () => {
  const pace = (jobId: string, completedMs: number[], extra: Partial<JobPace> = {}): JobPace => ({
    jobId, modelSha256: 'm', modelSize: 1000, completedMs, leaseMs: 60_000, ...extra,
  });
  const policy = { factor: 3, minRunMs: 1_000, leaseFraction: 0.5 };
  const running = (shardId: string, nodeId: string, leasedAt: number, jobId = 'job'): RunningShard => ({ shardId, jobId, nodeId, leasedAt, excludedNodes: [] });

  it('straggles after factor × the median of finished peers (at least minRunMs), or half the lease with no peers', () => {
    assert.equal(stragglerThresholdMs(pace('job', [100, 200, 300]), policy), 1_000);
    assert.equal(stragglerThresholdMs(pace('job', [1000, 2000, 9000]), policy), 6_000);
    assert.equal(stragglerThresholdMs(pace('job', []), policy), 30_000);
  });

  it('copies the slowest shards to another node, preferring another owner, never the holder', () => {
    const nodes = [
      node('holder', 1, { owner: '0xA' }),
      node('same-owner', 1, { owner: '0xA', cachedModels: new Set(['m']) }),
      node('other-owner', 1, { owner: '0xB' }),
    ];
    const plan = planSpeculation([running('s1', 'holder', 0), running('s2', 'holder', 9_000)], [pace('job', [2000, 2000])], nodes, 10_000, policy);
    assert.deepEqual(plan, [{ shardId: 's1', jobId: 'job', nodeId: 'other-owner' }], 's2 ran 1 s of a 6 s threshold: not a straggler');

    const onlySameOwner = planSpeculation([running('s1', 'holder', 0)], [pace('job', [2000])], nodes.slice(0, 2), 10_000, policy);
    assert.deepEqual(onlySameOwner.map((p) => p.nodeId), ['same-owner'], 'another owner is preferred, not required');
    assert.deepEqual(planSpeculation([running('s1', 'holder', 0)], [pace('job', [2000])], nodes.slice(0, 1), 10_000, policy), [], 'no other node: no copy');
    assert.deepEqual(
      planSpeculation([{ ...running('s1', 'holder', 0), excludedNodes: ['other-owner', 'same-owner'] }], [pace('job', [2000])], nodes, 10_000, policy),
      [],
      'never on a node excluded from the shard',
    );
  });
});

describe('semantic versions', () => {
  it('orders releases, pre-releases and garbage', () => {
    assert.ok(compareSemver('1.2.3', '1.2.3') === 0);
    assert.ok(compareSemver('1.10.0', '1.9.9') > 0);
    assert.ok(compareSemver('1.0.0-rc.1', '1.0.0') < 0);
    assert.ok(compareSemver('1.0.0-rc.2', '1.0.0-rc.10') < 0);
    assert.ok(compareSemver('1.0.0+build.5', '1.0.0') === 0);
    assert.ok(compareSemver('not-a-version', '0.0.1') < 0);
  });
});

describe('retry policy', () => {
  it('grows exponentially and stays within the jitter band', () => {
    const policy = { delayMs: 1000, factor: 2, jitter: 0.2, maxAttempts: 5 };
    assert.equal(retryDelay(policy, 1, () => 0.5), 1000);
    assert.equal(retryDelay(policy, 3, () => 0.5), 4000);
    assert.equal(retryDelay(policy, 3, () => 0), 3200);
    assert.equal(retryDelay(policy, 3, () => 1), 4800);
  });
});

describe('byte ranges', () => {
  it('parses the forms a resuming client sends', () => {
    assert.equal(parseRange(undefined, 100), null);
    assert.deepEqual(parseRange('bytes=10-', 100), { start: 10, end: 99 });
    assert.deepEqual(parseRange('bytes=10-19', 100), { start: 10, end: 19 });
    assert.deepEqual(parseRange('bytes=90-500', 100), { start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=-5', 100), { start: 95, end: 99 });
    assert.equal(parseRange('bytes=100-', 100), 'unsatisfiable');
    assert.equal(parseRange('bytes=20-10', 100), 'unsatisfiable');
    assert.equal(parseRange('bytes=0-1,5-6', 100), null, 'multiple ranges: send everything');
    assert.equal(parseRange('items=1-2', 100), null);
  });
});
