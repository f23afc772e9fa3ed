import type { AssignmentBody, BodyOf, DownKind, GenerationSettings, OpenedMessage } from '@meshchain/protocol';
import type { Logger } from 'pino';
import type { Aggregator } from './aggregate/aggregator.ts';
import type { ResultIntake } from './intake/result-intake.ts';
import type { JobStore } from './jobs/job-store.ts';
import type { Job } from './jobs/types.ts';
import type { ControlLink } from './link/control-link.ts';
import type { ModelStore } from './models/model-store.ts';
import type { NodeStore } from './nodes/node-store.ts';
import type { LeaseStore } from './scheduler/lease-store.ts';
import { planPlacements, type NodeSlot } from './scheduler/placement.ts';
import type { SpotChecker } from './trust/spot-checker.ts';

export interface LeaseTiming {
  /** Fixed part of every lease. */
  baseMs: number;
  /** Added per token the shard may generate (inputs × maxTokens). */
  perTokenMs: number;
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
  /** A verified binding of a node to an owner (the rewards component records it); absent: bindings are ignored. */
  onBinding?: (nodeId: string, envelope: Extract<OpenedMessage, { kind: 'binding' }>['envelope']) => void;
}

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

  constructor(options: OrchestratorOptions) {
    this.#o = options;
    this.#log = options.logger;
  }

  start(): void {
    this.#stopped = false;
    this.#timer = setInterval(() => this.requestSchedule(), this.#o.tickMs);
    this.#timer.unref();
    this.requestSchedule();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Called by the link for each verified message, before it is acknowledged to the broker. */
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
        break;
      case 'handback': {
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

  #onResult(nodeId: string, envelope: Extract<OpenedMessage, { kind: 'result' }>['envelope']): void {
    const outcome = this.#o.intake.receive(envelope, nodeId);
    const { verdict } = outcome;
    const logFields = { nodeId, shardId: outcome.shardId, resultId: envelope.id, verdict: verdict.status };
    if (verdict.status === 'rejected') this.#log.warn({ ...logFields, reason: verdict.reason }, 'result rejected');
    else if (!outcome.redelivered) this.#log.info(logFields, 'result');
    this.#send('ack', nodeId, {
      resultId: envelope.id,
      shardId: envelope.body.shardId,
      leaseId: envelope.body.leaseId,
      status: verdict.status,
      ...(verdict.status === 'accepted' ? {} : { reason: verdict.reason.slice(0, 512) }),
      ...(verdict.status === 'accepted' ? unitsField(this.#o.creditedUnits?.(envelope.id) ?? null) : {}),
    });
    this.#o.trust?.kick();
    // A job whose last results await a spot check completes on the pass after the check.
    if (outcome.jobComplete && !this.#o.trust?.hasPending(outcome.jobId)) {
      const manifest = this.#o.aggregator.completeJob(outcome.jobId);
      this.#log.info({ jobId: outcome.jobId, root: manifest.root }, 'job completed');
    }
  }

  /** Coalesces scheduling requests into one pass per turn of the event loop. */
  requestSchedule(): void {
    if (this.#schedulePending || this.#stopped) return;
    this.#schedulePending = true;
    setImmediate(() => {
      this.#schedulePending = false;
      if (this.#stopped) return;
      try {
        this.#schedule();
      } catch (error) {
        this.#log.error({ err: error }, 'scheduling pass failed');
      }
    });
  }

  #schedule(now = Date.now()): void {
    for (const jobId of this.#o.jobs.completableJobs()) {
      const manifest = this.#o.aggregator.completeJob(jobId);
      this.#log.info({ jobId, root: manifest.root }, 'job completed (recovered)');
    }
    const reclaimed = this.#o.leases.reclaimExpiredLeases(now);
    for (const lease of reclaimed.expired) this.#log.warn(lease, 'lease expired');
    for (const failed of reclaimed.failedJobs) this.#log.error(failed, 'job failed');

    if (!this.#o.link.connected) return;
    const queue = this.#o.leases.queuedShards(now);
    if (queue.length === 0) return;
    const active = this.#o.leases.activeLeaseCounts();
    const quarantined = this.#o.trust?.quarantined() ?? new Set<string>();
    const slots: NodeSlot[] = this.#o.nodes.workers().filter((node) => !quarantined.has(node.id)).map((node) => ({
      nodeId: node.id,
      freeSlots: (node.capabilities?.maxConcurrentShards ?? 1) - (active.get(node.id) ?? 0),
      cachedModels: new Set(node.capabilities?.models ?? []),
    }));
    const jobs = new Map<string, Job>();
    const jobOf = (id: string): Job => {
      let job = jobs.get(id);
      if (!job) jobs.set(id, (job = this.#o.jobs.getJob(id)));
      return job;
    };
    for (const placement of planPlacements(queue, (jobId) => jobOf(jobId).modelSha256, slots)) {
      const shard = queue.find((s) => s.id === placement.shardId);
      if (!shard) continue;
      const job = jobOf(shard.jobId);
      const lease = this.#o.leases.leaseShard(shard.id, placement.nodeId, leaseDuration(this.#o.leaseTiming, shard.inputs.length, job.settings), now);
      if (!lease) continue;
      const model = this.#o.models.get(job.modelSha256);
      const body: AssignmentBody = {
        jobId: job.id,
        shardId: shard.id,
        shardIndex: shard.idx,
        leaseId: lease.id,
        leaseUntil: lease.until,
        workload: 'infer',
        model: { sha256: model.sha256, size: model.size, url: `${this.#o.modelBaseUrl}/v1/models/${model.sha256}` },
        inputs: shard.inputs,
        inputHash: shard.inputHash,
        settings: job.settings,
      };
      this.#log.info({ shardId: shard.id, nodeId: placement.nodeId, leaseId: lease.id }, 'shard assigned');
      this.#send('assignment', placement.nodeId, body);
    }
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
