// The thin layer around the pure planner: on each tick it feeds the planner the
// fleet's device states, carries out its actions (offers, time-outs, stage
// changes, aborts) and records every status report the boxes send.
import { z } from 'zod';
import { NODE_ID_PATTERN, zodSummary, type Envelope, type UpdateOfferBody } from '@meshchain/protocol';
import type { Logger } from 'pino';
import { ConflictError, InvalidRequestError, NotFoundError } from '../errors.ts';
import type { NodeStore } from '../nodes/node-store.ts';
import type { Db } from '../store/db.ts';
import {
  abortRollout,
  pauseRollout,
  planRollout,
  resumeRollout,
  summarizeStages,
  validateRolloutSpec,
  type PlannerDevice,
  type RolloutPlan,
  type RolloutSpec,
  type RolloutState,
  type StageSummary,
} from './planner.ts';
import type { ReleaseRecord, ReleaseStore } from './release-store.ts';
import type { DeviceOtaSettings, RolloutDevice, RolloutRecord, RolloutStore } from './rollout-store.ts';

export interface RolloutRunnerOptions {
  db: Db;
  rollouts: RolloutStore;
  releases: ReleaseStore;
  nodes: NodeStore;
  /** Sends a signed offer to one node (the control link). */
  publishOffer: (nodeId: string, body: UpdateOfferBody) => Promise<void>;
  /** Base URL boxes download artifacts from when the manifest names none (the API's public URL). */
  artifactBaseUrl: () => string;
  logger: Logger;
  tickMs: number;
  now?: () => number;
}

/** What `POST /v1/rollouts` takes. Durations in ms, the failure rate as a fraction (0.05 = 5%). */
export const startRolloutSchema = z.object({
  /** A release id, a unique id prefix (≥ 6 characters), or a version with exactly one release. */
  release: z.string().min(1).max(128),
  stages: z.array(z.number()).min(1).max(20).default([1, 10, 50, 100]),
  bakeMs: z.number().int().nonnegative().default(30 * 60_000),
  maxConcurrent: z.number().int().positive().default(100),
  abortFailureRate: z.number().min(0).max(1).default(0.05),
  minDevices: z.number().int().positive().default(20),
  stepTimeoutMs: z.number().int().positive().default(30 * 60_000),
  select: z.record(z.string().min(1).max(64), z.string().max(256)).optional(),
  exclude: z.array(z.string().regex(NODE_ID_PATTERN, 'not a node id')).max(10_000).default([]),
  /** Offer with `force`: boxes skip draining and interrupt running shards. */
  force: z.boolean().default(false),
});
export type StartRolloutInput = z.input<typeof startRolloutSchema>;

export interface RolloutView {
  rollout: RolloutRecord;
  release: ReleaseRecord;
  population: number;
  failureRate: number | null;
  bakeEndsAt: number | null;
  stages: StageSummary[];
  devices: RolloutDevice[];
  skipped: RolloutPlan['skipped'];
}

export class RolloutRunner {
  readonly #o: RolloutRunnerOptions;
  #timer: NodeJS.Timeout | null = null;
  #ticking = false;
  #again = false;

