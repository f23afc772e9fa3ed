import { newId } from '@meshchain/protocol';
import { ConflictError, NotFoundError } from '../errors.ts';
import type { Db } from '../store/db.ts';
import { withStatementCache } from '../store/statement-cache.ts';
import { shardFromRow, type Shard, type ShardRow } from '../jobs/types.ts';
import { retryDelay, type RetryPolicy } from './retry.ts';

export type LeaseState = 'active' | 'completed' | 'expired' | 'handed_back' | 'rejected' | 'superseded';

export interface Lease {
  id: string;
  shardId: string;
  nodeId: string;
  issuedAt: number;
  until: number;
  state: LeaseState;
  /** A second copy of a straggling shard; the shard's own lease is the other one. */
  speculative: boolean;
  progressAt: number | null;
}

interface LeaseRow {
  id: string;
  shard_id: string;
  node_id: string;
  issued_at: number;
  until: number;
  state: LeaseState;
  speculative: number;
  progress_at: number | null;
}

const leaseFromRow = (row: LeaseRow): Lease => ({
  id: row.id,
  shardId: row.shard_id,
  nodeId: row.node_id,
  issuedAt: row.issued_at,
  until: row.until,
  state: row.state,
  speculative: row.speculative === 1,
  progressAt: row.progress_at,
});

/** How progress extends a lease. */
export interface LeaseExtension {
  /** Each progress report moves the deadline to at least now + extendMs. */
  extendMs: number;
  /** …but never past issuedAt + maxAgeMs (or the original deadline, if later). */
  maxAgeMs: number;
}

export type ExtendOutcome = { extended: true; until: number } | { extended: false; reason: string };

export interface CancelReport {
  /** Leases that were live and are now revoked: their nodes should stop. */
  revoked: { leaseId: string; shardId: string; nodeId: string }[];
  droppedShards: number;
}

export interface ReclaimReport {
  expired: { leaseId: string; shardId: string; nodeId: string }[];
  failedJobs: { jobId: string; reason: string }[];
  /** Shards whose own lease ended while a speculative copy was live: the copy carries on. */
  promoted: { shardId: string; leaseId: string; nodeId: string }[];
}

/**
 * Shard leases, BullMQ-style: every transition is one transaction named by
 * its verb, and a shard carries its `attempts` and `next_attempt_at`.
 */
export class LeaseStore {
  readonly #db: Db;
  readonly #retry: RetryPolicy;
  readonly #random: () => number;

  constructor(db: Db, retry: RetryPolicy, random: () => number = Math.random) {
    this.#db = withStatementCache(db);
    this.#retry = retry;
    this.#random = random;
  }

