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
      workload: 'infer',
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

  it('extends a lease on progress from its holder only, up to the maximum lease age', () => {
    const { leases, jobs, job } = setup();
    const shardId = `${job.id}.0`;
    const lease = leases.leaseShard(shardId, 'mnA', 1000, 0)!;
    const extension = { extendMs: 1000, maxAgeMs: 2500 };
    assert.deepEqual(leases.extendLease(lease.id, 'mnA', extension, 900), { extended: true, until: 1900 });
    assert.equal(jobs.getShard(shardId)?.leaseUntil, 1900, 'the shard carries the new deadline');
    assert.equal(leases.getLease(lease.id)?.progressAt, 900);
    assert.deepEqual(leases.extendLease(lease.id, 'mnA', extension, 1800), { extended: true, until: 2500 }, 'capped at issuedAt + maxAgeMs');
    const capped = leases.extendLease(lease.id, 'mnA', extension, 2000);
    assert.equal(capped.extended, false);
    assert.match(capped.extended ? '' : capped.reason, /maximum age/);
    assert.deepEqual(leases.reclaimExpiredLeases(2499).expired, [], 'not expired before the extended deadline');
    assert.equal(leases.reclaimExpiredLeases(2500).expired.length, 1, 'a lease that keeps reporting still ends at its maximum age');

    const foreign = leases.extendLease(lease.id, 'mnB', extension, 100);
    assert.match(foreign.extended ? '' : foreign.reason, /held by another node/);
    const stale = leases.extendLease(lease.id, 'mnA', extension, 2600);
    assert.match(stale.extended ? '' : stale.reason, /is expired/);
    const unknown = leases.extendLease('lease_nope', 'mnA', extension, 0);
    assert.match(unknown.extended ? '' : unknown.reason, /unknown lease/);
  });

  it('runs a speculative copy beside the lease: one copy per shard, never on the holder, and the copy carries on when the lease expires', () => {
    const { leases, jobs, job } = setup();
    const shardId = `${job.id}.0`;
    const own = leases.leaseShard(shardId, 'mnA', 1000, 0)!;
    assert.equal(leases.leaseSpeculativeCopy(shardId, 'mnA', 1000, 10), null, 'not on the node that holds it');
    const copy = leases.leaseSpeculativeCopy(shardId, 'mnB', 5000, 10)!;
    assert.ok(copy.speculative);
    assert.equal(leases.leaseSpeculativeCopy(shardId, 'mnC', 1000, 10), null, 'one copy at a time');
    assert.equal(leases.leaseSpeculativeCopy(`${job.id}.1`, 'mnB', 1000, 10), null, 'only a leased shard has stragglers');
    assert.deepEqual(leases.activeLeasesOf(shardId).map((l) => l.id), [own.id, copy.id]);
    assert.deepEqual(leases.activeLeaseCounts(), new Map([['mnA', 1], ['mnB', 1]]), 'both copies take a slot');
    assert.equal(jobs.getShard(shardId)?.leaseId, own.id, 'the shard keeps its own lease');

    const report = leases.reclaimExpiredLeases(1000);
    assert.deepEqual(report.promoted, [{ shardId, leaseId: copy.id, nodeId: 'mnB' }]);
    const shard = jobs.getShard(shardId)!;
    assert.equal(shard.state, 'leased', 'not re-queued: the copy still runs');
    assert.equal(shard.leaseId, copy.id);
    assert.equal(shard.nodeId, 'mnB');
    assert.equal(shard.attempts, 1, 'the expired lease counts as an attempt');
  });

  it('cancels a running job in one step: queued shards dropped, live leases revoked; not twice, not an unknown job', () => {
    const { leases, jobs, job } = setup();
    const own = leases.leaseShard(`${job.id}.0`, 'mnA', 1000, 0)!;
    const copy = leases.leaseSpeculativeCopy(`${job.id}.0`, 'mnB', 1000, 0)!;
    const report = leases.cancelJob(job.id, 'no longer needed', 50);
    assert.deepEqual(report.revoked.map((r) => r.leaseId).sort(), [own.id, copy.id].sort());
    assert.equal(report.droppedShards, 2);
    const cancelled = jobs.getJob(job.id);
    assert.equal(cancelled.state, 'cancelled');
    assert.match(cancelled.error ?? '', /no longer needed/);
    assert.deepEqual(leases.activeLeasesOf(`${job.id}.0`), [], 'no live lease is left behind');
    assert.deepEqual(leases.queuedShards(1000), [], 'nothing of it is offered again');
    assert.deepEqual(leases.reclaimExpiredLeases(5000).expired, [], 'the sweeper finds nothing to reclaim');
    assert.ok(jobs.eventsOf(job.id).some((e) => e.kind === 'job_cancelled'));
    assert.throws(() => leases.cancelJob(job.id, 'again'), /already cancelled/);
    assert.throws(() => leases.cancelJob('job_missing', 'x'), /job job_missing not found/);
  });

  it('offers each running job its own slice of the queue, so a large job cannot hide a small one', () => {
    const { leases, jobs } = setup();
    const big = jobs.createJob(
      {
        workload: 'infer',
        modelSha256: 'a'.repeat(64),
        inputs: Array.from({ length: 20 }, (_, index) => ({ index, prompt: `b${index}` })),
        shardSize: 1,
        settings: { maxTokens: 4, temperature: 0, seed: 0, contextSize: 64, batchSize: 64, addBos: true },
        priority: 50,
      },
      1,
    );
    assert.equal(big.priority, 50);
    const offered = leases.queuedShards(10, 3);
    const perJob = new Map<string, number>();
    for (const shard of offered) perJob.set(shard.jobId, (perJob.get(shard.jobId) ?? 0) + 1);
    assert.equal(perJob.get(big.id), 3);
    assert.equal(perJob.size, 2, 'the older small job is offered too');
  });

  it('finds jobs whose shards are all done but which were never aggregated', () => {
    const { db, jobs, job } = setup();
    assert.deepEqual(jobs.completableJobs(), []);
    db.prepare(`UPDATE shards SET state = 'completed' WHERE job_id = ?`).run(job.id);
    assert.deepEqual(jobs.completableJobs(), [job.id]);
  });
});
