import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { EmbedSettings, Envelope, GenerationSettings, HandbackBody, PromptInput, ResultBody, TextInput, VerifyAssignmentBody, VerifyTarget } from '@meshchain/protocol';
import type { AcceptedShard } from '../intake/result-intake.ts';
import type { ModelStore } from '../models/model-store.ts';
import type { NodeStore } from '../nodes/node-store.ts';
import type { Db } from '../store/db.ts';
import { detectionProbability, isQuarantined, recordOutcome, samplingRate, type SamplingPolicy } from './sampling.ts';
import type { TrustStore, NodeTrust, CheckRecord } from './trust-store.ts';
import { Validator, type ShardCheck } from './validator.ts';
import { decideAudit, eligibleValidators, excludeOwners, ownerKey, pickValidator, type ValidatorCandidate } from './validator-nodes.ts';

export interface TrustConfig {
  enabled: boolean;
  /** Largest accepted logit gap between the model's choice and a claimed token. */
  tolerance: number;
  /** Smallest accepted cosine similarity of a claimed embedding with the recomputed one. */
  minCosine: number;
  /** Hand sampled checks to validator nodes of other owners when one is online and free. */
  validatorNodes: boolean;
  /** A validator node that has not answered by then loses the task; the control plane checks the result itself. */
  verifyTimeoutMs: number;
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
  /** Online nodes (validator nodes among them); absent: only the control plane's own validator checks. */
  nodes?: NodeStore;
  /** Sends a signed verification task to a validator node. */
  publish?: (nodeId: string, body: VerifyAssignmentBody) => Promise<void>;
  /** Where nodes fetch a model (`<api>/v1/models/<sha256>`). */
  modelUrl?: (sha256: string) => string;
}

/** The falsified fractions a job report gives detection probabilities for. */
export const REPORTED_FRACTIONS = [0.01, 0.1, 0.5] as const;

export interface JobTrustReport {
  results: number;
  checked: number;
  failed: number;
  pending: number;
  /** Checks done by validator nodes, and how many of their verdicts the control plane re-checked. */
  byValidatorNodes: number;
  audited: number;
  nodes: {
    nodeId: string;
    results: number;
    checked: number;
    failed: number;
    /** P(caught at least once) had the node falsified a fraction f of its results in this job. */
    detection: Record<string, number>;
  }[];
}

/** The answer to a validator node's verdict, for its ack. */
export type VerdictReceipt = { status: 'accepted' } | { status: 'duplicate' | 'rejected'; reason: string };

interface Work {
  jobId: string;
  shardId: string;
  nodeId: string;
  shardIndex: number;
  inputHash: string;
  check: ShardCheck;
  target: VerifyTarget;
}

interface ValidatorPool {
  candidates: ValidatorCandidate[];
  owners: Map<string, string>;
}

type Outcome = { status: 'passed' | 'failed' | 'error'; reason?: string; checkedTokens: number; maxGap: number; ms: number };

/**
 * Spot-check recomputation: decides, inside the transaction that accepts a
 * result, whether to check it (every result of a new node; fewer as it earns
 * trust), re-checks sampled results (teacher-forced prefill for inference,
 * recomputation and cosine similarity for embeddings), and applies the
 * verdict: a failed check puts the shard back in the queue without any node
 * of that owner, rejects the result, forfeits the node's reward for it, and
 * repeated failures quarantine the node.
 *
 * A check goes to an online validator node of another owner when there is
 * one (a signed `verify` task); otherwise, or when it does not answer in
 * time, the control plane's own validator runs it. The control plane
 * re-checks every verdict that convicts, and a sample of the others at the
 * validator node's own sampling rate: a validator node that disagrees with
 * it fails that check, as a worker would.
 */
export class SpotChecker {
  readonly #o: SpotCheckerOptions;
  readonly #validator: Validator;
  readonly #random: () => number;
  readonly #inFlight = new Set<string>();
  /** Checks taken back from a validator node: the control plane runs them. */
  readonly #local = new Set<string>();
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;
  /** A result was sampled for a check since the last kick. */
  #sampled = false;