  constructor(options: RolloutRunnerOptions) {
    this.#o = options;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.requestTick(), this.#o.tickMs);
    this.#timer.unref();
    this.requestTick();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Plans every active rollout soon (coalesced). */
  requestTick(): void {
    if (this.#ticking) {
      this.#again = true;
      return;
    }
    this.#ticking = true;
    setImmediate(() => {
      try {
        this.tick();
      } catch (error) {
        this.#o.logger.error({ err: error }, 'rollout tick failed');
      } finally {
        this.#ticking = false;
        if (this.#again) {
          this.#again = false;
          this.requestTick();
        }
      }
    });
  }

  /** One planning pass over every running or paused rollout. */
  tick(): void {
    const now = (this.#o.now ?? Date.now)();
    for (const rollout of this.#o.rollouts.activeRollouts()) this.#advance(rollout, now);
  }

  startRollout(input: unknown): RolloutRecord {
    const parsed = startRolloutSchema.safeParse(input);
    if (!parsed.success) throw new InvalidRequestError(`invalid rollout: ${zodSummary(parsed.error)}`);
    const request = parsed.data;
    const release = this.resolveRelease(request.release);
    const spec: RolloutSpec = {
      stages: request.stages,
      bakeMs: request.bakeMs,
      maxConcurrent: request.maxConcurrent,
      abortFailureRate: request.abortFailureRate,
      minDevices: request.minDevices,
      stepTimeoutMs: request.stepTimeoutMs,
      selection: request.select && Object.keys(request.select).length > 0 ? { tags: request.select } : 'all',
      excluded: request.exclude,
      pinned: {},
    };
    validateRolloutSpec(spec);
    return this.#o.db.transaction(() => {
      const sameLine = this.#o.releases
        .listReleases(10_000)
        .filter((r) => r.kind === release.kind && r.compatibility === release.compatibility)
        .map((r) => r.id);
      const clash = this.#o.rollouts.activeRolloutOf(sameLine);
      if (clash) throw new ConflictError(`rollout ${clash.id} of a ${release.kind} release for ${release.compatibility} is still ${clash.status}`, { details: 'abort it or wait for it to finish' });
      const rollout = this.#o.rollouts.createRollout({ releaseId: release.id, spec, force: request.force });
      this.#o.logger.info({ rolloutId: rollout.id, release: release.version, stages: spec.stages }, 'rollout started');
      this.requestTick();
      return rollout;
    })();
  }

  resolveRelease(ref: string): ReleaseRecord {
    const exact = this.#o.releases.findRelease(ref);
    if (exact) return exact;
    const all = this.#o.releases.listReleases(10_000);
    const byVersion = all.filter((r) => r.version === ref);
    const byPrefix = ref.length >= 6 ? all.filter((r) => r.id.startsWith(ref)) : [];
    const matches = byVersion.length > 0 ? byVersion : byPrefix;
    if (matches.length === 1 && matches[0]) return matches[0];
    if (matches.length > 1) throw new InvalidRequestError(`release "${ref}" is ambiguous (${matches.length} releases match)`, { details: 'name it by its id (`meshchain release list`)' });
    throw new NotFoundError(`release ${ref}`, { details: 'list releases with `meshchain release list`' });
  }

  list(): RolloutRecord[] {
    return this.#o.rollouts.listRollouts();
  }

  pause(id: string): RolloutRecord {
    return this.#operator(id, (state) => pauseRollout(state));
  }

  resume(id: string): RolloutRecord {
    const rollout = this.#operator(id, (state) => resumeRollout(state));
    this.requestTick();
    return rollout;
  }

  abort(id: string, reason?: string): RolloutRecord {
    return this.#operator(id, (state) => abortRollout(state, reason));
  }

  view(id: string): RolloutView {
    const rollout = this.#o.rollouts.getRollout(id);
    const release = this.#o.releases.getRelease(rollout.releaseId);
    const now = (this.#o.now ?? Date.now)();
    const plan = planRollout(this.#state(rollout, release), this.#spec(rollout), this.#fleet(rollout, release), now);
    const devices = this.#o.rollouts.devices(id);
    return {
      rollout,
      release,
      population: plan.population,
      failureRate: plan.failureRate,
      bakeEndsAt: plan.bakeEndsAt,
      stages: summarizeStages(rollout.spec, plan.population, devices),
      devices,
      skipped: plan.skipped,
    };
  }

  /** One device's state in a rollout and every report it sent, in arrival order. */
  deviceHistory(rolloutId: string, nodeId: string): { device: RolloutDevice; reports: ReturnType<RolloutStore['reports']> } {
    this.#o.rollouts.getRollout(rolloutId);
    const device = this.#o.rollouts.devices(rolloutId).find((d) => d.nodeId === nodeId);
    if (!device) throw new NotFoundError(`device ${nodeId} in rollout ${rolloutId}`, { details: 'it was not offered this rollout' });
    return { device, reports: this.#o.rollouts.reports(rolloutId, nodeId) };
  }

  /** A verified `updateStatus` message from a node. Idempotent per envelope. */
  handleStatus(nodeId: string, envelope: Envelope<'updateStatus'>): void {
    const body = envelope.body;
    const outcome = this.#o.rollouts.recordReport(envelope.id, nodeId, body);
    const fields = { nodeId, rolloutId: body.rolloutId, state: body.state, version: body.version, current: body.currentVersion, reason: body.reason, outcome };
    if (body.state === 'failed' || body.state === 'rolled_back') this.#o.logger.warn({ ...fields, detail: body.detail }, 'update status');
    else this.#o.logger.info(fields, 'update status');
    if (outcome === 'applied') this.requestTick();
  }

  updateDevice(nodeId: string, change: { pinnedRelease?: string | null; excluded?: boolean; tags?: Record<string, string> }): DeviceOtaSettings {
    if (!NODE_ID_PATTERN.test(nodeId)) throw new InvalidRequestError(`"${nodeId}" is not a node id`);
    const resolved = change.pinnedRelease ? { ...change, pinnedRelease: this.resolveRelease(change.pinnedRelease).id } : change;
    const settings = this.#o.rollouts.updateDevice(nodeId, resolved);
    this.requestTick();
    return settings;
  }

  #operator(id: string, transition: (state: RolloutState) => RolloutState): RolloutRecord {
    return this.#o.db.transaction(() => {
      const rollout = this.#o.rollouts.getRollout(id);
      const release = this.#o.releases.getRelease(rollout.releaseId);
      const next = transition(this.#state(rollout, release));
      this.#o.rollouts.setState(id, next);
      this.#o.logger.info({ rolloutId: id, status: next.status, reason: next.reason }, `rollout ${next.status}`);
      return this.#o.rollouts.getRollout(id);
    })();
  }

  #state(rollout: RolloutRecord, release: ReleaseRecord): RolloutState {
    return {
      releaseId: release.id,
      release: { version: release.version, fromVersions: release.fromVersions, compatibility: release.compatibility },
      status: rollout.status,
      stage: rollout.stage,
      reason: rollout.reason,
    };
  }

  /** The stored spec plus the operator's fleet-wide exclusions and pins. */
  #spec(rollout: RolloutRecord, settings = this.#o.rollouts.deviceSettings()): RolloutSpec {
    const excluded = new Set(rollout.spec.excluded);
    const pinned: Record<string, string> = {};
    for (const s of settings.values()) {
      if (s.excluded) excluded.add(s.nodeId);
      if (s.pinnedRelease) pinned[s.nodeId] = s.pinnedRelease;
    }
    return { ...rollout.spec, excluded: [...excluded], pinned };
  }

