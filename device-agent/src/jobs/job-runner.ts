import type { AssignmentBody, HandbackBody, ProgressBody } from '@meshchain/protocol';
import type { Logger } from 'pino';
import type { Db } from '../store/db.ts';
import type { ModelCache } from '../models/model-cache.ts';
import type { Outbox } from '../outbox/outbox.ts';
import { isAbortError, type LlamaRuntime } from '../runtimes/llama/index.ts';
import { createShardRunners, runShard, type ShardRunners } from '../runtimes/workloads.ts';

export interface JobRunnerOptions {
  db: Db;
  runtime: LlamaRuntime;
  models: ModelCache;
  outbox: Outbox;
  logger: Logger;
  threads: number;
  /** A finished result is in the outbox: publish it. */
  onResult: () => void;
  /** Fault injection for tests: runs right after a result is stored, before it is published. */
  afterResultStored?: () => void;
  /** The current shard started, progressed or ended (read `current`). */
  onCurrentChange?: () => void;
  /** A shard could not or will not be run here: give it back. */
  onHandback: (body: HandbackBody) => void;
  /** While a shard runs, called every `progressIntervalMs`: tell the control plane, which extends the lease. */
  onProgress?: (body: ProgressBody) => void;
  /** Default 5 s. */
  progressIntervalMs?: number;
}

/** Why the running shard's AbortController fired: a shutdown hands it back, a cancel drops it. */
class ShardCancelled {
  constructor(readonly reason: string) {}
}

export interface CurrentShard {
  shardId: string;
  jobId: string;
  inputs: number;
  done: number;
  startedAt: number;
  /** Generated tokens per second of inference so far; null before the first output. */
  tokensPerSecond: number | null;
}

type AssignmentState = 'pending' | 'running' | 'done' | 'handed_back' | 'failed';

/**
 * Runs assignments one at a time, in arrival order. An assignment is stored
 * before its MQTT delivery is acknowledged; its result is stored in the
 * outbox in the same transaction that marks it done.
 */
export class JobRunner {
  readonly #o: JobRunnerOptions;
  /** One runner per workload (`runtimes/<name>/`). */
  readonly #runners: ShardRunners;
  #running: Promise<void> | null = null;
  #abort: AbortController | null = null;
  #current: CurrentShard | null = null;
  #currentLease: { leaseId: string; jobId: string } | null = null;
  #accepting = true;
  /** Draining for an update: no shard starts, new assignments are handed back. */
  #draining = false;

  constructor(options: JobRunnerOptions) {
    this.#o = options;
    this.#runners = createShardRunners(options);
  }

  get current(): CurrentShard | null {
    return this.#current ? { ...this.#current } : null;
  }

  /** Shards interrupted by a crash run again (their leases may still be valid). */
  recover(): number {
    return this.#o.db.prepare(`UPDATE assignments SET state = 'pending' WHERE state = 'running'`).run().changes;
  }

  /** Stores a verified assignment. Returns false for one already known (a redelivery). */
  accept(body: AssignmentBody, now = Date.now()): boolean {
    if (!this.#accepting || this.#draining) {
      this.#o.onHandback({ shardId: body.shardId, leaseId: body.leaseId, reason: 'shutdown' });
      return false;
    }
    const info = this.#o.db
      .prepare(
        `INSERT INTO assignments (lease_id, shard_id, job_id, body, state, received_at) VALUES (?, ?, ?, ?, 'pending', ?)
         ON CONFLICT (lease_id) DO NOTHING`,
      )
      .run(body.leaseId, body.shardId, body.jobId, JSON.stringify(body), now);
    return info.changes > 0;
  }

