import type { BodyOf, DownKind, GenerationSettings, OpenedMessage } from '@meshchain/protocol';
import type { Logger } from 'pino';
import type { Aggregator } from './aggregate/aggregator.ts';
import type { GroupOutcome, IntakeItem, IntakeOutcome, ResultIntake } from './intake/result-intake.ts';
import type { JobStore } from './jobs/job-store.ts';
import type { Job } from './jobs/types.ts';
import type { ControlLink } from './link/control-link.ts';
import type { ModelStore } from './models/model-store.ts';
import type { NodeStore } from './nodes/node-store.ts';
import type { CancelReport, Lease, LeaseStore } from './scheduler/lease-store.ts';
import {
  DEFAULT_PLACEMENT_POLICY,
  planPlacements,
  planSpeculation,
  type JobDemand,
  type JobPace,
  type NodeSlot,
  type PlacementPolicy,
  type StragglerPolicy,
} from './scheduler/placement.ts';
import type { Shard } from './jobs/types.ts';
import type { SpotChecker } from './trust/spot-checker.ts';
import { workloadModule } from './workloads/index.ts';

export interface LeaseTiming {
  /** Fixed part of every lease. */
  baseMs: number;
  /** Added per token the shard may generate (inputs × maxTokens). */
  perTokenMs: number;
  /** Progress from the holder moves the deadline to at least now + extendMs… */
  extendMs?: number;
  /** …up to this long after the lease was issued. */
  maxAgeMs?: number;
  /** After start, the sweeper waits this long: progress could not arrive while the control plane was down. */
  restartGraceMs?: number;
}

export interface OrchestratorOptions {
  jobs: JobStore;
  leases: LeaseStore;
  nodes: NodeStore;
  intake: ResultIntake;
  aggregator: Aggregator;
  models: ModelStore;
  link: ControlLink;
  logger: Logger;
  leaseTiming: LeaseTiming;
  /** Base URL nodes fetch models from (`<url>/v1/models/<sha256>`). */
  modelBaseUrl: string;
  /** How often the sweeper reclaims expired leases and the queue is re-planned. */
  tickMs: number;
  /** Compute units the ledger credited for an accepted result (rewards on), told to the node in its ack. */
  creditedUnits?: (resultId: string) => number | null;
  /** Spot checks: sampled results are recomputed before their job completes; quarantined nodes get no work. */
  trust?: SpotChecker;
  /** Which nodes may take work: agent version, memory (default: any version, memory ≥ 1.25 × model). */
  placement?: PlacementPolicy;
  /** Speculative copies of straggling shards; null or absent: none. */
  stragglers?: StragglerPolicy | null;
  /** A verified binding of a node to an owner (the rewards component records it); absent: bindings are ignored. */
  onBinding?: (nodeId: string, envelope: Extract<OpenedMessage, { kind: 'binding' }>['envelope']) => void;
}

/** Scheduling passes are at least this far apart (ms); requests in between share the next pass. */
const MIN_PASS_INTERVAL_MS = 5;
/** A pass reads up to free slots + this many queued shards of each job. */
const QUEUE_MARGIN = 32;

export function leaseDuration(timing: LeaseTiming, inputs: number, settings: GenerationSettings): number {
  return timing.baseMs + inputs * settings.maxTokens * timing.perTokenMs;
}

/**
 * Reacts to the fleet's messages and drives jobs: records presence and
 * capabilities, takes results in and acknowledges them, aggregates finished
 * jobs, and leases queued shards to free nodes.
 */
export class Orchestrator {
  readonly #o: OrchestratorOptions;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | null = null;
  #schedulePending = false;
  #stopped = true;
  #lastPass = Number.NEGATIVE_INFINITY;
  #lastSpeculation = 0;
  #startedAt = 0;
  /** Results received in this turn of the event loop, for its group commit (commitResults). */
  #results: IntakeItem[] = [];

  constructor(options: OrchestratorOptions) {
    this.#o = options;
    this.#log = options.logger;
  }

  start(): void {
    this.#stopped = false;
    this.#startedAt = Date.now();
    this.#timer = setInterval(() => this.requestSchedule(), this.#o.tickMs);
    this.#timer.unref();
    this.requestSchedule();
  }

