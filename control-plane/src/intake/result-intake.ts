import { canonicalHash, type Envelope, type ResultBody, type Workload } from '@meshchain/protocol';
import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/db.ts';
import type { JobStore } from '../jobs/job-store.ts';
import type { LeaseStore } from '../scheduler/lease-store.ts';
import type { NodeStore } from '../nodes/node-store.ts';
import type { ShardInput } from '../jobs/types.ts';
import { workloadModule } from '../workloads/index.ts';
import { judgeResult, type Verdict } from './judge-result.ts';

export interface IntakeOutcome {
  verdict: Verdict;
  shardId: string;
  jobId: string;
  /** The job has all its shards now: aggregate it. */
  jobComplete: boolean;
  /** The envelope id was seen before: this is a redelivery, answered with the stored verdict. */
  redelivered: boolean;
  /** Other live leases of the shard (a speculative copy) that this accepted result superseded: their nodes may stop. */
  superseded: { leaseId: string; nodeId: string }[];
}

/** One result of a group taken in together. */
export interface IntakeItem {
  envelope: Envelope<'result'>;
  nodeId: string;
}

/** What became of one result of a group: its outcome, or the error that rolled back its part alone. */
export type GroupOutcome = { ok: true; outcome: IntakeOutcome } | { ok: false; error: unknown };

/** A shard the intake accepted, as handed to the reward ledger. */
export interface AcceptedShard {
  jobId: string;
  shardIndex: number;
  nodeId: string;
  /** Absent: infer. */
  workload?: Workload;
  /** The job's model; '' for a workload without one. */
  modelSha256: string;
  inputs: ShardInput[];
  result: ResultBody;
  resultId: string;
  /** The workload recomputed every output at admission: a spot check would add nothing. */
  recomputed?: boolean;
}

export interface IntakeHooks {
  /** Runs inside the transaction that accepts the shard (a throw rolls the acceptance back). */
  onAccepted?: (shard: AcceptedShard, now: number) => void;
}

/**
 * Takes a verified result envelope into the ledger in one transaction:
 * judge it, record the verdict, complete or requeue the shard. Idempotent on
 * the envelope id, and on (shard, lease): a result is counted at most once.
 */
export class ResultIntake {
  readonly #db: Db;
  readonly #jobs: JobStore;
  readonly #leases: LeaseStore;
  readonly #nodes: NodeStore;
  readonly #hooks: IntakeHooks;
  #statements: ReturnType<typeof prepareStatements> | null = null;

  constructor(db: Db, jobs: JobStore, leases: LeaseStore, nodes: NodeStore, hooks: IntakeHooks = {}) {
    this.#db = db;
    this.#jobs = jobs;
    this.#leases = leases;
    this.#nodes = nodes;
    this.#hooks = hooks;
  }

  /** Statements prepared once, on first use: results arrive by the thousand per second. */
  get #sql(): ReturnType<typeof prepareStatements> {
    return (this.#statements ??= prepareStatements(this.#db));
  }