  constructor(options: SpotCheckerOptions) {
    this.#o = options;
    this.#random = options.random ?? Math.random;
    this.#validator = new Validator({
      logger: options.logger,
      tolerance: options.config.tolerance,
      minCosine: options.config.minCosine,
      threads: options.config.threads,
      maxQueue: options.config.maxQueue,
    });
  }

  /** Re-runs checks left pending by a restart, and watches validator-node deadlines. */
  start(): void {
    this.#stopped = false;
    const every = Math.max(250, Math.min(5_000, Math.floor(this.#o.config.verifyTimeoutMs / 4)));
    this.#timer = setInterval(() => this.kick(), every);
    this.#timer.unref();
    this.kick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#validator.stop();
  }

  /** The intake hook: runs inside the transaction that accepts a result. */
  onAccepted(shard: AcceptedShard, now: number): void {
    const trust = this.#o.store.trustOf(shard.nodeId);
    if (shard.recomputed) {
      // Its workload recomputed every output at admission: a check that has already passed.
      this.#o.store.addCheck({ resultId: shard.resultId, jobId: shard.jobId, shardId: shard.result.shardId, nodeId: shard.nodeId, rate: 1, status: 'passed' }, now);
      this.#o.store.saveTrack(shard.nodeId, recordOutcome(trust, 'pass'));
      return;
    }
    const rate = this.#o.config.enabled ? samplingRate(trust, this.#o.config.sampling) : 0;
    const sampled = rate > 0 && this.#random() < rate;
    this.#o.store.addCheck(
      { resultId: shard.resultId, jobId: shard.jobId, shardId: shard.result.shardId, nodeId: shard.nodeId, rate, status: sampled ? 'pending' : 'unchecked' },
      now,
    );
    if (sampled) this.#sampled = true;
    else this.#o.store.saveTrack(shard.nodeId, recordOutcome(trust, 'unchecked'));
  }

  /**
   * After results were taken in: starts their checks when one of them was
   * sampled. Checks waiting for anything else (a free validator node, a
   * deadline) are picked up by the periodic kick and when a check finishes.
   */
  wake(): void {
    if (this.#sampled) this.kick();
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

  trustOf(nodeId: string): NodeTrust & { detection10: number; validatorDetection10: number } {
    return {
      ...this.#o.store.trustOf(nodeId),
      detection10: detectionProbability(this.#o.store.ratesOf(nodeId), 0.1),
      validatorDetection10: detectionProbability(this.#o.store.auditRatesOf(nodeId), 0.1),
    };
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

  /** Shards to place, with each exclusion widened to every node of the excluded node's owner. */
  withOwnerExclusions<T extends { excludedNodes: readonly string[] }>(shards: readonly T[]): T[] {
    if (!shards.some((s) => s.excludedNodes.length > 0)) return [...shards];
    return excludeOwners(shards, this.#o.store.owners());
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
      byValidatorNodes: checks.filter((c) => c.claim !== null).length,
      audited: checks.filter((c) => c.audit === 'agreed' || c.audit === 'disagreed').length,
      nodes: [...byNode].map(([nodeId, list]) => ({
        nodeId,
        results: list.length,
        checked: list.filter((c) => isChecked(c.status)).length,
        failed: list.filter((c) => c.status === 'failed').length,
        detection: Object.fromEntries(REPORTED_FRACTIONS.map((f) => [String(f), detectionProbability(list.map((c) => c.rate), f)])),
      })),
    };
  }

  /** Starts work for every pending check: hands it to a validator node, audits a verdict, or checks it here. */
  kick(): void {
    if (this.#stopped) return;
    this.#sampled = false;
    const now = Date.now();
    let localFull = false;
    let pool: ValidatorPool | undefined;
    const poolOf = (): ValidatorPool => (pool ??= this.#validatorPool());
    for (const check of this.#o.store.pendingChecks()) {
      if (this.#inFlight.has(check.resultId)) continue;
      if (check.claim === null && check.taskId !== null) {
        if ((check.taskUntil ?? 0) > now) continue; // a validator node has it
        this.#withdraw(check, 'no verdict before the deadline');
      }
      const work = this.#prepare(check.resultId);
      if (!work) continue;
      // Handed to a validator node, or waiting for one of them to be free: the control plane's own validator is the fallback.
      if (check.claim === null && this.#delegate(check, work, now, poolOf) !== 'local') continue;
      if (localFull) continue;
      const running = this.#validator.check(work.check);
      if (!running) {
        localFull = true; // queue full: the rest wait for the next kick
        continue;
      }
      this.#inFlight.add(check.resultId);
      running
        .then(
          (verdict) => (verdict.ok ? ({ status: 'passed', ...verdict } as const) : ({ status: 'failed', ...verdict } as const)),
          (error: unknown): Outcome => ({ status: 'error', reason: error instanceof Error ? error.message : String(error), checkedTokens: 0, maxGap: 0, ms: 0 }),
        )
        .then((outcome) => (check.claim === null ? this.#apply(check.resultId, work, outcome, null) : this.#finishAudit(check, work, outcome)))
        .catch((error: unknown) => this.#o.logger.error({ err: error, resultId: check.resultId }, 'applying a check failed'))
        .finally(() => {
          this.#inFlight.delete(check.resultId);
          this.kick();
        });
    }
  }

  /**
   * A validator node's signed verdict on a task it holds. Accepted verdicts
   * either decide the check or, when audited, wait for the control plane's own.
   */
  receiveVerdict(nodeId: string, envelope: Envelope<'result'>): VerdictReceipt {
    const body = envelope.body;
    if (body.workload !== 'verify') return { status: 'rejected', reason: 'not a verification verdict' };
    const { db, store, logger } = this.#o;
    let audit = false;
    const receipt = db.transaction((): VerdictReceipt => {
      const check = store.checkOfTask(body.leaseId);
      if (!check || check.resultId !== body.resultId) return { status: 'rejected', reason: `unknown verification task ${body.leaseId}` };
      if (check.validatorId !== nodeId) return { status: 'rejected', reason: 'the verification task belongs to another node' };
      if (check.claim !== null) return { status: 'duplicate', reason: 'verdict already received' };
      if (check.status !== 'pending') return { status: 'rejected', reason: 'the check is already decided' };
      const decision = decideAudit(body.verdict, samplingRate(store.trustOf(nodeId), this.#o.config.sampling), this.#random());
      store.recordClaim(check.resultId, { verdict: body.verdict, reason: body.reason ?? null, audit: decision.audit ? 'pending' : null, auditRate: decision.rate });
      audit = decision.audit;
      return { status: 'accepted' };
    })();
    if (receipt.status !== 'accepted') {
      logger.warn({ nodeId, taskId: body.leaseId, reason: receipt.reason }, 'validator verdict not taken');
      return receipt;
    }
    logger.info({ validatorId: nodeId, resultId: body.resultId, verdict: body.verdict, audit }, 'validator node verdict');
    if (audit) {
      this.kick(); // the control plane re-checks before anything is decided
      return receipt;
    }
    const work = this.#prepare(body.resultId);
    if (work) {
      db.transaction(() => store.saveTrack(nodeId, recordOutcome(store.trustOf(nodeId), 'unchecked')))();
      // Only a passing verdict is ever taken unaudited.
      this.#apply(body.resultId, work, { status: 'passed', checkedTokens: body.checked, maxGap: 0, ms: body.stats.computeMs }, nodeId);
    }
    return receipt;
  }

  /** A validator node gave a task back: the control plane checks the result itself. True when it was a verification task. */
  receiveHandback(nodeId: string, body: HandbackBody): boolean {
    const check = this.#o.store.checkOfTask(body.leaseId);
    if (!check) return false;
    if (check.validatorId === nodeId && check.claim === null) {
      this.#withdraw(check, `handed back (${body.reason}${body.detail ? `: ${body.detail}` : ''})`);
      this.kick();
    }
    return true;
  }

  #withdraw(check: CheckRecord, why: string): void {
    if (check.taskId === null || !this.#o.store.withdraw(check.resultId, check.taskId)) return;
    this.#local.add(check.resultId);
    this.#o.logger.warn({ resultId: check.resultId, validatorId: check.validatorId, why }, 'verification task withdrawn; the control plane checks the result itself');
  }

  /** Online validator nodes that can take a task now, and every node's owner. */
  #validatorPool(): ValidatorPool {
    const { nodes } = this.#o;
    if (!nodes) return { candidates: [], owners: new Map() };
    const quarantined = this.#o.store.quarantinedNodes();
    const open = this.#o.store.openTasks();
    const candidates: ValidatorCandidate[] = nodes
      .list()
      .filter((n) => n.presence === 'online' && n.capabilities?.roles.includes('validator') && n.capabilities.runtimes.some((r) => r.workload === 'verify'))
      .map((n) => ({
        nodeId: n.id,
        openTasks: open.get(n.id) ?? 0,
        maxTasks: n.capabilities?.maxConcurrentShards ?? 1,
        quarantined: quarantined.has(n.id),
        cachedModels: new Set(n.capabilities?.models ?? []),
      }));
    return { candidates, owners: candidates.length > 0 ? this.#o.store.owners() : new Map() };
  }

  /**
   * Hands a check to a validator node of another owner: 'sent' when one was
   * free, 'wait' when every eligible one is busy (the check waits for the
   * next kick), 'local' when none may take it (the control plane checks it).
   */
  #delegate(check: CheckRecord, work: Work, now: number, poolOf: () => ValidatorPool): 'sent' | 'wait' | 'local' {
    const { publish } = this.#o;
    if (!this.#o.config.validatorNodes || !publish || !this.#o.modelUrl || this.#local.has(check.resultId)) return 'local';
    const { candidates, owners } = poolOf();
    if (candidates.length === 0) return 'local';
    const validatorId = pickValidator(candidates, work.nodeId, work.target.model.sha256, owners);
    if (!validatorId) return eligibleValidators(candidates, work.nodeId, owners).length > 0 ? 'wait' : 'local';
    const taskId = `v-${randomUUID()}`;
    const until = now + this.#o.config.verifyTimeoutMs;
    if (!this.#o.store.delegate(check.resultId, validatorId, taskId, until)) return 'local';
    const picked = candidates.find((c) => c.nodeId === validatorId);
    if (picked) picked.openTasks++;
    const body: VerifyAssignmentBody = {
      jobId: work.jobId,
      shardId: work.shardId,
      shardIndex: work.shardIndex,
      leaseId: taskId,
      leaseUntil: until,
      inputHash: work.inputHash,
      workload: 'verify',
      resultId: check.resultId,
      workerId: work.nodeId,
      inputs: work.check.inputs,
      target: work.target,
      tolerance: this.#o.config.tolerance,
      minCosine: this.#o.config.minCosine,
    };
    this.#o.logger.info(
      { resultId: check.resultId, workerId: work.nodeId, validatorId, workerOwner: ownerKey(work.nodeId, owners), validatorOwner: ownerKey(validatorId, owners) },
      'check handed to a validator node',
    );
    publish(validatorId, body).catch((error: unknown) => {
      this.#o.logger.warn({ err: error, validatorId, resultId: check.resultId }, 'verification task not sent; the control plane checks it itself');
      this.#withdraw({ ...check, taskId, validatorId }, 'publish failed');
      this.kick();
    });
    return 'sent';
  }

  #prepare(resultId: string): Work | null {
    const row = this.#o.db
      .prepare(
        `SELECT r.envelope, j.settings, j.model_sha256, s.inputs, s.idx, s.input_hash FROM results r JOIN jobs j ON j.id = r.job_id JOIN shards s ON s.id = r.shard_id WHERE r.id = ?`,
      )
      .get(resultId) as { envelope: string; settings: string; model_sha256: string | null; inputs: string; idx: number; input_hash: string } | undefined;
    const model = row?.model_sha256 ? this.#o.models.find(row.model_sha256) : null;
    if (!row || !model) {
      this.#o.logger.error({ resultId }, 'cannot check a result whose job, shard or model is gone');
      return null;
    }
    const envelope = JSON.parse(row.envelope) as { from: string; body: ResultBody };
    const body = envelope.body;
    const modelRef = { sha256: model.sha256, size: model.size, url: this.#o.modelUrl?.(model.sha256) ?? `http://127.0.0.1/v1/models/${model.sha256}` };
    const local = { path: model.path, sha256: model.sha256 };
    const common = { jobId: body.jobId, shardId: body.shardId, nodeId: envelope.from, shardIndex: row.idx, inputHash: row.input_hash };
    if (body.workload === undefined || body.workload === 'infer') {
      const settings = JSON.parse(row.settings) as GenerationSettings;
      const inputs = JSON.parse(row.inputs) as PromptInput[];
      return {
        ...common,
        check: { workload: 'infer', model: local, settings, inputs, outputs: body.outputs },
        target: { workload: 'infer', model: modelRef, settings, outputs: body.outputs },
      };
    }
    if (body.workload === 'embed') {
      const settings = JSON.parse(row.settings) as EmbedSettings;
      const inputs = JSON.parse(row.inputs) as TextInput[];
      return {
        ...common,
        check: { workload: 'embed', model: local, settings, inputs, outputs: body.outputs },
        target: { workload: 'embed', model: modelRef, settings, outputs: body.outputs },
      };
    }
    this.#o.logger.error({ resultId, workload: body.workload }, 'no spot check exists for this workload');
    return null;
  }

  /** The control plane's own check of a validator node's verdict is in: it decides the worker's check and judges the validator. */
  #finishAudit(check: CheckRecord, work: Work, outcome: Outcome): void {
    const { db, store, logger } = this.#o;
    const validatorId = check.validatorId;
    if (!validatorId || check.claim === null) return;
    if (outcome.status === 'error') {
      db.transaction(() => store.finishAudit(check.resultId, 'error'))();
      // Nobody is convicted on a check that could not run; a passing verdict stands.
      const fallback: Outcome = check.claim === 'pass' ? { ...outcome, status: 'passed', reason: undefined } : outcome;
      this.#apply(check.resultId, work, fallback, validatorId);
      return;
    }
    const agreed = (outcome.status === 'passed') === (check.claim === 'pass');
    const forfeits: string[] = [];
    db.transaction(() => {
      store.finishAudit(check.resultId, agreed ? 'agreed' : 'disagreed');
      const trust = store.trustOf(validatorId);
      const track = recordOutcome(trust, agreed ? 'pass' : 'fail');
      store.saveTrack(validatorId, track);
      if (agreed) return;
      const reason = `validator verdict "${check.claim}" on result ${check.resultId} contradicted by recomputation${outcome.reason ? ` (${outcome.reason})` : ''}`;
      db.prepare(`INSERT INTO events (ts, kind, job_id, shard_id, node_id, detail) VALUES (?, 'validator_failed', ?, ?, ?, ?)`).run(Date.now(), work.jobId, work.shardId, validatorId, reason.slice(0, 512));
      logger.warn({ validatorId, resultId: check.resultId, claim: check.claim, recomputed: outcome.status }, 'validator node verdict contradicted');
      if (isQuarantined(track, this.#o.config.sampling) && !trust.quarantined) {
        store.quarantine(validatorId, reason, Date.now());
        db.prepare(`INSERT INTO events (ts, kind, job_id, node_id, detail) VALUES (?, 'node_quarantined', ?, ?, ?)`).run(Date.now(), work.jobId, validatorId, `after ${track.failures} failed checks`);
        forfeits.push(`quarantined after ${track.failures} failed checks`);
        logger.error({ nodeId: validatorId, failures: track.failures }, 'node quarantined: no new work until an operator releases it');
      }
    })();
    for (const why of forfeits) this.#o.onForfeit?.(validatorId, undefined, why);
    // The control plane's own recomputation decides the worker's check.
    this.#apply(check.resultId, work, outcome, agreed ? validatorId : null);
  }

  #apply(resultId: string, work: { jobId: string; shardId: string; nodeId: string }, outcome: Outcome, checkedBy: string | null): void {
    const { db, store, logger } = this.#o;
    const now = Date.now();
    const { nodeId, jobId, shardId } = work;
    const forfeits: [string, string | undefined, string][] = [];
    db.transaction(() => {
      if (!store.finishCheck(resultId, outcome, now)) return;
      this.#local.delete(resultId);
      const trust = store.trustOf(nodeId);
      if (outcome.status === 'error') {
        // The validator could not run: not the node's fault, so it counts as unchecked.
        logger.error({ resultId, nodeId, reason: outcome.reason }, 'spot check could not run; result stays accepted unchecked');
        store.saveTrack(nodeId, recordOutcome(trust, 'unchecked'));
        return;
      }
      if (outcome.status === 'passed') {
        store.saveTrack(nodeId, recordOutcome(trust, 'pass'));
        logger.info(
          { resultId, nodeId, shardId, checkedBy: checkedBy ?? 'control-plane', tokens: outcome.checkedTokens, maxGap: Number(outcome.maxGap.toFixed(4)), ms: Math.round(outcome.ms) },
          'spot check passed',
        );
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
        // Placement widens the exclusion to every node of this node's owner (withOwnerExclusions).
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