  stop(): void {
    // Results already received are recorded and acknowledged before the link goes down.
    this.#takeResults();
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /**
   * Called by the link for each verified message, before it is acknowledged
   * to the broker. Everything but a result takes effect here; a result waits
   * for the turn's group commit (commitResults).
   */
  handle(message: OpenedMessage): void {
    const nodeId = message.nodeId;
    if (!nodeId) return;
    const publicKey = message.envelope.pub;
    switch (message.kind) {
      case 'presence':
        if (this.#o.nodes.recordPresence(nodeId, publicKey, message.body)) {
          this.#log.info({ nodeId, state: message.body.state }, 'presence');
        }
        break;
      case 'capabilities':
        this.#o.nodes.recordCapabilities(nodeId, publicKey, message.body, message.envelope.ts);
        break;
      case 'result':
        this.#onResult(nodeId, message.envelope);
        return;
      case 'handback': {
        // A validator node giving back a verification task: the control plane checks that result itself.
        if (this.#o.trust?.receiveHandback(nodeId, message.body)) return;
        const lease = this.#o.leases.getLease(message.body.leaseId);
        if (lease && lease.nodeId === nodeId) {
          // A node that could not run the shard must not get it straight back.
          const failed = message.body.reason === 'error' || message.body.reason === 'unsupported';
          const detail = message.body.detail ? `: ${message.body.detail}` : '';
          this.#o.leases.requeueShard(lease.id, 'handed_back', `handed back (${message.body.reason})${detail}`, Date.now(), failed);
          this.#log.info({ nodeId, shardId: lease.shardId, reason: message.body.reason }, 'shard handed back');
        } else {
          this.#log.warn({ nodeId, leaseId: message.body.leaseId }, 'handback for a lease the node does not hold');
        }
        break;
      }
      case 'progress':
        this.#onProgress(nodeId, message.body);
        return;
      case 'binding':
        if (this.#o.onBinding) this.#o.onBinding(nodeId, message.envelope);
        else this.#log.debug({ nodeId }, 'binding ignored: rewards are disabled');
        return;
      case 'telemetry': {
        const wasHot = this.#o.nodes.get(nodeId)?.telemetry?.overheating ?? false;
        this.#o.nodes.recordTelemetry(nodeId, publicKey, message.body);
        if (message.body.overheating !== wasHot) {
          this.#log.warn({ nodeId, cpuC: message.body.cpuC, overheating: message.body.overheating }, message.body.overheating ? 'node overheating: no new work' : 'node cooled down');
        }
        // A node that cooled down can take work again.
        if (!wasHot || message.body.overheating) return;
        break;
      }
      default:
        this.#log.warn({ kind: message.kind, nodeId }, 'unexpected message kind from a node');
        return;
    }
    this.requestSchedule();
  }

  #onProgress(nodeId: string, body: BodyOf<'progress'>): void {
    const lease = this.#o.leases.getLease(body.leaseId);
    const outcome =
      lease && lease.shardId !== body.shardId
        ? { extended: false as const, reason: `lease ${body.leaseId} is not a lease of shard ${body.shardId}` }
        : this.#o.leases.extendLease(body.leaseId, nodeId, {
            extendMs: this.#o.leaseTiming.extendMs ?? this.#o.leaseTiming.baseMs,
            maxAgeMs: this.#o.leaseTiming.maxAgeMs ?? 30 * 60_000,
          });
    const fields = { nodeId, shardId: body.shardId, leaseId: body.leaseId, done: body.done, tokens: body.tokens };
    if (outcome.extended) this.#log.debug({ ...fields, until: outcome.until }, 'progress: lease extended');
    else this.#log.info({ ...fields, reason: outcome.reason }, 'progress ignored');
  }

  /**
   * Cancels a running job: queued shards are dropped, live leases revoked,
   * and every node running one of its shards is told to stop. Throws
   * NotFoundError / ConflictError (unknown job, job already finished).
   */
  cancelJob(jobId: string, reason = 'cancelled by its submitter'): CancelReport {
    const report = this.#o.leases.cancelJob(jobId, reason);
    const byNode = new Map<string, string[]>();
    for (const lease of report.revoked) byNode.set(lease.nodeId, [...(byNode.get(lease.nodeId) ?? []), lease.leaseId]);
    for (const [nodeId, leaseIds] of byNode) this.#send('command', nodeId, { type: 'cancel', jobId, leaseIds, reason: reason.slice(0, 256) });
    this.#log.warn({ jobId, reason, droppedShards: report.droppedShards, revokedLeases: report.revoked.length }, 'job cancelled');
    this.requestSchedule();
    return report;
  }