  /**
   * Takes a group of results in with ONE commit: each result runs in its own
   * savepoint, in order (so of two results for one shard the first wins), and
   * a result whose handling throws rolls back alone. Acknowledge them only
   * after this returns: then every verdict is durable.
   */
  receiveMany(items: readonly IntakeItem[], now = Date.now()): GroupOutcome[] {
    return this.#db.transaction((): GroupOutcome[] =>
      items.map((item): GroupOutcome => {
        try {
          return { ok: true, outcome: this.receive(item.envelope, item.nodeId, now) };
        } catch (error) {
          return { ok: false, error };
        }
      }),
    )();
  }

  receive(envelope: Envelope<'result'>, nodeId: string, now = Date.now()): IntakeOutcome {
    const body = envelope.body;
    return this.#db.transaction((): IntakeOutcome => {
      const seen = this.#sql.seen.get(envelope.id) as
        | { verdict: Verdict['status']; reason: string | null }
        | undefined;
      if (seen) {
        const verdict: Verdict =
          seen.verdict === 'accepted'
            ? { status: 'accepted' }
            : seen.verdict === 'duplicate'
              ? { status: 'duplicate', reason: seen.reason ?? '' }
              : { status: 'rejected', reason: seen.reason ?? '', penalize: false };
        return { verdict, shardId: body.shardId, jobId: body.jobId, jobComplete: false, redelivered: true, superseded: [] };
      }

      const shard = this.#jobs.getShard(body.shardId);
      const job = shard ? this.#jobs.getJob(shard.jobId) : null;
      const lease = this.#leases.getLease(body.leaseId);
      const verdict = judgeResult({ nodeId, body, job, shard, lease });
      const resultHash = canonicalHash(body);
      this.#sql.insertResult.run(
          envelope.id,
          body.shardId,
          body.jobId,
          nodeId,
          body.leaseId,
          verdict.status,
          verdict.status === 'accepted' ? null : verdict.reason,
          resultHash,
          JSON.stringify(envelope),
          now,
        );

      let jobComplete = false;
      let superseded: IntakeOutcome['superseded'] = [];
      if (verdict.status === 'accepted' && shard && lease) {
        this.#sql.completeShard.run(lease.id, nodeId, envelope.id, resultHash, now, shard.id);
        this.#sql.completeLease.run(lease.id);
        // Other leases of the same shard (speculative or expired) can no longer win.
        superseded = (this.#sql.rivals.all(shard.id) as { id: string; node_id: string }[]).map((r) => ({ leaseId: r.id, nodeId: r.node_id }));
        if (superseded.length > 0) this.#sql.supersedeLeases.run(shard.id);
        const workload = job ? workloadModule(job.workload) : null;
        this.#nodes.recordWork(nodeId, { accepted: true, ...(workload?.work(body) ?? { tokens: 0, computeMs: 0 }) });
        if (job && workload) {
          this.#hooks.onAccepted?.(
            {
              jobId: job.id,
              shardIndex: shard.idx,
              nodeId,
              workload: job.workload,
              modelSha256: job.modelSha256 ?? '',
              inputs: shard.inputs,
              result: body,
              resultId: envelope.id,
              recomputed: workload.recomputedAtAdmission,
            },
            now,
          );
        }
        // EXISTS stops at the first unfinished shard: a count would walk them all for every result.
        jobComplete = (this.#sql.unfinished.get(shard.jobId) as { unfinished: number }).unfinished === 0;
        this.#jobs.recordEvent({ kind: 'shard_completed', jobId: shard.jobId, shardId: shard.id, nodeId }, now);
      } else if (verdict.status === 'rejected') {
        this.#jobs.recordEvent(
          { kind: 'result_rejected', jobId: job?.id ?? body.jobId, shardId: body.shardId, nodeId, detail: verdict.reason },
          now,
        );
        if (verdict.penalize && lease && lease.state === 'active') {
          this.#nodes.recordWork(nodeId, { accepted: false, tokens: 0, computeMs: 0 });
          this.#leases.requeueShard(lease.id, 'rejected', verdict.reason, now);
        }
      }
      return { verdict, shardId: body.shardId, jobId: body.jobId, jobComplete, redelivered: false, superseded };
    })();
  }

  /** The accepted result envelope of a shard. */
  acceptedResult(resultId: string): Envelope<'result'> | null {
    const row = this.#sql.accepted.get(resultId) as
      | { envelope: string }
      | undefined;
    return row ? (JSON.parse(row.envelope) as Envelope<'result'>) : null;
  }
}

function prepareStatements(
  db: Db,
): Record<'seen' | 'insertResult' | 'completeShard' | 'completeLease' | 'rivals' | 'supersedeLeases' | 'unfinished' | 'accepted', Statement> {
  return {
    seen: db.prepare('SELECT verdict, reason FROM results WHERE id = ?'),
    insertResult: db.prepare(
      `INSERT INTO results (id, shard_id, job_id, node_id, lease_id, verdict, reason, result_hash, envelope, received_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    completeShard: db.prepare(
      `UPDATE shards SET state = 'completed', lease_id = ?, node_id = ?, lease_until = NULL,
       result_id = ?, result_hash = ?, completed_at = ? WHERE id = ?`,
    ),
    completeLease: db.prepare(`UPDATE leases SET state = 'completed' WHERE id = ?`),
    rivals: db.prepare(`SELECT id, node_id FROM leases WHERE shard_id = ? AND state = 'active' ORDER BY issued_at`),
    supersedeLeases: db.prepare(`UPDATE leases SET state = 'superseded' WHERE shard_id = ? AND state = 'active'`),
    unfinished: db.prepare(`SELECT EXISTS (SELECT 1 FROM shards WHERE job_id = ? AND state IN ('queued', 'leased', 'failed')) AS unfinished`),
    accepted: db.prepare(`SELECT envelope FROM results WHERE id = ? AND verdict = 'accepted'`),
  };
}
