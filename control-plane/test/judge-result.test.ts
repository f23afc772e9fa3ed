import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalHash, type InferResultBody } from '@meshchain/protocol';
import { judgeResult, type ResultContext } from '../src/intake/judge-result.ts';
import type { Job, Shard } from '../src/jobs/types.ts';
import type { Lease } from '../src/scheduler/lease-store.ts';

const inputs = [{ index: 4, prompt: 'a' }, { index: 5, prompt: 'b' }];
const job: Job = {
  id: 'job_1', workload: 'infer', modelSha256: 'a'.repeat(64),
  settings: { maxTokens: 3, temperature: 0, seed: 0, contextSize: 64, batchSize: 64, addBos: true },
  shardSize: 2, inputCount: 6, shardCount: 3, state: 'running', error: null, createdAt: 0, completedAt: null, manifestRoot: null, priority: 10,
};
const shard: Shard = {
  id: 'job_1.2', jobId: 'job_1', idx: 2, inputs, inputHash: canonicalHash(inputs), state: 'leased', leaseId: 'lease_a', nodeId: 'mnA',
  leaseUntil: 1, attempts: 0, nextAttemptAt: 0, excludedNodes: [], resultId: null, resultHash: null, completedAt: null, lastError: null,
};
const lease: Lease = { id: 'lease_a', shardId: 'job_1.2', nodeId: 'mnA', issuedAt: 0, until: 1, state: 'active', speculative: false, progressAt: null };
const body: InferResultBody = {
  jobId: 'job_1', shardId: 'job_1.2', leaseId: 'lease_a', modelSha256: 'a'.repeat(64), inputHash: canonicalHash(inputs),
  outputs: [{ index: 4, tokens: [1, 2, 3], text: 'x', finishReason: 'length' }, { index: 5, tokens: [1], text: 'y', finishReason: 'eos' }],
  stats: { promptTokens: 2, generatedTokens: 4, computeMs: 1 },
};
const ctx = (patch: Partial<ResultContext> = {}, bodyPatch: Partial<InferResultBody> = {}): ResultContext => ({ nodeId: 'mnA', body: { ...body, ...bodyPatch }, job, shard, lease, ...patch });

describe('judgeResult', () => {
  it('accepts a result that matches its lease, hashes and shape', () => {
    assert.deepEqual(judgeResult(ctx()), { status: 'accepted' });
  });

  it('refuses results for unknown shards and leases without penalty', () => {
    for (const c of [ctx({ shard: null }), ctx({ job: null }), ctx({ lease: null }), ctx({ lease: { ...lease, shardId: 'other' } })]) {
      const verdict = judgeResult(c);
      assert.equal(verdict.status, 'rejected');
      assert.equal(verdict.status === 'rejected' && verdict.penalize, false);
    }
  });

  it('refuses a shard leased to another node', () => {
    const verdict = judgeResult(ctx({ nodeId: 'mnB' }));
    assert.equal(verdict.status, 'rejected');
    assert.match(verdict.status === 'rejected' ? verdict.reason : '', /leased to another node/);
  });

  it('answers duplicate for a completed shard, whichever lease', () => {
    assert.deepEqual(judgeResult(ctx({ shard: { ...shard, state: 'completed' } })), { status: 'duplicate', reason: 'result already accepted' });
    const other = judgeResult(ctx({ shard: { ...shard, state: 'completed', leaseId: 'lease_b' } }));
    assert.equal(other.status, 'duplicate');
  });

  it('penalizes wrong hashes and a wrong output shape', () => {
    const cases: [Partial<InferResultBody>, RegExp][] = [
      [{ modelSha256: 'b'.repeat(64) }, /wrong model hash/],
      [{ inputHash: 'c'.repeat(64) }, /wrong input hash/],
      [{ outputs: body.outputs.slice(0, 1) }, /expected 2 outputs/],
      [{ outputs: [body.outputs[1]!, body.outputs[0]!] }, /has index 5, expected 4/],
      [{ outputs: [{ ...body.outputs[0]!, tokens: [1, 2, 3, 4] }, body.outputs[1]!] }, /4 tokens > 3/],
      [{ outputs: [{ ...body.outputs[0]!, tokens: [1] }, body.outputs[1]!] }, /stopped for length after 1 of 3/],
      [{ outputs: [body.outputs[0]!, { ...body.outputs[1]!, tokens: [1, 2, 3] }] }, /end-of-sequence at the token limit/],
    ];
    for (const [patch, reason] of cases) {
      const verdict = judgeResult(ctx({}, patch));
      assert.equal(verdict.status, 'rejected');
      assert.ok(verdict.status === 'rejected' && verdict.penalize);
      assert.match(verdict.status === 'rejected' ? verdict.reason : '', reason);
    }
  });

  it('accepts a late result under an expired lease, never under a rejected or returned one', () => {
    assert.deepEqual(judgeResult(ctx({ lease: { ...lease, state: 'expired' } })), { status: 'accepted' });
    for (const state of ['rejected', 'handed_back'] as const) {
      const verdict = judgeResult(ctx({ lease: { ...lease, state } }));
      assert.equal(verdict.status, 'rejected', state);
    }
  });

  it('refuses results for jobs that stopped running', () => {
    const verdict = judgeResult(ctx({ job: { ...job, state: 'cancelled' } }));
    assert.equal(verdict.status, 'rejected');
  });
});