  #onResult(nodeId: string, envelope: Extract<OpenedMessage, { kind: 'result' }>['envelope']): void {
    if (envelope.body.workload === 'verify') {
      // A validator node's verdict on a verification task: the spot checker takes it (trust/).
      const receipt = this.#o.trust?.receiveVerdict(nodeId, envelope) ?? { status: 'rejected' as const, reason: 'spot checks are off' };
      const { shardId, leaseId } = envelope.body;
      this.#send('ack', nodeId, { resultId: envelope.id, shardId, leaseId, status: receipt.status, ...(receipt.status === 'accepted' ? {} : { reason: receipt.reason.slice(0, 512) }) });
      this.requestSchedule();
      return;
    }
    // Results that arrive in one turn of the event loop share one commit, at the end of the turn
    // (commitResults); once stopping, each is taken at once, while the link is still up to acknowledge it.
    this.#results.push({ envelope, nodeId });
    if (this.#stopped) this.#takeResults();
  }

  /**
   * The group commit of the turn's results. The link calls it at the end of
   * every turn of the event loop in which messages arrived, before their
   * PUBACKs leave, so the broker forgets a result only once it is recorded.
   */
  commitResults(): void {
    this.#takeResults();
  }

  /**
   * Group commit: every result queued since the last call is judged and
   * recorded in one transaction, and acknowledged only after it commits. A
   * crash before the commit loses no result: no PUBACK has left for it (a
   * standalone broker delivers it again), and its node keeps it in its
   * outbox until the signed ack arrives.
   */
  #takeResults(): void {
    const items = this.#results;
    if (items.length === 0) return;
    this.#results = [];
    let outcomes: GroupOutcome[];
    try {
      outcomes = this.#o.intake.receiveMany(items);
    } catch (error) {
      // Nothing was recorded and no ack is sent. The PUBACKs still leave: MQTT 3.1.1 has no
      // negative PUBACK and the broker would not deliver again before a reconnect. The nodes'
      // outboxes send these results again when their acks do not come.
      this.#log.error({ err: error, results: items.length }, 'result intake failed');
      return;
    }
    const completed: string[] = [];
    outcomes.forEach((taken, i) => {
      const { envelope, nodeId } = items[i] as IntakeItem;
      if (!taken.ok) {
        this.#log.error({ err: taken.error, nodeId, resultId: envelope.id }, 'result intake failed; the node will send it again');
        return;
      }
      // A failure answering one result (it is recorded) must not keep the others' acks back.
      try {
        this.#answer(nodeId, envelope, taken.outcome);
      } catch (error) {
        this.#log.error({ err: error, nodeId, resultId: envelope.id }, 'answering a result failed');
      }
      if (taken.outcome.jobComplete) completed.push(taken.outcome.jobId);
    });
    // Every result of the group is recorded and acknowledged: a failure from here on stays here.
    try {
      this.#o.trust?.wake();
    } catch (error) {
      this.#log.error({ err: error }, 'starting spot checks failed; the periodic kick retries');
    }
    // Aggregation (a manifest of every shard) runs once the caller has returned: at the end of a
    // turn that is after the link has let the PUBACKs and acks go, which need not wait for it.
    if (completed.length > 0) process.nextTick(() => this.#completeJobs(completed));
    this.requestSchedule();
  }

  /** Aggregates jobs whose last shard was recorded. */
  #completeJobs(completed: readonly string[]): void {
    // A job whose last results await a spot check completes on the pass after the check.
    for (const jobId of completed) {
      try {
        if (this.#o.trust?.hasPending(jobId)) continue;
        const manifest = this.#o.aggregator.completeJob(jobId);
        this.#log.info({ jobId, root: manifest.root }, 'job completed');
      } catch (error) {
        // A later scheduling pass tries again (completableJobs).
        this.#log.error({ err: error, jobId }, 'completing a job failed');
      }
    }
  }

