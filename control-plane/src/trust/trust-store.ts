import type { Db } from '../store/db.ts';
import { withStatementCache } from '../store/statement-cache.ts';
import { NEW_NODE, type NodeTrack } from './sampling.ts';

export type CheckStatus = 'unchecked' | 'pending' | 'passed' | 'failed' | 'error';

export interface CheckRecord {
  resultId: string;
  jobId: string;
  shardId: string;
  nodeId: string;
  rate: number;
  status: CheckStatus;
  reason: string | null;
  checkedTokens: number | null;
  maxGap: number | null;
  ms: number | null;
  /** The validator node the check was handed to; null: the control plane's own validator. */
  validatorId: string | null;
  taskId: string | null;
  taskUntil: number | null;
  /** The validator node's verdict, once it answered. */
  claim: 'pass' | 'fail' | null;
  claimReason: string | null;
  /** Whether the control plane re-checked that verdict, and how it compared. */
  audit: 'pending' | 'agreed' | 'disagreed' | 'error' | null;
  auditRate: number | null;
}

export interface NodeTrust extends NodeTrack {
  quarantined: boolean;
  quarantinedAt: number | null;
  reason: string | null;
}

interface TrustRow {
  streak: number;
  passes: number;
  failures: number;
  unchecked: number;
  quarantined: number;
  quarantined_at: number | null;
  reason: string | null;
}

interface CheckRow {
  result_id: string;
  job_id: string;
  shard_id: string;
  node_id: string;
  rate: number;
  status: CheckStatus;
  reason: string | null;
  checked_tokens: number | null;
  max_gap: number | null;
  ms: number | null;
  validator_id: string | null;
  task_id: string | null;
  task_until: number | null;
  claim: 'pass' | 'fail' | null;
  claim_reason: string | null;
  audit: 'pending' | 'agreed' | 'disagreed' | 'error' | null;
  audit_rate: number | null;
}

const checkFromRow = (r: CheckRow): CheckRecord => ({
  resultId: r.result_id,
  jobId: r.job_id,
  shardId: r.shard_id,
  nodeId: r.node_id,
  rate: r.rate,
  status: r.status,
  reason: r.reason,
  checkedTokens: r.checked_tokens,
  maxGap: r.max_gap,
  ms: r.ms,
  validatorId: r.validator_id,
  taskId: r.task_id,
  taskUntil: r.task_until,
  claim: r.claim,
  claimReason: r.claim_reason,
  audit: r.audit,
  auditRate: r.audit_rate,
});

