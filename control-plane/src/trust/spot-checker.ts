import type { Logger } from 'pino';
import type { GenerationSettings, PromptInput, ResultBody } from '@meshchain/protocol';
import type { AcceptedShard } from '../intake/result-intake.ts';
import type { ModelStore } from '../models/model-store.ts';
import type { Db } from '../store/db.ts';
import { detectionProbability, isQuarantined, recordOutcome, samplingRate, type SamplingPolicy } from './sampling.ts';
import type { TrustStore, NodeTrust } from './trust-store.ts';
import { Validator } from './validator.ts';

export interface TrustConfig {
  enabled: boolean;
  /** Largest accepted logit gap between the model's choice and a claimed token. */
  tolerance: number;
  threads: number;
  /** Checks waiting beyond this are skipped (the result stays unchecked, and says so). */
  maxQueue: number;
  sampling: SamplingPolicy;
}

export interface SpotCheckerOptions {
  db: Db;
  store: TrustStore;
  models: ModelStore;
  logger: Logger;
  config: TrustConfig;
  random?: () => number;
  /** A node's unpaid work is forfeited (its failed shard's job, or everything open when quarantined). */
  onForfeit?: (nodeId: string, jobId: string | undefined, reason: string) => void;
  /** A check finished: the job may be complete now, or a shard went back to the queue. */
  onVerdict: (jobId: string) => void;
}

/** The falsified fractions a job report gives detection probabilities for. */
export const REPORTED_FRACTIONS = [0.01, 0.1, 0.5] as const;

export interface JobTrustReport {
  results: number;
  checked: number;
  failed: number;
  pending: number;
  nodes: {
    nodeId: string;
    results: number;
    checked: number;
    failed: number;
    /** P(caught at least once) had the node falsified a fraction f of its results in this job. */
    detection: Record<string, number>;
  }[];
}

/**
 * Spot-check recomputation: decides, inside the transaction that accepts a
 * result, whether to check it (every result of a new node; fewer as it earns
 * trust), re-checks sampled results by teacher-forced prefill in the
 * validator's own process, and applies the verdict: a failed check puts the
 * shard back in the queue without that node, rejects the result, forfeits the
 * node's reward for it, and repeated failures quarantine the node.
 */
export class SpotChecker {
  readonly #o: SpotCheckerOptions;
  readonly #validator: Validator;
  readonly #random: () => number;
  readonly #inFlight = new Set<string>();
  #stopped = false;