  /** The ack of one recorded result, and the cancel for the copy of its shard that lost. */
  #answer(nodeId: string, envelope: IntakeItem['envelope'], outcome: IntakeOutcome): void {
    const { verdict } = outcome;
    const logFields = { nodeId, shardId: outcome.shardId, resultId: envelope.id, verdict: verdict.status };
    if (verdict.status === 'rejected') this.#log.warn({ ...logFields, reason: verdict.reason }, 'result rejected');
    else if (!outcome.redelivered) this.#log.debug(logFields, 'result');
    this.#send('ack', nodeId, {
      resultId: envelope.id,
      shardId: envelope.body.shardId,
      leaseId: envelope.body.leaseId,
      status: verdict.status,
      ...(verdict.status === 'accepted' ? {} : { reason: verdict.reason.slice(0, 512) }),
      ...(verdict.status === 'accepted' ? unitsField(this.#o.creditedUnits?.(envelope.id) ?? null) : {}),
    });
    // The other copy of a speculated shard lost: its lease is superseded, its node may stop.
    for (const loser of outcome.superseded) {
      this.#log.info({ shardId: outcome.shardId, nodeId: loser.nodeId, leaseId: loser.leaseId }, 'speculative race lost; lease released');
      this.#send('command', loser.nodeId, { type: 'cancel', jobId: envelope.body.jobId, leaseIds: [loser.leaseId], reason: 'another copy of the shard finished first' });
    }
  }

  /**
   * Coalesces scheduling requests: one pass per turn of the event loop, and
   * under load at most one pass per MIN_PASS_INTERVAL_MS, so a pass (which
   * reads the queue and the fleet) serves every result that arrived since
   * the last one instead of running once per result.
   */
  requestSchedule(): void {
    if (this.#schedulePending || this.#stopped) return;
    this.#schedulePending = true;
    const run = (): void => {
      this.#schedulePending = false;
      if (this.#stopped) return;
      this.#lastPass = performance.now();
      try {
        this.#schedule();
      } catch (error) {
        this.#log.error({ err: error }, 'scheduling pass failed');
      }
    };
    const wait = MIN_PASS_INTERVAL_MS - (performance.now() - this.#lastPass);
    if (wait > 0) setTimeout(run, wait);
    else setImmediate(run);
  }

  #schedule(now = Date.now()): void {
    for (const jobId of this.#o.jobs.completableJobs()) {
      const manifest = this.#o.aggregator.completeJob(jobId);
      this.#log.info({ jobId, root: manifest.root }, 'job completed (recovered)');
    }
    // Right after a (re)start, leases whose holders could not report progress to a dead control plane are not reclaimed yet.
    const sweep = now - this.#startedAt >= (this.#o.leaseTiming.restartGraceMs ?? 0);
    const reclaimed = sweep ? this.#o.leases.reclaimExpiredLeases(now) : { expired: [], promoted: [], failedJobs: [] };
    for (const lease of reclaimed.expired) this.#log.warn(lease, 'lease expired');
    for (const promoted of reclaimed.promoted) this.#log.info(promoted, 'lease expired; its speculative copy carries on');
    for (const failed of reclaimed.failedJobs) this.#log.error(failed, 'job failed');

    if (!this.#o.link.connected) return;
    const speculate = this.#o.stragglers && now - this.#lastSpeculation >= this.#o.tickMs;
    // A shard one node of an owner got wrong goes to another owner's node (trust/validator-nodes.ts).
    if (!speculate && !this.#o.leases.hasQueuedShards(now)) return;
    const slots = this.#nodeSlots(now);
    let free = slots.reduce((sum, n) => sum + Math.max(0, n.freeSlots), 0);
    if (free === 0) return;
    // Each job's first shards, as many as could be placed plus a margin for shards some nodes are excluded from.
    const queued = this.#o.leases.queuedShards(now, Math.min(500, free + QUEUE_MARGIN));
    const queue = this.#o.trust?.withOwnerExclusions(queued) ?? queued;
    if (queue.length === 0 && !speculate) return;

    const jobs = new Map<string, Job>();
    const jobOf = (id: string): Job => {
      let job = jobs.get(id);
      if (!job) jobs.set(id, (job = this.#o.jobs.getJob(id)));
      return job;
    };
    if (queue.length > 0) {
      const running = this.#o.leases.activeLeasesByJob();
      const demands = new Map<string, JobDemand>();
      for (const shard of queue) {
        let demand = demands.get(shard.jobId);
        if (!demand) {
          const job = jobOf(shard.jobId);
          demand = { jobId: job.id, priority: job.priority, createdAt: job.createdAt, ...this.#modelOf(job), running: running.get(job.id) ?? 0, queued: [] };
          demands.set(job.id, demand);
        }
        (demand.queued as Shard[]).push(shard);
      }
      const byId = new Map(queue.map((s) => [s.id, s]));
      const slotOf = new Map(slots.map((n) => [n.nodeId, n]));
      const placements = planPlacements([...demands.values()], slots, this.#placement);
      // Every lease of the pass in one transaction (one commit), and assignments only once it is committed.
      const leased = this.#o.leases.batch(() =>
        placements.flatMap((placement) => {
          const shard = byId.get(placement.shardId);
          if (!shard) return [];
          const job = jobOf(shard.jobId);
          const lease = this.#o.leases.leaseShard(shard.id, placement.nodeId, this.#leaseMs(job, shard), now);
          return lease ? [{ placement, shard, job, lease }] : [];
        }),
      );
      for (const { placement, shard, job, lease } of leased) {
        const slot = slotOf.get(placement.nodeId);
        if (slot) slot.freeSlots--;
        free--;
        this.#assign(job, shard, lease, 'shard assigned');
      }
    }
    if (speculate && free > 0) {
      this.#lastSpeculation = now;
      this.#speculate(slots, jobOf, now);
    }
  }

  /** Near the end of a job, a copy of each straggling shard goes to another node (see scheduler/placement.ts). */
  #speculate(slots: NodeSlot[], jobOf: (id: string) => Job, now: number): void {
    const policy = this.#o.stragglers;
    if (!policy) return;
    const candidates = this.#o.leases.leasedShardsOfDrainedJobs();
    if (candidates.length === 0) return;
    const paces = new Map<string, JobPace>();
    for (const { shard } of candidates) {
      if (paces.has(shard.jobId)) continue;
      const job = jobOf(shard.jobId);
      paces.set(job.id, { jobId: job.id, ...this.#modelOf(job), completedMs: this.#o.leases.completedShardTimes(job.id), leaseMs: this.#leaseMs(job, shard) });
    }
    const running = candidates.map(({ shard, leasedAt }) => ({
      shardId: shard.id,
      jobId: shard.jobId,
      nodeId: shard.nodeId ?? '',
      leasedAt,
      excludedNodes: shard.excludedNodes,
    }));
    const byId = new Map(candidates.map(({ shard }) => [shard.id, shard]));
    for (const copy of planSpeculation(running, [...paces.values()], slots, now, policy, this.#placement)) {
      const shard = byId.get(copy.shardId);
      if (!shard) continue;
      const job = jobOf(shard.jobId);
      const lease = this.#o.leases.leaseSpeculativeCopy(shard.id, copy.nodeId, this.#leaseMs(job, shard), now);
      if (!lease) continue;
      this.#assign(job, shard, lease, 'straggler: speculative copy assigned');
    }
  }

  /** Online workers with their free slots and standing (quarantine, failed checks, owner, heat, version, memory). */
  #nodeSlots(now: number): NodeSlot[] {
    const active = this.#o.leases.activeLeaseCounts();
    const quarantined = this.#o.trust?.quarantined() ?? new Set<string>();
    const standing = this.#o.leases.nodeStanding();
    return this.#o.nodes.workers(now).map((node) => ({
      nodeId: node.id,
      freeSlots: (node.capabilities?.maxConcurrentShards ?? 1) - (active.get(node.id) ?? 0),
      cachedModels: new Set(node.capabilities?.models ?? []),
      memoryBytes: node.capabilities?.hardware.memoryBytes ?? null,
      overheating: false, // workers() already leaves out nodes with a fresh overheating report
      quarantined: quarantined.has(node.id),
      failedChecks: standing.get(node.id)?.failedChecks ?? 0,
      agentVersion: node.capabilities?.agentVersion ?? '',
      owner: standing.get(node.id)?.owner ?? null,
      workloads: new Set(node.capabilities?.runtimes.map((r) => r.workload) ?? []),
    }));
  }

  get #placement(): PlacementPolicy {
    return this.#o.placement ?? DEFAULT_PLACEMENT_POLICY;
  }

  #modelOf(job: Job): { modelSha256: string; modelSize: number; workload: string } {
    if (!job.modelSha256) return { modelSha256: '', modelSize: 0, workload: job.workload };
    return { modelSha256: job.modelSha256, modelSize: this.#o.models.get(job.modelSha256).size, workload: job.workload };
  }

  #leaseMs(job: Job, shard: Shard): number {
    return workloadModule(job.workload).leaseMs(this.#o.leaseTiming, job, shard);
  }

  /** Builds the signed assignment of a lease and sends it to the lease's node. */
  #assign(job: Job, shard: Shard, lease: Lease, what: string): void {
    const model = job.modelSha256 === null ? null : this.#o.models.get(job.modelSha256);
    const modelRef = model && { sha256: model.sha256, size: model.size, url: `${this.#o.modelBaseUrl}/v1/models/${model.sha256}` };
    const body = workloadModule(job.workload).assignment(job, shard, lease, modelRef);
    // One line per shard: at info only when it is out of the ordinary (a speculative copy).
    this.#log[lease.speculative ? 'info' : 'debug']({ shardId: shard.id, nodeId: lease.nodeId, leaseId: lease.id }, what);
    this.#send('assignment', lease.nodeId, body);
  }

  #send<K extends DownKind>(kind: K, nodeId: string, body: BodyOf<K>): void {
    this.#o.link.publish(kind, nodeId, body).catch((error: unknown) => {
      this.#log.warn({ err: error, kind, nodeId }, 'publish failed; the lease will expire and the shard will be reassigned');
    });
  }
}

function unitsField(units: number | null): { units?: number } {
  return units === null ? {} : { units };
}