  #fleet(rollout: RolloutRecord, release: ReleaseRecord, settings = this.#o.rollouts.deviceSettings()): PlannerDevice[] {
    const states = new Map(this.#o.rollouts.devices(rollout.id).map((d) => [d.nodeId, d]));
    return this.#o.nodes.list().map((node) => {
      const s = settings.get(node.id);
      const d = states.get(node.id);
      return {
        id: node.id,
        tags: s?.tags ?? {},
        online: node.presence === 'online',
        // The agent's version is in its capabilities; a system version is not reported there.
        version: release.kind === 'app' ? (node.capabilities?.agentVersion ?? null) : null,
        compatibility: s?.compatibility ?? null,
        state: d?.state ?? null,
        since: d?.since ?? 0,
      };
    });
  }

  #advance(rollout: RolloutRecord, now: number): void {
    const release = this.#o.releases.getRelease(rollout.releaseId);
    const settings = this.#o.rollouts.deviceSettings();
    const fleet = this.#fleet(rollout, release, settings);
    const plan = planRollout(this.#state(rollout, release), this.#spec(rollout, settings), fleet, now);
    const versions = new Map(fleet.map((d) => [d.id, d.version]));
    const offers: string[] = [];
    this.#o.db.transaction(() => {
      for (const action of plan.actions) {
        switch (action.type) {
          case 'offer':
            if (this.#o.rollouts.recordOffer(rollout.id, action.deviceId, action.stage, versions.get(action.deviceId) ?? null, now)) offers.push(action.deviceId);
            break;
          case 'time-out':
            this.#o.rollouts.timeOut(rollout.id, action.deviceId, action.from, now);
            break;
          case 'cancel':
            this.#o.rollouts.cancelOffer(rollout.id, action.deviceId);
            break;
          default:
            break;
        }
      }
      const next = plan.next;
      if (next.status !== rollout.status || next.stage !== rollout.stage || next.reason !== rollout.reason) this.#o.rollouts.setState(rollout.id, next, now);
    })();
    for (const action of plan.actions) {
      const log = this.#o.logger;
      if (action.type === 'advance') log.info({ rolloutId: rollout.id, stage: action.to + 1, percent: rollout.spec.stages[action.to] }, 'rollout stage started');
      else if (action.type === 'complete') log.info({ rolloutId: rollout.id, release: release.version }, 'rollout completed');
      else if (action.type === 'abort') log.warn({ rolloutId: rollout.id, reason: action.reason }, 'rollout aborted');
      else if (action.type === 'time-out') log.warn({ rolloutId: rollout.id, nodeId: action.deviceId, from: action.from }, 'update step timed out');
    }
    if (offers.length === 0) return;
    const signed = this.#o.releases.signedRelease(release.id);
    const artifactUrl = signed.manifest.artifact.url ?? `${this.#o.artifactBaseUrl()}/v1/artifacts/${release.artifact.sha256}`;
    for (const nodeId of offers) {
      const body: UpdateOfferBody = { rolloutId: rollout.id, releaseId: release.id, release: signed, artifactUrl, force: rollout.force };
      this.#o.publishOffer(nodeId, body).then(
        () => this.#o.logger.info({ rolloutId: rollout.id, nodeId, version: release.version }, 'update offered'),
        (error: unknown) => this.#o.logger.warn({ err: error, rolloutId: rollout.id, nodeId }, 'update offer not sent; the step timeout will count it as failed'),
      );
    }
  }
}