  constructor(options: SpotCheckerOptions) {
    this.#o = options;
    this.#random = options.random ?? Math.random;
    this.#validator = new Validator({
      logger: options.logger,
      tolerance: options.config.tolerance,
      threads: options.config.threads,
      maxQueue: options.config.maxQueue,
    });
  }

  /** Re-runs checks left pending by a restart. */
  start(): void {
    this.#stopped = false;
    this.kick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#validator.stop();
  }

  /** The intake hook: runs inside the transaction that accepts a result. */
  onAccepted(shard: AcceptedShard, now: number): void {
    const trust = this.#o.store.trustOf(shard.nodeId);
    const rate = this.#o.config.enabled ? samplingRate(trust, this.#o.config.sampling) : 0;
    const sampled = rate > 0 && this.#random() < rate;
    this.#o.store.addCheck(
      { resultId: shard.resultId, jobId: shard.jobId, shardId: shard.result.shardId, nodeId: shard.nodeId, rate, status: sampled ? 'pending' : 'unchecked' },
      now,
    );
    if (!sampled) this.#o.store.saveTrack(shard.nodeId, recordOutcome(trust, 'unchecked'));
  }

  hasPending(jobId: string): boolean {
    return this.#o.store.hasPending(jobId);
  }

  isQuarantined(nodeId: string): boolean {
    return this.#o.store.trustOf(nodeId).quarantined;
  }

  quarantined(): Set<string> {
    return this.#o.store.quarantinedNodes();
  }

  trustOf(nodeId: string): NodeTrust & { detection10: number } {
    return { ...this.#o.store.trustOf(nodeId), detection10: detectionProbability(this.#o.store.ratesOf(nodeId), 0.1) };
  }

  release(nodeId: string): boolean {
    const released = this.#o.store.release(nodeId);
    if (released) this.#o.logger.info({ nodeId }, 'node released from quarantine');
    return released;
  }

  /** 'verified' when a spot check passed, 'accepted' otherwise (admitted but not recomputed). */
  verdictOf(resultId: string): 'verified' | 'accepted' {
    return this.#o.store.checkOf(resultId)?.status === 'passed' ? 'verified' : 'accepted';
  }

  jobReport(jobId: string): JobTrustReport {
    const checks = this.#o.store.checksOf(jobId);
    const byNode = new Map<string, typeof checks>();
    for (const check of checks) byNode.set(check.nodeId, [...(byNode.get(check.nodeId) ?? []), check]);
    const isChecked = (status: string): boolean => status === 'passed' || status === 'failed';
    return {
      results: checks.length,
      checked: checks.filter((c) => isChecked(c.status)).length,
      failed: checks.filter((c) => c.status === 'failed').length,
      pending: checks.filter((c) => c.status === 'pending').length,
      nodes: [...byNode].map(([nodeId, list]) => ({
        nodeId,
        results: list.length,
        checked: list.filter((c) => isChecked(c.status)).length,
        failed: list.filter((c) => c.status === 'failed').length,
        detection: Object.fromEntries(REPORTED_FRACTIONS.map((f) => [String(f), detectionProbability(list.map((c) => c.rate), f)])),
      })),
    };
  }

  /** Starts checks for every pending record not already running. */
  kick(): void {
    if (this.#stopped) return;
    for (const check of this.#o.store.pendingChecks()) {
      if (this.#inFlight.has(check.resultId)) continue;
      const work = this.#prepare(check.resultId);
      if (!work) continue;
      const running = this.#validator.check(work.shard);
      if (!running) break; // queue full: the rest wait for the next kick
      this.#inFlight.add(check.resultId);
      running
        .then(
          (verdict) => this.#apply(check.resultId, work, verdict.ok ? { status: 'passed', ...verdict } : { status: 'failed', ...verdict }),
          (error: unknown) =>
            this.#apply(check.resultId, work, { status: 'error', reason: error instanceof Error ? error.message : String(error), checkedTokens: 0, maxGap: 0, ms: 0 }),
        )
        .catch((error: unknown) => this.#o.logger.error({ err: error, resultId: check.resultId }, 'applying a check failed'))
        .finally(() => {
          this.#inFlight.delete(check.resultId);
          this.kick();
        });
    }
  }

  #prepare(resultId: string): { jobId: string; shardId: string; nodeId: string; shard: Parameters<Validator['check']>[0] } | null {
    const row = this.#o.db
      .prepare(
        `SELECT r.envelope, j.settings, j.model_sha256, s.inputs FROM results r JOIN jobs j ON j.id = r.job_id JOIN shards s ON s.id = r.shard_id WHERE r.id = ?`,
      )
      .get(resultId) as { envelope: string; settings: string; model_sha256: string; inputs: string } | undefined;
    const model = row ? this.#o.models.find(row.model_sha256) : null;
    if (!row || !model) {
      this.#o.logger.error({ resultId }, 'cannot check a result whose job, shard or model is gone');
      return null;
    }
    const body = (JSON.parse(row.envelope) as { body: ResultBody }).body;
    return {
      jobId: body.jobId,
      shardId: body.shardId,
      nodeId: (JSON.parse(row.envelope) as { from: string }).from,
      shard: {
        model: { path: model.path, sha256: model.sha256 },
        settings: JSON.parse(row.settings) as GenerationSettings,
        inputs: JSON.parse(row.inputs) as PromptInput[],
        outputs: body.outputs,
      },
    };
  }

  #apply(
    resultId: string,
    work: { jobId: string; shardId: string; nodeId: string },
    outcome: { status: 'passed' | 'failed' | 'error'; reason?: string; checkedTokens: number; maxGap: number; ms: number },
  ): void {
    const { db, store, logger } = this.#o;
    const now = Date.now();
    const { nodeId, jobId, shardId } = work;
    const forfeits: [string, string | undefined, string][] = [];
    db.transaction(() => {
      if (!store.finishCheck(resultId, outcome, now)) return;
      const trust = store.trustOf(nodeId);
      if (outcome.status === 'error') {
        // The validator could not run: not the node's fault, so it counts as unchecked.
        logger.error({ resultId, nodeId, reason: outcome.reason }, 'spot check could not run; result stays accepted unchecked');
        store.saveTrack(nodeId, recordOutcome(trust, 'unchecked'));
        return;
      }
      if (outcome.status === 'passed') {
        store.saveTrack(nodeId, recordOutcome(trust, 'pass'));
        logger.info({ resultId, nodeId, shardId, tokens: outcome.checkedTokens, maxGap: Number(outcome.maxGap.toFixed(4)), ms: Math.round(outcome.ms) }, 'spot check passed');
        return;
      }
      const reason = `spot check failed: ${outcome.reason ?? 'mismatch'}`;
      const track = recordOutcome(trust, 'fail');
      store.saveTrack(nodeId, track);
      db.prepare(`UPDATE results SET verdict = 'rejected', reason = ? WHERE id = ?`).run(reason.slice(0, 512), resultId);
      const shard = db.prepare('SELECT state, result_id, excluded_nodes, attempts FROM shards WHERE id = ?').get(shardId) as
        | { state: string; result_id: string | null; excluded_nodes: string; attempts: number }
        | undefined;
      if (shard?.state === 'completed' && shard.result_id === resultId) {
        const excluded = [...new Set([...(JSON.parse(shard.excluded_nodes) as string[]), nodeId])];
        db.prepare(
          `UPDATE shards SET state = 'queued', lease_id = NULL, node_id = NULL, lease_until = NULL, result_id = NULL, result_hash = NULL,
           completed_at = NULL, attempts = ?, next_attempt_at = ?, excluded_nodes = ?, last_error = ? WHERE id = ?`,
        ).run(shard.attempts + 1, now, JSON.stringify(excluded), reason.slice(0, 512), shardId);
      }
      db.prepare(`UPDATE nodes SET shards_completed = max(0, shards_completed - 1), shards_rejected = shards_rejected + 1 WHERE id = ?`).run(nodeId);
      db.prepare(`INSERT INTO events (ts, kind, job_id, shard_id, node_id, detail) VALUES (?, 'check_failed', ?, ?, ?, ?)`).run(now, jobId, shardId, nodeId, reason.slice(0, 512));
      forfeits.push([nodeId, jobId, reason]);
      logger.warn({ resultId, nodeId, shardId, reason }, 'spot check failed: shard requeued');
      if (isQuarantined(track, this.#o.config.sampling) && !trust.quarantined) {
        store.quarantine(nodeId, reason, now);
        db.prepare(`INSERT INTO events (ts, kind, job_id, node_id, detail) VALUES (?, 'node_quarantined', ?, ?, ?)`).run(now, jobId, nodeId, `after ${track.failures} failed checks`);
        forfeits.push([nodeId, undefined, `quarantined after ${track.failures} failed checks`]);
        logger.error({ nodeId, failures: track.failures }, 'node quarantined: no new work until an operator releases it');
      }
      for (const [node, job, why] of forfeits) this.#o.onForfeit?.(node, job, why);
    })();
    this.#o.onVerdict(jobId);
  }
}
