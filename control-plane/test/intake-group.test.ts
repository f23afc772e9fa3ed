// Group commit of results (ResultIntake.receiveMany): one transaction for a
// group, one savepoint per result, first valid result wins, redeliveries
// answered from the record, and a result whose handling throws rolls back alone.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalHash, type Envelope, type SyntheticInput } from '@meshchain/protocol';
import { ResultIntake, type AcceptedShard } from '../src/intake/result-intake.ts';
import { JobStore } from '../src/jobs/job-store.ts';
import { NodeStore } from '../src/nodes/node-store.ts';
import { LeaseStore } from '../src/scheduler/lease-store.ts';
import { openDatabase } from '../src/store/db.ts';

function setup(onAccepted?: (shard: AcceptedShard) => void) {
  const db = openDatabase(':memory:');
  const jobs = new JobStore(db);
  const leases = new LeaseStore(db, { delayMs: 1000, factor: 2, jitter: 0, maxAttempts: 3 }, () => 0.5);
  const nodes = new NodeStore(db);
  const intake = new ResultIntake(db, jobs, leases, nodes, onAccepted ? { onAccepted } : {});
  const inputs: SyntheticInput[] = [0, 1, 2].map((index) => ({ index, echo: `e${index}`, units: 1 }));
  const job = jobs.createJob({ workload: 'synthetic', modelSha256: null, settings: {}, inputs, shardSize: 1 }, 0);
  return { db, jobs, leases, intake, job, inputs };
}

let sequence = 0;
function result(jobId: string, shardIndex: number, leaseId: string, nodeId: string, inputs: SyntheticInput[], echo?: string): Envelope<'result'> {
  const input = inputs[shardIndex] as SyntheticInput;
  return {
    v: 1,
    kind: 'result',
    id: `result-${String(++sequence).padStart(8, '0')}`,
    ts: 0,
    from: nodeId,
    pub: 'A'.repeat(43),
    sig: 'A'.repeat(86),
    body: {
      workload: 'synthetic',
      jobId,
      shardId: `${jobId}.${shardIndex}`,
      leaseId,
      inputHash: canonicalHash([input]),
      outputs: [{ index: input.index, echo: echo ?? input.echo }],
      stats: { computeMs: 1 },
    },
  } as Envelope<'result'>;
}

describe('result intake in groups', () => {
  it('commits a group at once: first valid result of a shard wins, the copy and a redelivery are answered, nothing counted twice', () => {
    const { db, jobs, leases, intake, job, inputs } = setup();
    const shardId = `${job.id}.0`;
    const own = leases.leaseShard(shardId, 'mnA', 60_000, 0)!;
    const copy = leases.leaseSpeculativeCopy(shardId, 'mnB', 60_000, 0)!;
    const other = leases.leaseShard(`${job.id}.1`, 'mnC', 60_000, 0)!;
    const first = result(job.id, 0, copy.id, 'mnB', inputs);
    const second = result(job.id, 0, own.id, 'mnA', inputs);
    const third = result(job.id, 1, other.id, 'mnC', inputs);

    const outcomes = intake.receiveMany([
      { envelope: first, nodeId: 'mnB' },
      { envelope: second, nodeId: 'mnA' },
      { envelope: first, nodeId: 'mnB' },
      { envelope: third, nodeId: 'mnC' },
    ]);
    const taken = outcomes.map((o) => (o.ok ? o.outcome : assert.fail(String(o.error))));
    assert.deepEqual(taken.map((o) => o.verdict.status), ['accepted', 'duplicate', 'accepted', 'accepted']);
    assert.deepEqual(taken.map((o) => o.redelivered), [false, false, true, false]);
    // The copy won: the shard's own lease is superseded, and its holder is named so it can be told to stop.
    assert.deepEqual(taken[0]?.superseded, [{ leaseId: own.id, nodeId: 'mnA' }]);
    assert.equal(jobs.getShard(shardId)?.resultId, first.id);
    assert.equal(leases.getLease(own.id)?.state, 'superseded');
    assert.equal(jobs.getShard(`${job.id}.1`)?.state, 'completed');
    const counted = db.prepare(`SELECT COUNT(*) AS n FROM results WHERE verdict = 'accepted'`).get() as { n: number };
    assert.equal(counted.n, 2, 'one accepted result per shard');
    assert.equal(taken.some((o) => o.jobComplete), false, 'shard 2 is still queued');
  });

  it('rolls back only the result whose handling throws; the rest of the group commits', () => {
    let refuse = '';
    const { db, jobs, leases, intake, job, inputs } = setup((shard) => {
      if (shard.resultId === refuse) throw new Error('ledger unavailable');
    });
    const a = leases.leaseShard(`${job.id}.0`, 'mnA', 60_000, 0)!;
    const b = leases.leaseShard(`${job.id}.1`, 'mnB', 60_000, 0)!;
    const c = leases.leaseShard(`${job.id}.2`, 'mnC', 60_000, 0)!;
    const good = result(job.id, 0, a.id, 'mnA', inputs);
    const failing = result(job.id, 1, b.id, 'mnB', inputs);
    const wrong = result(job.id, 2, c.id, 'mnC', inputs, 'not the echo');
    refuse = failing.id;

    const outcomes = intake.receiveMany([
      { envelope: good, nodeId: 'mnA' },
      { envelope: failing, nodeId: 'mnB' },
      { envelope: wrong, nodeId: 'mnC' },
    ]);
    assert.equal(outcomes[0]?.ok && outcomes[0].outcome.verdict.status, 'accepted');
    assert.equal(outcomes[1]?.ok, false);
    assert.match(String(!outcomes[1]?.ok && (outcomes[1]?.error as Error).message), /ledger unavailable/);
    assert.equal(outcomes[2]?.ok && outcomes[2].outcome.verdict.status, 'rejected');

    // Nothing of the failed result stays: no row, its shard still leased to the node, which will send it again.
    assert.equal(db.prepare('SELECT 1 FROM results WHERE id = ?').get(failing.id), undefined);
    assert.equal(jobs.getShard(`${job.id}.1`)?.state, 'leased');
    assert.equal(jobs.getShard(`${job.id}.0`)?.state, 'completed');
    assert.equal(jobs.getShard(`${job.id}.2`)?.state, 'queued', 'a wrong echo is penalized: back in the queue');

    // Sent again once the ledger is back: accepted and counted once.
    refuse = '';
    const again = intake.receiveMany([{ envelope: failing, nodeId: 'mnB' }]);
    assert.equal(again[0]?.ok && again[0].outcome.verdict.status, 'accepted');
    assert.equal(again[0]?.ok && again[0].outcome.redelivered, false);
    assert.equal(jobs.getShard(`${job.id}.1`)?.state, 'completed');
  });

  it('says when a group completes its job', () => {
    const { leases, intake, job, inputs } = setup();
    const items = [0, 1, 2].map((i) => {
      const lease = leases.leaseShard(`${job.id}.${i}`, `mn${i}`, 60_000, 0)!;
      return { envelope: result(job.id, i, lease.id, `mn${i}`, inputs), nodeId: `mn${i}` };
    });
    const outcomes = intake.receiveMany(items);
    assert.deepEqual(outcomes.map((o) => o.ok && o.outcome.jobComplete), [false, false, true]);
  });
});
