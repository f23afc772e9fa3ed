// The rollout planner: pure decisions over data. No I/O, no clock, no timers;
// the runner feeds it the rollout, the fleet and `now`, and carries out its actions.
import { sha256Hex, satisfiesVersion, compareVersions } from '@meshchain/protocol';
import { ConflictError, InvalidRequestError } from '../errors.ts';

/** Where one device is in one rollout. `null` in `PlannerDevice.state`: not yet part of it. */
export type DeviceUpdateState = 'offered' | 'downloading' | 'installing' | 'installed' | 'healthy' | 'failed' | 'rolled_back';
export const IN_FLIGHT_STATES: readonly DeviceUpdateState[] = ['offered', 'downloading', 'installing', 'installed'];
export const FAILURE_STATES: readonly DeviceUpdateState[] = ['failed', 'rolled_back'];

export type RolloutStatus = 'running' | 'paused' | 'completed' | 'aborted';

export interface RolloutSpec {
  /** Cumulative share of the target population per stage, in percent, ascending, ending at 100 (e.g. [1, 10, 50, 100]). */
  stages: number[];
  /** How long a stage must stay fully settled, under the failure threshold, before the next one starts. */
  bakeMs: number;
  /** Devices updating at once (offered, downloading, installing or installed). */
  maxConcurrent: number;
  /** Abort when failed + rolled back over settled devices exceeds this (0..1), counted over the whole rollout. */
  abortFailureRate: number;
  /**
   * Settled devices needed before the failure rate may abort the rollout (AWS IoT Jobs'
   * `minNumberOfExecutedThings`), capped at the current stage's size so a small first stage still can.
   */
  minDevices: number;
  /** An update step (offered → downloading → installed → healthy) that takes longer than this counts as failed. */
  stepTimeoutMs: number;
  /** Which devices: every one, or those carrying every one of these tags. */
  selection: { tags: Record<string, string> } | 'all';
  /** Never offered this release. */
  excluded: string[];
  /** Devices pinned to a release id: pinned here = included whatever the selection; pinned elsewhere = left alone. */
  pinned: Record<string, string>;
}

export interface RolloutState {
  releaseId: string;
  release: { version: string; fromVersions: string[]; compatibility: string };
  status: RolloutStatus;
  /** Index into `spec.stages` of the stage being filled or baked. */
  stage: number;
  reason: string | null;
}

export interface PlannerDevice {
  id: string;
  tags: Record<string, string>;
  online: boolean;
  version: string | null;
  compatibility: string | null;
  /** Its state in this rollout; null when not yet offered. */
  state: DeviceUpdateState | null;
  /** When it entered `state`. */
  since: number;
}

export type RolloutAction =
  | { type: 'offer'; deviceId: string; stage: number }
  | { type: 'time-out'; deviceId: string; from: DeviceUpdateState }
  | { type: 'cancel'; deviceId: string }
  | { type: 'advance'; from: number; to: number }
  | { type: 'complete' }
  | { type: 'abort'; reason: string };

export interface StageSummary {
  stage: number;
  percent: number;
  target: number;
  counts: Record<DeviceUpdateState, number>;
}

export interface RolloutPlan {
  actions: RolloutAction[];
  next: RolloutState;
  /** Devices this rollout would ever touch (selected, applicable, not excluded). */
  population: number;
  /** failed + rolled back over settled, whole rollout; null when nothing settled. */
  failureRate: number | null;
  /** Settled devices of the current stage and when its bake ends; null while it is not fully settled. */
  bakeEndsAt: number | null;
  /** Devices the rollout skips, with why. */
  skipped: { deviceId: string; reason: 'excluded' | 'pinned-elsewhere' | 'incompatible' | 'up-to-date' | 'not-from-version' }[];
}

