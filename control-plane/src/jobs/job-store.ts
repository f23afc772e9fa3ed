import { newId } from '@meshchain/protocol';
import { NotFoundError } from '../errors.ts';
import type { Db } from '../store/db.ts';
import { withStatementCache } from '../store/statement-cache.ts';
import { cutIntoShards } from './sharding.ts';
import { jobFromRow, shardFromRow, type Job, type JobProgress, type JobRow, type JobSpec, type Shard, type ShardInput, type ShardRow } from './types.ts';

export const DEFAULT_JOB_PRIORITY = 10;

export type CreateJobInput = JobSpec & {
  inputs: ShardInput[];
  shardSize: number;
  /** Fair-share weight, 1–100 (default 10). */
  priority?: number;
};

/** Jobs and their shards. Every write is one transaction. */
export class JobStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = withStatementCache(db);
  }

  createJob(input: CreateJobInput, now = Date.now()): Job {
    const id = newId('job');
    const shards = cutIntoShards(input.inputs, input.shardSize);
    const insertJob = this.#db.prepare(
      `INSERT INTO jobs (id, workload, model_sha256, settings, shard_size, input_count, shard_count, state, created_at, priority)
       VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)`,
    );
    const insertShard = this.#db.prepare(
      `INSERT INTO shards (id, job_id, idx, inputs, input_hash, state, next_attempt_at) VALUES (?, ?, ?, ?, ?, 'queued', ?)`,
    );
    this.#db.transaction(() => {
      insertJob.run(id, input.workload, input.modelSha256, JSON.stringify(input.settings), input.shardSize, input.inputs.length, shards.length, now, input.priority ?? DEFAULT_JOB_PRIORITY);
      for (const shard of shards) {
        insertShard.run(`${id}.${shard.idx}`, id, shard.idx, JSON.stringify(shard.inputs), shard.inputHash, now);
      }
      this.recordEvent({ kind: 'job_submitted', jobId: id, detail: `${input.inputs.length} inputs in ${shards.length} shards` }, now);
    })();
    return this.getJob(id);
  }

  getJob(id: string): Job {
    const row = this.#db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
    if (!row) throw new NotFoundError(`job ${id}`, { details: 'list jobs with `meshchain jobs`' });
    return jobFromRow(row);
  }

  listJobs(limit = 50): Job[] {
    const rows = this.#db.prepare('SELECT * FROM jobs ORDER BY created_at DESC, id LIMIT ?').all(limit) as JobRow[];
    return rows.map(jobFromRow);
  }

  /**
   * Running jobs whose shards are all completed and checked: aggregation is due (after a spot check, or a crash between the two).
   * "No shard queued, leased or failed" rather than "no shard not completed": the first walks the (job_id, state) index
   * only where unfinished shards are, the second walks every completed shard on every scheduling pass.
   */
  completableJobs(): string[] {
    const rows = this.#db
      .prepare(
        `SELECT j.id FROM jobs j WHERE j.state = 'running'
         AND NOT EXISTS (SELECT 1 FROM shards s WHERE s.job_id = j.id AND s.state IN ('queued', 'leased', 'failed'))
         AND NOT EXISTS (SELECT 1 FROM checks c WHERE c.job_id = j.id AND c.status = 'pending')`,
      )
      .all() as { id: string }[];
    return rows.map((r) => r.id);
  }

  getShard(id: string): Shard | null {
    const row = this.#db.prepare('SELECT * FROM shards WHERE id = ?').get(id) as ShardRow | undefined;
    return row ? shardFromRow(row) : null;
  }

  shardsOf(jobId: string): Shard[] {
    const rows = this.#db.prepare('SELECT * FROM shards WHERE job_id = ? ORDER BY idx').all(jobId) as ShardRow[];
    return rows.map(shardFromRow);
  }

  progress(job: Job): JobProgress {
    const rows = this.#db
      .prepare('SELECT state, COUNT(*) AS n, SUM(json_array_length(inputs)) AS inputs FROM shards WHERE job_id = ? GROUP BY state')
      .all(job.id) as { state: Shard['state']; n: number; inputs: number }[];
    const shards = { total: job.shardCount, queued: 0, leased: 0, completed: 0, failed: 0 };
    let completedInputs = 0;
    for (const row of rows) {
      shards[row.state] = row.n;
      if (row.state === 'completed') completedInputs = row.inputs;
    }
    return { shards, inputs: { total: job.inputCount, completed: completedInputs } };
  }

  recordEvent(event: { kind: string; jobId?: string; shardId?: string; nodeId?: string; detail?: string }, now = Date.now()): void {
    this.#db
      .prepare('INSERT INTO events (ts, kind, job_id, shard_id, node_id, detail) VALUES (?, ?, ?, ?, ?, ?)')
      .run(now, event.kind, event.jobId ?? null, event.shardId ?? null, event.nodeId ?? null, event.detail ?? null);
  }

  eventsOf(jobId: string): { ts: number; kind: string; shardId: string | null; nodeId: string | null; detail: string | null }[] {
    return this.#db
      .prepare('SELECT ts, kind, shard_id AS shardId, node_id AS nodeId, detail FROM events WHERE job_id = ? ORDER BY id')
      .all(jobId) as { ts: number; kind: string; shardId: string | null; nodeId: string | null; detail: string | null }[];
  }
}