  /** Starts working through pending assignments if idle. */
  kick(): void {
    if (this.#running || !this.#accepting || this.#draining) return;
    this.#running = this.#drain().finally(() => {
      this.#running = null;
    });
  }

  /**
   * The control plane cancelled a job (or, with `leaseIds`, some of its
   * leases): queued assignments of it are skipped and the running one is
   * aborted. Neither is handed back: the control plane has already revoked
   * the leases. Returns how many assignments were dropped.
   */
  cancel(jobId: string, leaseIds: readonly string[] | undefined, reason: string): number {
    const matches = (lease: string, job: string): boolean => job === jobId && (!leaseIds || leaseIds.includes(lease));
    const pending = this.#o.db.prepare(`SELECT lease_id, job_id FROM assignments WHERE state = 'pending' AND job_id = ?`).all(jobId) as { lease_id: string; job_id: string }[];
    let dropped = 0;
    for (const row of pending) {
      if (!matches(row.lease_id, row.job_id)) continue;
      this.#setState(row.lease_id, 'failed', `cancelled: ${reason}`);
      dropped++;
    }
    const running = this.#currentLease;
    if (running && matches(running.leaseId, running.jobId)) {
      this.#abort?.abort(new ShardCancelled(reason));
      dropped++;
    }
    return dropped;
  }

  /**
   * Stops taking work. The running shard may finish within `graceMs`; after
   * that it is aborted and handed back, like every shard not yet started.
   */
  async stop(graceMs: number): Promise<void> {
    this.#accepting = false;
    const running = this.#running;
    if (running) {
      const timer = setTimeout(() => this.#abort?.abort(), graceMs);
      await running;
      clearTimeout(timer);
    }
    const pending = this.#o.db.prepare(`SELECT body FROM assignments WHERE state = 'pending'`).all() as { body: string }[];
    for (const row of pending) {
      const body = JSON.parse(row.body) as AssignmentBody;
      this.#setState(body.leaseId, 'handed_back', 'shutdown');
      this.#o.onHandback({ shardId: body.shardId, leaseId: body.leaseId, reason: 'shutdown' });
    }
  }

  /**
   * Before an update: starts no new shard and hands back new assignments, and
   * resolves once the running shard (if any) has finished. Never interrupts
   * it; an operator who cannot wait updates with `force`, which skips this.
   * Rejects with the signal's reason if it aborts first (work stays paused
   * until `resume`).
   */
  async drain(signal?: AbortSignal): Promise<void> {
    this.#draining = true;
    const running = this.#running;
    if (!running) return;
    if (!signal) return running;
    signal.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      void running.then(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  /** Takes work again after `drain` (the update was refused or failed before the switch). */
  resume(): void {
    this.#draining = false;
    this.kick();
  }

  get draining(): boolean {
    return this.#draining;
  }

  async #drain(): Promise<void> {
    for (;;) {
      if (!this.#accepting || this.#draining) return;
      const row = this.#o.db
        .prepare(`SELECT body FROM assignments WHERE state = 'pending' ORDER BY received_at, lease_id LIMIT 1`)
        .get() as { body: string } | undefined;
      if (!row) return;
      await this.#run(JSON.parse(row.body) as AssignmentBody);
    }
  }

  async #run(assignment: AssignmentBody): Promise<void> {
    const { logger } = this.#o;
    const log = logger.child({ shardId: assignment.shardId, leaseId: assignment.leaseId });
    if (assignment.leaseUntil <= Date.now()) {
      log.warn('lease expired before the shard started; handing it back');
      this.#setState(assignment.leaseId, 'handed_back', 'lease expired');
      this.#o.onHandback({ shardId: assignment.shardId, leaseId: assignment.leaseId, reason: 'expired' });
      return;
    }
    this.#setState(assignment.leaseId, 'running');
    const abort = new AbortController();
    this.#abort = abort;
    this.#currentLease = { leaseId: assignment.leaseId, jobId: assignment.jobId };
    const started = Date.now();
    this.#current = { shardId: assignment.shardId, jobId: assignment.jobId, inputs: assignment.inputs.length, done: 0, startedAt: started, tokensPerSecond: null };
    this.#o.onCurrentChange?.();
    let tokensSoFar = 0;
    const onProgress = this.#o.onProgress;
    const progressTimer = onProgress
      ? setInterval(() => {
          const done = this.#current?.shardId === assignment.shardId ? this.#current.done : 0;
          onProgress({ jobId: assignment.jobId, shardId: assignment.shardId, leaseId: assignment.leaseId, done, tokens: tokensSoFar });
        }, this.#o.progressIntervalMs ?? 5_000)
      : null;
    progressTimer?.unref();
    try {
      const { result, tokens: generated, computeMs } = await runShard(this.#runners, assignment, {
        signal: abort.signal,
        onOutput: (progress) => {
          tokensSoFar = progress.tokens;
          if (this.#current) {
            this.#current.done++;
            this.#current.tokensPerSecond = progress.computeMs > 0 && progress.tokens > 0 ? Math.round((progress.tokens / progress.computeMs) * 1000) : null;
          }
          this.#o.onCurrentChange?.();
        },
      });
      this.#o.db.transaction(() => {
        this.#o.outbox.addResult(result);
        this.#setState(assignment.leaseId, 'done');
        this.#o.db
          .prepare(
            `INSERT INTO work_log (lease_id, shard_id, job_id, status, tokens, compute_ms, finished_at) VALUES (?, ?, ?, 'computed', ?, ?, ?)
             ON CONFLICT (lease_id) DO NOTHING`,
          )
          .run(assignment.leaseId, assignment.shardId, assignment.jobId, generated, computeMs, Date.now());
      })();
      log.info({ tokens: generated, ms: computeMs, wallMs: Date.now() - started, tokensPerSecond: Math.round((generated / Math.max(computeMs, 1)) * 1000) }, 'shard computed');
      this.#o.afterResultStored?.();
      this.#o.onResult();
    } catch (error) {
      if (abort.signal.reason instanceof ShardCancelled) {
        log.warn({ reason: abort.signal.reason.reason }, 'shard cancelled by the control plane; dropped');
        this.#setState(assignment.leaseId, 'failed', `cancelled: ${abort.signal.reason.reason}`);
      } else if (isAbortError(error) || abort.signal.aborted) {
        log.warn('shard aborted by shutdown; handing it back');
        this.#setState(assignment.leaseId, 'handed_back', 'shutdown');
        this.#o.onHandback({ shardId: assignment.shardId, leaseId: assignment.leaseId, reason: 'shutdown' });
      } else {
        const detail = error instanceof Error ? error.message.split('\n')[0]?.slice(0, 500) : String(error);
        log.error({ err: error }, 'shard failed; handing it back');
        this.#setState(assignment.leaseId, 'failed', detail);
        this.#o.onHandback({ shardId: assignment.shardId, leaseId: assignment.leaseId, reason: 'error', ...(detail ? { detail } : {}) });
      }
    } finally {
      if (progressTimer) clearInterval(progressTimer);
      this.#abort = null;
      this.#currentLease = null;
      this.#current = null;
      this.#o.onCurrentChange?.();
    }
  }

  #setState(leaseId: string, state: AssignmentState, error?: string): void {
    this.#o.db
      .prepare(`UPDATE assignments SET state = ?, error = ?, finished_at = CASE WHEN ? IN ('pending', 'running') THEN NULL ELSE ? END WHERE lease_id = ?`)
      .run(state, error ?? null, state, Date.now(), leaseId);
  }
}