/** Checks a spec; throws InvalidRequestError naming the first bad field. */
export function validateRolloutSpec(spec: RolloutSpec): void {
  const bad = (message: string): never => {
    throw new InvalidRequestError(`invalid rollout: ${message}`);
  };
  if (spec.stages.length === 0 || spec.stages.length > 20) bad('stages: 1 to 20 stages');
  spec.stages.forEach((p, i) => {
    if (!Number.isFinite(p) || p <= 0 || p > 100) bad(`stages: ${p} is not a percentage in (0, 100]`);
    if (i > 0 && p <= (spec.stages[i - 1] ?? 0)) bad('stages: percentages must increase');
  });
  if (spec.stages.at(-1) !== 100) bad('stages: the last stage must be 100');
  if (!Number.isInteger(spec.bakeMs) || spec.bakeMs < 0) bad('bake: a non-negative duration');
  if (!Number.isInteger(spec.maxConcurrent) || spec.maxConcurrent < 1) bad('max concurrent: at least 1');
  if (!(spec.abortFailureRate >= 0 && spec.abortFailureRate <= 1)) bad('abort failure rate: between 0% and 100%');
  if (!Number.isInteger(spec.minDevices) || spec.minDevices < 1) bad('min devices: at least 1');
  if (!Number.isInteger(spec.stepTimeoutMs) || spec.stepTimeoutMs < 1) bad('step timeout: a positive duration');
}

/** Stage sizes: the cumulative count of devices each stage reaches (at least one device per stage, never more than the population). */
export function stageTargets(stages: readonly number[], population: number): number[] {
  return stages.map((percent) => Math.min(population, Math.max(1, Math.ceil((percent / 100) * population))));
}

function selects(spec: RolloutSpec, device: PlannerDevice): boolean {
  if (spec.selection === 'all') return true;
  return Object.entries(spec.selection.tags).every(([key, value]) => device.tags[key] === value);
}

/** Splits the fleet into the rollout's population, in a stable pseudo-random order, and the devices it skips. */
export function rolloutPopulation(state: RolloutState, spec: RolloutSpec, devices: readonly PlannerDevice[]): { members: PlannerDevice[]; skipped: RolloutPlan['skipped'] } {
  const members: PlannerDevice[] = [];
  const skipped: RolloutPlan['skipped'] = [];
  const excluded = new Set(spec.excluded);
  for (const device of devices) {
    const pin = spec.pinned[device.id];
    const wanted = pin === state.releaseId || (pin === undefined && selects(spec, device));
    if (device.state !== null) {
      // Once offered, a device stays a member: its outcome counts whatever happens to the selection.
      members.push(device);
      continue;
    }
    if (!wanted) {
      if (pin !== undefined) skipped.push({ deviceId: device.id, reason: 'pinned-elsewhere' });
      continue;
    }
    if (excluded.has(device.id)) skipped.push({ deviceId: device.id, reason: 'excluded' });
    else if (device.compatibility !== null && device.compatibility !== state.release.compatibility) skipped.push({ deviceId: device.id, reason: 'incompatible' });
    else if (device.version !== null && safeCompare(device.version, state.release.version) === 0) skipped.push({ deviceId: device.id, reason: 'up-to-date' });
    else if (device.version !== null && !state.release.fromVersions.some((range) => satisfiesVersion(device.version ?? '', range))) skipped.push({ deviceId: device.id, reason: 'not-from-version' });
    else members.push(device);
  }
  // Stable across calls, different per release: stage 1 is not always the same boxes.
  const keys = new Map(members.map((d) => [d.id, sha256Hex(`${state.releaseId}\n${d.id}`)]));
  const order = (id: string): string => keys.get(id) ?? '';
  members.sort((a, b) => (order(a.id) < order(b.id) ? -1 : order(a.id) > order(b.id) ? 1 : 0));
  return { members, skipped };
}

function safeCompare(a: string, b: string): number | null {
  try {
    return compareVersions(a, b);
  } catch {
    return null;
  }
}

/**
 * The next actions of a rollout from its state, its spec, the fleet and the time.
 * Order of decisions: time out stuck devices; abort when the failure rate crosses
 * the threshold; when the stage is settled and baked, advance or complete; then
 * offer the update to more devices of the current stage, within the concurrency limit.
 */
