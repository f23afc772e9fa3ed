import type { AssignmentBody, HandbackBody, InferOutput, ResultBody } from '@meshchain/protocol';
import type { Logger } from 'pino';
import type { Db } from '../store/db.ts';
import type { ModelCache } from '../models/model-cache.ts';
import type { Outbox } from '../outbox/outbox.ts';
import { isAbortError, type LlamaRuntime } from '../runtimes/llama/index.ts';

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
  #running: Promise<void> | null = null;
  #abort: AbortController | null = null;
  #current: CurrentShard | null = null;
  #accepting = true;

  constructor(options: JobRunnerOptions) {
    this.#o = options;
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
    if (!this.#accepting) {
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
    if (this.#running || !this.#accepting) return;
    this.#running = this.#drain().finally(() => {
      this.#running = null;
    });
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

  async #drain(): Promise<void> {
    for (;;) {
      if (!this.#accepting) return;
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
    const started = Date.now();
    this.#current = { shardId: assignment.shardId, jobId: assignment.jobId, inputs: assignment.inputs.length, done: 0, startedAt: started, tokensPerSecond: null };
    this.#o.onCurrentChange?.();
    try {
      const path = await this.#o.models.ensure(assignment.model, abort.signal);
      const model = { path, sha256: assignment.model.sha256 };
      const outputs: InferOutput[] = [];
      let promptTokens = 0;
      let generated = 0;
      // Inference time only: model download and load are not the shard's compute.
      let computeMs = 0;
      for (const input of assignment.inputs) {
        const generation = await this.#o.runtime.generate(
          model,
          input.prompt,
          { ...assignment.settings, threads: this.#o.threads },
          abort.signal,
        );
        outputs.push({ index: input.index, tokens: generation.tokens, text: generation.text, finishReason: generation.finishReason });
        promptTokens += generation.promptTokens.length;
        generated += generation.tokens.length;
        computeMs += generation.timings.promptMs + generation.timings.generateMs;
        if (this.#current) {
          this.#current.done++;
          this.#current.tokensPerSecond = computeMs > 0 ? Math.round((generated / computeMs) * 1000) : null;
        }
        this.#o.onCurrentChange?.();
      }
      const result: ResultBody = {
        jobId: assignment.jobId,
        shardId: assignment.shardId,
        leaseId: assignment.leaseId,
        modelSha256: assignment.model.sha256,
        inputHash: assignment.inputHash,
        outputs,
        stats: { promptTokens, generatedTokens: generated, computeMs },
      };
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
      if (isAbortError(error) || abort.signal.aborted) {
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
      this.#abort = null;
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