/** Node reputation tracks and spot-check records in SQLite. */
export class TrustStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = withStatementCache(db);
  }

  trustOf(nodeId: string): NodeTrust {
    const row = this.#db.prepare('SELECT * FROM node_trust WHERE node_id = ?').get(nodeId) as TrustRow | undefined;
    if (!row) return { ...NEW_NODE, quarantined: false, quarantinedAt: null, reason: null };
    return {
      streak: row.streak,
      passes: row.passes,
      failures: row.failures,
      unchecked: row.unchecked,
      quarantined: row.quarantined === 1,
      quarantinedAt: row.quarantined_at,
      reason: row.reason,
    };
  }

  quarantinedNodes(): Set<string> {
    const rows = this.#db.prepare('SELECT node_id FROM node_trust WHERE quarantined = 1').all() as { node_id: string }[];
    return new Set(rows.map((r) => r.node_id));
  }

  saveTrack(nodeId: string, track: NodeTrack): void {
    this.#db
      .prepare(
        `INSERT INTO node_trust (node_id, streak, passes, failures, unchecked) VALUES (@nodeId, @streak, @passes, @failures, @unchecked)
         ON CONFLICT (node_id) DO UPDATE SET streak = @streak, passes = @passes, failures = @failures, unchecked = @unchecked`,
      )
      .run({ nodeId, ...track });
  }

  quarantine(nodeId: string, reason: string, now: number): void {
    this.#db
      .prepare(`UPDATE node_trust SET quarantined = 1, quarantined_at = ?, reason = ? WHERE node_id = ?`)
      .run(now, reason.slice(0, 512), nodeId);
  }

  /** An operator lets a quarantined node work again; it starts over on probation (every result checked). */
  release(nodeId: string): boolean {
    return (
      this.#db
        .prepare(`UPDATE node_trust SET quarantined = 0, quarantined_at = NULL, reason = NULL, streak = 0, failures = 0 WHERE node_id = ? AND quarantined = 1`)
        .run(nodeId).changes > 0
    );
  }

  addCheck(check: Pick<CheckRecord, 'resultId' | 'jobId' | 'shardId' | 'nodeId' | 'rate' | 'status'>, now: number): void {
    this.#db
      .prepare(
        `INSERT INTO checks (result_id, job_id, shard_id, node_id, rate, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (result_id) DO NOTHING`,
      )
      .run(check.resultId, check.jobId, check.shardId, check.nodeId, check.rate, check.status, now);
  }

  finishCheck(resultId: string, outcome: { status: 'passed' | 'failed' | 'error'; reason?: string; checkedTokens: number; maxGap: number; ms: number }, now: number): boolean {
    return (
      this.#db
        .prepare(
          `UPDATE checks SET status = ?, reason = ?, checked_tokens = ?, max_gap = ?, ms = ?, finished_at = ?
           WHERE result_id = ? AND status = 'pending'`,
        )
        .run(outcome.status, outcome.reason?.slice(0, 512) ?? null, outcome.checkedTokens, outcome.maxGap, outcome.ms, now, resultId).changes > 0
    );
  }

  pendingChecks(limit = 100): CheckRecord[] {
    return (this.#db.prepare(`SELECT * FROM checks WHERE status = 'pending' ORDER BY created_at LIMIT ?`).all(limit) as CheckRow[]).map(checkFromRow);
  }

  hasPending(jobId: string): boolean {
    return this.#db.prepare(`SELECT 1 FROM checks WHERE job_id = ? AND status = 'pending' LIMIT 1`).get(jobId) !== undefined;
  }

  checksOf(jobId: string): CheckRecord[] {
    return (this.#db.prepare('SELECT * FROM checks WHERE job_id = ? ORDER BY created_at').all(jobId) as CheckRow[]).map(checkFromRow);
  }

  /** Sampling rates applied to a node's results (all jobs), for its detection probability. */
  ratesOf(nodeId: string): number[] {
    return (this.#db.prepare('SELECT rate FROM checks WHERE node_id = ?').all(nodeId) as { rate: number }[]).map((r) => r.rate);
  }

  /** Hands a pending, unclaimed check to a validator node. */
  delegate(resultId: string, validatorId: string, taskId: string, until: number): boolean {
    return (
      this.#db
        .prepare(`UPDATE checks SET validator_id = ?, task_id = ?, task_until = ? WHERE result_id = ? AND status = 'pending' AND claim IS NULL`)
        .run(validatorId, taskId, until, resultId).changes > 0
    );
  }

  /** Takes a check back from a validator node that did not answer (the control plane checks it itself). */
  withdraw(resultId: string, taskId: string): boolean {
    return (
      this.#db
        .prepare(`UPDATE checks SET validator_id = NULL, task_id = NULL, task_until = NULL WHERE result_id = ? AND task_id = ? AND status = 'pending' AND claim IS NULL`)
        .run(resultId, taskId).changes > 0
    );
  }

  /** The check a verification task belongs to. */
  checkOfTask(taskId: string): CheckRecord | null {
    const row = this.#db.prepare('SELECT * FROM checks WHERE task_id = ?').get(taskId) as CheckRow | undefined;
    return row ? checkFromRow(row) : null;
  }

  recordClaim(resultId: string, claim: { verdict: 'pass' | 'fail'; reason: string | null; audit: 'pending' | null; auditRate: number }): boolean {
    return (
      this.#db
        .prepare(`UPDATE checks SET claim = ?, claim_reason = ?, audit = ?, audit_rate = ? WHERE result_id = ? AND status = 'pending' AND claim IS NULL`)
        .run(claim.verdict, claim.reason?.slice(0, 512) ?? null, claim.audit, claim.auditRate, resultId).changes > 0
    );
  }

  finishAudit(resultId: string, audit: 'agreed' | 'disagreed' | 'error'): void {
    this.#db.prepare(`UPDATE checks SET audit = ? WHERE result_id = ? AND audit = 'pending'`).run(audit, resultId);
  }

  /** Verification tasks handed out and not answered, per validator node. */
  openTasks(): Map<string, number> {
    const rows = this.#db
      .prepare(`SELECT validator_id, COUNT(*) AS n FROM checks WHERE status = 'pending' AND task_id IS NOT NULL AND claim IS NULL GROUP BY validator_id`)
      .all() as { validator_id: string; n: number }[];
    return new Map(rows.map((r) => [r.validator_id, r.n]));
  }

  /** Audit rates applied to a validator node's verdicts, for its detection probability. */
  auditRatesOf(validatorId: string): number[] {
    return (this.#db.prepare('SELECT audit_rate FROM checks WHERE validator_id = ? AND claim IS NOT NULL').all(validatorId) as { audit_rate: number }[]).map((r) => r.audit_rate);
  }

  /**
   * Owner of every bound node (lowercase address). A node without a binding
   * is its own owner: callers use its id.
   */
  owners(): Map<string, string> {
    const rows = this.#db.prepare('SELECT node_id, owner FROM node_bindings').all() as { node_id: string; owner: string }[];
    return new Map(rows.map((r) => [r.node_id, r.owner.toLowerCase()]));
  }

  checkOf(resultId: string): CheckRecord | null {
    const row = this.#db.prepare('SELECT * FROM checks WHERE result_id = ?').get(resultId) as CheckRow | undefined;
    return row ? checkFromRow(row) : null;
  }
}