export function planRollout(state: RolloutState, spec: RolloutSpec, devices: readonly PlannerDevice[], now: number): RolloutPlan {
  const { members, skipped } = rolloutPopulation(state, spec, devices);
  const targets = stageTargets(spec.stages, members.length);
  const actions: RolloutAction[] = [];
  let next: RolloutState = { ...state };

  // Work on copies: a device timed out now counts as failed in this same plan.
  const current = members.map((d) => ({ ...d }));
  if (state.status === 'running' || state.status === 'paused') {
    for (const device of current) {
      if (device.state && IN_FLIGHT_STATES.includes(device.state) && now - device.since >= spec.stepTimeoutMs) {
        actions.push({ type: 'time-out', deviceId: device.id, from: device.state });
        device.state = 'failed';
        device.since = now;
      }
    }
  }

  const participants = current.filter((d) => d.state !== null);
  const settled = participants.filter((d) => d.state !== null && !IN_FLIGHT_STATES.includes(d.state));
  const failures = settled.filter((d) => d.state !== null && FAILURE_STATES.includes(d.state)).length;
  const failureRate = settled.length === 0 ? null : failures / settled.length;
  const stageTarget = targets[state.stage] ?? members.length;
  const base = { population: members.length, failureRate, skipped };

  if (state.status === 'completed' || state.status === 'aborted') return { ...base, actions, next, bakeEndsAt: null };

  const needed = Math.max(1, Math.min(spec.minDevices, stageTarget));
  if (failureRate !== null && settled.length >= needed && failureRate > spec.abortFailureRate) {
    const reason = `failure rate ${percent(failureRate)} (${failures} of ${settled.length} settled devices) exceeds ${percent(spec.abortFailureRate)} in stage ${state.stage + 1}`;
    actions.push({ type: 'abort', reason });
    for (const d of current) if (d.state === 'offered') actions.push({ type: 'cancel', deviceId: d.id });
    next = { ...next, status: 'aborted', reason };
    return { ...base, actions, next, bakeEndsAt: null };
  }

  let bakeEndsAt: number | null = null;
  const stageFull = participants.length >= stageTarget;
  if (stageFull && settled.length === participants.length) {
    bakeEndsAt = Math.max(0, ...settled.map((d) => d.since)) + spec.bakeMs;
    if (members.length === 0 || (now >= bakeEndsAt && state.status === 'running')) {
      if (state.stage + 1 >= spec.stages.length || members.length === 0) {
        actions.push({ type: 'complete' });
        next = { ...next, status: 'completed', reason: null };
        return { ...base, actions, next, bakeEndsAt };
      }
      actions.push({ type: 'advance', from: state.stage, to: state.stage + 1 });
      next = { ...next, stage: state.stage + 1 };
      bakeEndsAt = null;
    }
  }

  if (next.status !== 'running') return { ...base, actions, next, bakeEndsAt };
  const target = targets[next.stage] ?? members.length;
  let inFlight = current.filter((d) => d.state !== null && IN_FLIGHT_STATES.includes(d.state)).length;
  let joined = participants.length;
  for (const device of current) {
    if (joined >= target || inFlight >= spec.maxConcurrent) break;
    if (device.state !== null || !device.online) continue;
    actions.push({ type: 'offer', deviceId: device.id, stage: next.stage });
    joined += 1;
    inFlight += 1;
  }
  return { ...base, actions, next, bakeEndsAt };
}

/** Per stage: its target and how many of its devices are in each state (a device belongs to the stage it was offered in). */
export function summarizeStages(spec: RolloutSpec, population: number, devices: readonly { state: DeviceUpdateState; stage: number }[]): StageSummary[] {
  const targets = stageTargets(spec.stages, population);
  return spec.stages.map((p, stage) => {
    const counts: Record<DeviceUpdateState, number> = { offered: 0, downloading: 0, installing: 0, installed: 0, healthy: 0, failed: 0, rolled_back: 0 };
    for (const d of devices) if (d.stage === stage) counts[d.state] += 1;
    return { stage, percent: p, target: targets[stage] ?? population, counts };
  });
}

/** Operator commands, as pure transitions. */
export function pauseRollout(state: RolloutState): RolloutState {
  if (state.status !== 'running') throw new ConflictError(`cannot pause a rollout that is ${state.status}`);
  return { ...state, status: 'paused' };
}

export function resumeRollout(state: RolloutState): RolloutState {
  if (state.status !== 'paused') throw new ConflictError(`cannot resume a rollout that is ${state.status}`, { details: state.status === 'aborted' ? 'an aborted rollout stays aborted; start a new one' : undefined });
  return { ...state, status: 'running' };
}

export function abortRollout(state: RolloutState, reason = 'aborted by the operator'): RolloutState {
  if (state.status === 'completed' || state.status === 'aborted') throw new ConflictError(`cannot abort a rollout that is ${state.status}`);
  return { ...state, status: 'aborted', reason };
}

function percent(rate: number): string {
  return `${(rate * 100).toFixed(rate * 100 < 10 ? 1 : 0)}%`;
}
