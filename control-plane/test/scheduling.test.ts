import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalHash } from '@meshchain/protocol';
import { cutIntoShards } from '../src/jobs/sharding.ts';
import { planPlacements } from '../src/scheduler/placement.ts';
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

describe('placement', () => {
  it('fills free slots in queue order, spreading work and honouring exclusions', () => {
    const nodes = [
      { nodeId: 'b', freeSlots: 1, cachedModels: new Set<string>() },
      { nodeId: 'a', freeSlots: 2, cachedModels: new Set<string>() },
    ];
    const plan = planPlacements([shard('s1'), shard('s2', ['a']), shard('s3'), shard('s4')], () => 'm', nodes);
    assert.deepEqual(plan, [
      { shardId: 's1', nodeId: 'a' },
      { shardId: 's2', nodeId: 'b' },
      { shardId: 's3', nodeId: 'a' },
    ]);
  });

  it('prefers nodes that already hold the model', () => {
    const nodes = [
      { nodeId: 'a', freeSlots: 3, cachedModels: new Set<string>() },
      { nodeId: 'z', freeSlots: 1, cachedModels: new Set(['m']) },
    ];
    assert.equal(planPlacements([shard('s1')], () => 'm', nodes)[0]?.nodeId, 'z');
  });

  it('places nothing when no node is free', () => {
    assert.deepEqual(planPlacements([shard('s1')], () => 'm', [{ nodeId: 'a', freeSlots: 0, cachedModels: new Set() }]), []);
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
