import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openDatabase } from '../src/store/db.ts';
import { JobStore } from '../src/jobs/job-store.ts';
import { LeaseStore } from '../src/scheduler/lease-store.ts';

function setup(maxAttempts = 3) {
  const db = openDatabase(':memory:');
  db.prepare(`INSERT INTO models (sha256, size, created_at) VALUES (?, 1, 0)`).run('a'.repeat(64));
  const jobs = new JobStore(db);
  const leases = new LeaseStore(db, { delayMs: 1000, factor: 2, jitter: 0, maxAttempts }, () => 0.5);
  const job = jobs.createJob(
    {
      modelSha256: 'a'.repeat(64),
      inputs: [0, 1, 2].map((index) => ({ index, prompt: `p${index}` })),
      shardSize: 2,
      settings: { maxTokens: 4, temperature: 0, seed: 0, contextSize: 64, batchSize: 64, addBos: true },
    },
    0,
  );
  return { db, jobs, leases, job };
}

describe('leases', () => {
  it('leases a queued shard once, and not to an excluded node', () => {
    const { leases, job, jobs } = setup();
    const [first] = leases.queuedShards(0);
    assert.equal(first?.id, `${job.id}.0`);
    const lease = leases.leaseShard(first!.id, 'mnA', 1000, 0);
    assert.ok(lease);
    assert.equal(leases.leaseShard(first!.id, 'mnB', 1000, 0), null, 'already leased');
    assert.equal(jobs.getShard(first!.id)?.state, 'leased');
    assert.deepEqual(leases.activeLeaseCounts(), new Map([['mnA', 1]]));

    leases.requeueShard(lease!.id, 'rejected', 'bad', 10);
    assert.equal(leases.leaseShard(first!.id, 'mnA', 1000, 10), null, 'the rejected node is excluded');
    assert.ok(leases.leaseShard(first!.id, 'mnB', 1000, 10));
  });

  it('reclaims expired leases after a backoff and fails the job after the last attempt', () => {
    const { leases, jobs, job } = setup(2);
    const shardId = `${job.id}.1`;
    const l1 = leases.leaseShard(shardId, 'mnA', 100, 0)!;
    assert.deepEqual(leases.reclaimExpiredLeases(99).expired, []);
    const report = leases.reclaimExpiredLeases(100);
    assert.deepEqual(report.expired.map((e) => e.leaseId), [l1.id]);
    const shard = jobs.getShard(shardId)!;
    assert.equal(shard.state, 'queued');
    assert.equal(shard.attempts, 1);
    assert.equal(shard.nextAttemptAt, 100 + 1000, 'retry after the policy delay');
    assert.equal(leases.leaseShard(shardId, 'mnB', 100, 500), null, 'not before its next attempt');
    assert.deepEqual(leases.queuedShards(500).map((s) => s.id), [`${job.id}.0`]);

    leases.leaseShard(shardId, 'mnB', 100, 1100);
    const final = leases.reclaimExpiredLeases(1200);
    assert.equal(final.failedJobs.length, 1);
    assert.equal(jobs.getShard(shardId)?.state, 'failed');
    const failed = jobs.getJob(job.id);
    assert.equal(failed.state, 'failed');
    assert.match(failed.error ?? '', /lease expired on mnB/);
    assert.deepEqual(leases.queuedShards(5000), [], 'a failed job offers no more work');
  });

  it('puts a handed-back shard straight back without counting an attempt', () => {
    const { leases, jobs, job } = setup();
    const shardId = `${job.id}.0`;
    const lease = leases.leaseShard(shardId, 'mnA', 1000, 0)!;
    leases.requeueShard(lease.id, 'handed_back', 'shutdown', 5);
    const shard = jobs.getShard(shardId)!;
    assert.equal(shard.state, 'queued');
    assert.equal(shard.attempts, 0);
    assert.deepEqual(shard.excludedNodes, []);
    assert.equal(leases.getLease(lease.id)?.state, 'handed_back');
    assert.equal(leases.requeueShard(lease.id, 'handed_back', 'again', 6), null, 'a lease is given back once');
  });

  it('counts a handback for a failure as an attempt and keeps that node off the shard', () => {
    const { leases, jobs, job } = setup(2);
    const shardId = `${job.id}.0`;
    const first = leases.leaseShard(shardId, 'mnA', 1000, 0)!;
    leases.requeueShard(first.id, 'handed_back', 'context overflow', 1, true);
    assert.equal(jobs.getShard(shardId)?.attempts, 1);
    assert.equal(leases.leaseShard(shardId, 'mnA', 1000, 2), null, 'not straight back to the failing node');
    const second = leases.leaseShard(shardId, 'mnB', 1000, 2)!;
    leases.requeueShard(second.id, 'handed_back', 'context overflow', 3, true);
    assert.equal(jobs.getJob(job.id).state, 'failed', 'a shard no node can run fails its job instead of looping');
    assert.match(jobs.getJob(job.id).error ?? '', /context overflow/);
  });

  it('finds jobs whose shards are all done but which were never aggregated', () => {
    const { db, jobs, job } = setup();
    assert.deepEqual(jobs.completableJobs(), []);
    db.prepare(`UPDATE shards SET state = 'completed' WHERE job_id = ?`).run(job.id);
    assert.deepEqual(jobs.completableJobs(), [job.id]);
  });
});
