import { newId } from '@meshchain/protocol';
import type { Db } from '../store/db.ts';
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
}

interface LeaseRow {
  id: string;
  shard_id: string;
  node_id: string;
  issued_at: number;
  until: number;
  state: LeaseState;
}

const leaseFromRow = (row: LeaseRow): Lease => ({
  id: row.id,
  shardId: row.shard_id,
  nodeId: row.node_id,
  issuedAt: row.issued_at,
  until: row.until,
  state: row.state,
});

export interface ReclaimReport {
  expired: { leaseId: string; shardId: string; nodeId: string }[];
  failedJobs: { jobId: string; reason: string }[];
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
    this.#db = db;
    this.#retry = retry;
    this.#random = random;
  }

  /** Shards ready to run, oldest job first, in input order. */
  queuedShards(now: number, limit = 500): Shard[] {
    const rows = this.#db
      .prepare(
        `SELECT s.* FROM shards s JOIN jobs j ON j.id = s.job_id
         WHERE s.state = 'queued' AND s.next_attempt_at <= ? AND j.state = 'running'
         ORDER BY j.created_at, j.id, s.idx LIMIT ?`,
      )
      .all(now, limit) as ShardRow[];
    return rows.map(shardFromRow);
  }

  /** Active leases per node, for placement. */
  activeLeaseCounts(): Map<string, number> {
    const rows = this.#db
      .prepare(`SELECT node_id, COUNT(*) AS n FROM leases WHERE state = 'active' GROUP BY node_id`)
      .all() as { node_id: string; n: number }[];
    return new Map(rows.map((r) => [r.node_id, r.n]));
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
      const lease: Lease = { id: newId('lease'), shardId, nodeId, issuedAt: now, until: now + leaseMs, state: 'active' };
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
      if (attempts >= this.#retry.maxAttempts) {
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
      const report: ReclaimReport = { expired: [], failedJobs: [] };
      const rows = this.#db
        .prepare(`SELECT * FROM leases WHERE state = 'active' AND until <= ?`)
        .all(now) as LeaseRow[];
      for (const lease of rows.map(leaseFromRow)) {
        this.#db.prepare(`UPDATE leases SET state = 'expired' WHERE id = ?`).run(lease.id);
        report.expired.push({ leaseId: lease.id, shardId: lease.shardId, nodeId: lease.nodeId });
        const row = this.#db.prepare('SELECT * FROM shards WHERE id = ?').get(lease.shardId) as ShardRow;
        const shard = shardFromRow(row);
        if (shard.state !== 'leased' || shard.leaseId !== lease.id) continue;
        const attempts = shard.attempts + 1;
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