  /**
   * Shards ready to run: at most `perJob` of each running job, `limit` in
   * all, taken round-robin (every job's first shard, then every job's
   * second, …; older jobs first within a round), so a large job cannot hide
   * a small one from fair share. Within a job, in input order. Reads only
   * what it returns: each job's first `perJob` ready shards, from an index.
   */
  queuedShards(now: number, perJob = 500, limit = 1000): Shard[] {
    const jobs = this.#db.prepare(`SELECT id FROM jobs WHERE state = 'running' ORDER BY created_at, id`).all() as { id: string }[];
    const take = this.#db.prepare(
      `SELECT * FROM shards WHERE job_id = ? AND state = 'queued' AND next_attempt_at <= ? ORDER BY idx LIMIT ?`,
    );
    const perJobRows = jobs.map((job) => take.all(job.id, now, Math.min(perJob, limit)) as ShardRow[]);
    const shards: Shard[] = [];
    for (let rank = 0; shards.length < limit; rank++) {
      let any = false;
      for (const rows of perJobRows) {
        const row = rows[rank];
        if (!row) continue;
        any = true;
        shards.push(shardFromRow(row));
        if (shards.length === limit) break;
      }
      if (!any) break;
    }
    return shards;
  }

  /** Whether any shard of a running job is ready to run. */
  hasQueuedShards(now: number): boolean {
    const row = this.#db
      .prepare(
        `SELECT EXISTS (SELECT 1 FROM shards s JOIN jobs j ON j.id = s.job_id
         WHERE s.state = 'queued' AND s.next_attempt_at <= ? AND j.state = 'running') AS queued`,
      )
      .get(now) as { queued: number };
    return row.queued === 1;
  }

  /** Runs several transitions in one transaction, one commit: e.g. every lease of a scheduling pass. */
  batch<T>(work: () => T): T {
    return this.#db.transaction(work)();
  }

  /** Active leases per node, for placement. */
  activeLeaseCounts(): Map<string, number> {
    const rows = this.#db
      .prepare(`SELECT node_id, COUNT(*) AS n FROM leases WHERE state = 'active' GROUP BY node_id`)
      .all() as { node_id: string; n: number }[];
    return new Map(rows.map((r) => [r.node_id, r.n]));
  }

  /** Live leases per running job (speculative copies included), for fair share. */
  activeLeasesByJob(): Map<string, number> {
    const rows = this.#db
      .prepare(
        `SELECT s.job_id, COUNT(*) AS n FROM leases l JOIN shards s ON s.id = l.shard_id
         WHERE l.state = 'active' GROUP BY s.job_id`,
      )
      .all() as { job_id: string; n: number }[];
    return new Map(rows.map((r) => [r.job_id, r.n]));
  }

  /** Owner binding and failed spot checks per known node, for placement. */
  nodeStanding(): Map<string, { owner: string | null; failedChecks: number }> {
    const rows = this.#db
      .prepare(
        `SELECT n.id, b.owner, COALESCE(t.failures, 0) AS failures FROM nodes n
         LEFT JOIN node_bindings b ON b.node_id = n.id LEFT JOIN node_trust t ON t.node_id = n.id`,
      )
      .all() as { id: string; owner: string | null; failures: number }[];
    return new Map(rows.map((r) => [r.id, { owner: r.owner, failedChecks: r.failures }]));
  }

  /**
   * Straggler candidates: leased shards without a speculative copy, of
   * running jobs that have no queued shard left, with their lease start.
   */
  leasedShardsOfDrainedJobs(): { shard: Shard; leasedAt: number }[] {
    const rows = this.#db
      .prepare(
        `SELECT s.*, l.issued_at AS leased_at FROM shards s JOIN jobs j ON j.id = s.job_id JOIN leases l ON l.id = s.lease_id
         WHERE j.state = 'running' AND s.state = 'leased' AND l.state = 'active'
         AND NOT EXISTS (SELECT 1 FROM shards q WHERE q.job_id = s.job_id AND q.state = 'queued')
         AND NOT EXISTS (SELECT 1 FROM leases x WHERE x.shard_id = s.id AND x.state = 'active' AND x.id != s.lease_id)
         ORDER BY l.issued_at LIMIT 1000`,
      )
      .all() as (ShardRow & { leased_at: number })[];
    return rows.map((row) => ({ shard: shardFromRow(row), leasedAt: row.leased_at }));
  }

  /** Lease-to-result times (ms) of a job's completed shards, for its straggler threshold. */
  completedShardTimes(jobId: string): number[] {
    const rows = this.#db
      .prepare(
        `SELECT s.completed_at - l.issued_at AS ms FROM shards s JOIN leases l ON l.id = s.lease_id
         WHERE s.job_id = ? AND s.state = 'completed'`,
      )
      .all(jobId) as { ms: number }[];
    return rows.map((r) => r.ms);
  }

  /** Live leases of a shard: its own and, while it straggles, a speculative copy. */
  activeLeasesOf(shardId: string): Lease[] {
    const rows = this.#db.prepare(`SELECT * FROM leases WHERE shard_id = ? AND state = 'active' ORDER BY issued_at`).all(shardId) as LeaseRow[];
    return rows.map(leaseFromRow);
  }

  getLease(id: string): Lease | null {
    const row = this.#db.prepare('SELECT * FROM leases WHERE id = ?').get(id) as LeaseRow | undefined;
    return row ? leaseFromRow(row) : null;
  }

  /** Leases a queued shard to a node. Returns null when the shard is no longer available. */
  leaseShard(shardId: string, nodeId: string, leaseMs: number, now = Date.now()): Lease | null {
    return this.#db.transaction((): Lease | null => {
      const row = this.#db.prepare(`SELECT * FROM shards WHERE id = ? AND state = 'queued'`).get(shardId) as ShardRow | undefined;
      if (!row) return null;
      const shard = shardFromRow(row);
      if (shard.excludedNodes.includes(nodeId) || shard.nextAttemptAt > now) return null;
      const lease: Lease = { id: newId('lease'), shardId, nodeId, issuedAt: now, until: now + leaseMs, state: 'active', speculative: false, progressAt: null };
      this.#db
        .prepare(`INSERT INTO leases (id, shard_id, node_id, issued_at, until, state) VALUES (?, ?, ?, ?, ?, 'active')`)
        .run(lease.id, shardId, nodeId, now, lease.until);
      this.#db
        .prepare(`UPDATE shards SET state = 'leased', lease_id = ?, node_id = ?, lease_until = ? WHERE id = ?`)
        .run(lease.id, nodeId, lease.until, shardId);
      return lease;
    })();
  }

  /**
   * Leases a second copy of a straggling shard to another node. The shard
   * keeps its own lease; whichever result is accepted first completes it and
   * supersedes the other. Null when the shard is not leased any more, already
   * has a copy, or the node holds or is excluded from it.
   */
  leaseSpeculativeCopy(shardId: string, nodeId: string, leaseMs: number, now = Date.now()): Lease | null {
    return this.#db.transaction((): Lease | null => {
      const row = this.#db.prepare(`SELECT * FROM shards WHERE id = ? AND state = 'leased'`).get(shardId) as ShardRow | undefined;
      if (!row) return null;
      const shard = shardFromRow(row);
      if (shard.excludedNodes.includes(nodeId)) return null;
      const live = this.activeLeasesOf(shardId);
      if (live.length !== 1 || live.some((l) => l.nodeId === nodeId)) return null;
      const lease: Lease = { id: newId('lease'), shardId, nodeId, issuedAt: now, until: now + leaseMs, state: 'active', speculative: true, progressAt: null };
      this.#db
        .prepare(`INSERT INTO leases (id, shard_id, node_id, issued_at, until, state, speculative) VALUES (?, ?, ?, ?, ?, 'active', 1)`)
        .run(lease.id, shardId, nodeId, now, lease.until);
      this.#db
        .prepare(`INSERT INTO events (ts, kind, job_id, shard_id, node_id, detail) VALUES (?, 'shard_speculated', ?, ?, ?, ?)`)
        .run(now, shard.jobId, shardId, nodeId, `copy of lease ${live[0]?.id} on ${live[0]?.nodeId}`);
      return lease;
    })();
  }

  /**
   * Progress from a node: moves the lease's deadline to now + extendMs,
   * bounded by the maximum lease age. Only the node holding a live lease of
   * a shard still being worked on can extend it.
   */
  extendLease(leaseId: string, nodeId: string, extension: LeaseExtension, now = Date.now()): ExtendOutcome {
    return this.#db.transaction((): ExtendOutcome => {
      const lease = this.getLease(leaseId);
      if (!lease) return { extended: false, reason: `unknown lease ${leaseId}` };
      if (lease.nodeId !== nodeId) return { extended: false, reason: `lease ${leaseId} is held by another node` };
      if (lease.state !== 'active') return { extended: false, reason: `lease ${leaseId} is ${lease.state}` };
      if (lease.until <= now) return { extended: false, reason: `lease ${leaseId} has already expired` };
      const cap = Math.max(lease.issuedAt + extension.maxAgeMs, lease.until);
      const until = Math.min(Math.max(lease.until, now + extension.extendMs), cap);
      this.#db.prepare(`UPDATE leases SET until = ?, progress_at = ? WHERE id = ?`).run(until, now, leaseId);
      this.#db.prepare(`UPDATE shards SET lease_until = ? WHERE id = ? AND lease_id = ? AND state = 'leased'`).run(until, lease.shardId, leaseId);
      if (until === lease.until && until === cap) return { extended: false, reason: `lease ${leaseId} reached its maximum age` };
      return { extended: true, until };
    })();
  }

  /**
   * Cancels a running job in one transaction: the job becomes `cancelled`,
   * queued shards are dropped (state `failed`, reason "cancelled"), and live
   * leases are revoked (`superseded`). Results that arrive later are answered
   * and not counted. Throws when the job is unknown or no longer running.
   */
  cancelJob(jobId: string, reason: string, now = Date.now()): CancelReport {
    return this.#db.transaction((): CancelReport => {
      const job = this.#db.prepare('SELECT state FROM jobs WHERE id = ?').get(jobId) as { state: string } | undefined;
      if (!job) throw new NotFoundError(`job ${jobId}`, { details: 'list jobs with `meshchain jobs`' });
      if (job.state !== 'running') throw new ConflictError(`job ${jobId} is already ${job.state}; only a running job can be cancelled`);
      const revoked = this.#db
        .prepare(
          `SELECT l.id AS leaseId, l.shard_id AS shardId, l.node_id AS nodeId FROM leases l JOIN shards s ON s.id = l.shard_id
           WHERE s.job_id = ? AND l.state = 'active' ORDER BY l.issued_at`,
        )
        .all(jobId) as CancelReport['revoked'];
      this.#db
        .prepare(`UPDATE leases SET state = 'superseded' WHERE state = 'active' AND shard_id IN (SELECT id FROM shards WHERE job_id = ?)`)
        .run(jobId);
      const dropped = this.#db
        .prepare(
          `UPDATE shards SET state = 'failed', lease_id = NULL, node_id = NULL, lease_until = NULL, last_error = 'cancelled'
           WHERE job_id = ? AND state IN ('queued', 'leased')`,
        )
        .run(jobId).changes;
      this.#db.prepare(`UPDATE jobs SET state = 'cancelled', error = ?, completed_at = ? WHERE id = ?`).run(`cancelled: ${reason}`, now, jobId);
      this.#db
        .prepare(`INSERT INTO events (ts, kind, job_id, detail) VALUES (?, 'job_cancelled', ?, ?)`)
        .run(now, jobId, `${reason}; ${dropped} shards dropped, ${revoked.length} leases revoked`);
      return { revoked, droppedShards: dropped };
    })();
  }

  /**
   * Puts a leased shard back in the queue: the node handed it back, or its
   * result was rejected. A rejection, or a handback because the node failed
   * (`counts`), is an attempt and keeps that node off the shard; a handback
   * at shutdown is neither.
   */
  requeueShard(
    leaseId: string,
    outcome: 'handed_back' | 'rejected',
    reason: string,
    now = Date.now(),
    counts = outcome === 'rejected',
  ): Shard | null {
    return this.#db.transaction((): Shard | null => {
      const lease = this.getLease(leaseId);
      if (!lease || lease.state !== 'active') return null;
      this.#db.prepare('UPDATE leases SET state = ? WHERE id = ?').run(outcome, leaseId);
      const row = this.#db.prepare('SELECT * FROM shards WHERE id = ?').get(lease.shardId) as ShardRow;
      const shard = shardFromRow(row);
      if (shard.state !== 'leased' || shard.leaseId !== leaseId) return shard;
      const excluded = counts ? [...new Set([...shard.excludedNodes, lease.nodeId])] : shard.excludedNodes;
      const attempts = counts ? shard.attempts + 1 : shard.attempts;
      const copy = this.#promoteCopy(shard.id, attempts, excluded, reason, now);
      if (copy) {
        // The copy still runs: the shard stays leased, to the copy.
      } else if (attempts >= this.#retry.maxAttempts) {
        this.#failShard(shard, `${attempts} attempts failed; last: ${reason}`, now);
      } else {
        this.#db
          .prepare(
            `UPDATE shards SET state = 'queued', lease_id = NULL, node_id = NULL, lease_until = NULL,
             attempts = ?, next_attempt_at = ?, excluded_nodes = ?, last_error = ? WHERE id = ?`,
          )
          .run(attempts, now, JSON.stringify(excluded), reason, shard.id);
      }
      return shardFromRow(this.#db.prepare('SELECT * FROM shards WHERE id = ?').get(shard.id) as ShardRow);
    })();
  }

  /** The sweeper: expired leases go back to the queue after a backoff; too many attempts fail the job. */
  reclaimExpiredLeases(now = Date.now()): ReclaimReport {
    return this.#db.transaction((): ReclaimReport => {
      const report: ReclaimReport = { expired: [], failedJobs: [], promoted: [] };
      const rows = this.#db
        .prepare(`SELECT * FROM leases WHERE state = 'active' AND until <= ? ORDER BY until`)
        .all(now) as LeaseRow[];
      for (const lease of rows.map(leaseFromRow)) {
        this.#db.prepare(`UPDATE leases SET state = 'expired' WHERE id = ?`).run(lease.id);
        report.expired.push({ leaseId: lease.id, shardId: lease.shardId, nodeId: lease.nodeId });
        const row = this.#db.prepare('SELECT * FROM shards WHERE id = ?').get(lease.shardId) as ShardRow;
        const shard = shardFromRow(row);
        if (shard.state !== 'leased' || shard.leaseId !== lease.id) continue;
        const attempts = shard.attempts + 1;
        const copy = this.#promoteCopy(shard.id, attempts, shard.excludedNodes, `lease expired on ${lease.nodeId}`, now);
        if (copy) {
          report.promoted.push({ shardId: shard.id, leaseId: copy.id, nodeId: copy.nodeId });
          continue;
        }
        if (attempts >= this.#retry.maxAttempts) {
          const reason = `shard ${shard.idx} failed ${attempts} times; last: lease expired on ${lease.nodeId}`;
          this.#failShard(shard, reason, now);
          report.failedJobs.push({ jobId: shard.jobId, reason });
          continue;
        }
        this.#db
          .prepare(
            `UPDATE shards SET state = 'queued', lease_id = NULL, node_id = NULL, lease_until = NULL,
             attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?`,
          )
          .run(attempts, now + retryDelay(this.#retry, attempts, this.#random), `lease expired on ${lease.nodeId}`, shard.id);
      }
      return report;
    })();
  }

  /**
   * The shard's own lease ended (expired, handed back, rejected): if a
   * speculative copy is still live (and its deadline not passed), it becomes
   * the shard's lease. Runs inside the caller's transaction.
   */
  #promoteCopy(shardId: string, attempts: number, excluded: string[], reason: string, now = Date.now()): Lease | null {
    const row = this.#db
      .prepare(`SELECT * FROM leases WHERE shard_id = ? AND state = 'active' AND until > ? ORDER BY issued_at LIMIT 1`)
      .get(shardId, now) as LeaseRow | undefined;
    if (!row) return null;
    const copy = leaseFromRow(row);
    this.#db
      .prepare(`UPDATE shards SET lease_id = ?, node_id = ?, lease_until = ?, attempts = ?, excluded_nodes = ?, last_error = ? WHERE id = ?`)
      .run(copy.id, copy.nodeId, copy.until, attempts, JSON.stringify(excluded), reason, shardId);
    return copy;
  }

  #failShard(shard: Shard, reason: string, now: number): void {
    this.#db
      .prepare(`UPDATE shards SET state = 'failed', lease_id = NULL, lease_until = NULL, last_error = ? WHERE id = ?`)
      .run(reason, shard.id);
    this.#db
      .prepare(`UPDATE jobs SET state = 'failed', error = ?, completed_at = ? WHERE id = ? AND state = 'running'`)
      .run(`shard ${shard.idx}: ${reason}`, now, shard.jobId);
    this.#db
      .prepare(`UPDATE leases SET state = 'superseded' WHERE state = 'active' AND shard_id IN (SELECT id FROM shards WHERE job_id = ?)`)
      .run(shard.jobId);
    this.#db
      .prepare(`INSERT INTO events (ts, kind, job_id, shard_id, detail) VALUES (?, 'job_failed', ?, ?, ?)`)
      .run(now, shard.jobId, shard.id, reason);
  }
}
