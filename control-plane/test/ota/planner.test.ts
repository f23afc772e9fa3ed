import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConflictError, InvalidRequestError } from '../../src/errors.ts';
import {
  abortRollout,
  pauseRollout,
  planRollout,
  resumeRollout,
  rolloutPopulation,
  stageTargets,
  summarizeStages,
  validateRolloutSpec,
  type DeviceUpdateState,
  type PlannerDevice,
  type RolloutAction,
  type RolloutSpec,
  type RolloutState,
} from '../../src/ota/planner.ts';

const MIN = 60_000;

function spec(overrides: Partial<RolloutSpec> = {}): RolloutSpec {
  return {
    stages: [1, 10, 50, 100],
    bakeMs: 30 * MIN,
    maxConcurrent: 100,
    abortFailureRate: 0.05,
    minDevices: 20,
    stepTimeoutMs: 60 * MIN,
    selection: 'all',
    excluded: [],
    pinned: {},
    ...overrides,
  };
}

function rollout(overrides: Partial<RolloutState> = {}): RolloutState {
  return { releaseId: 'rel-2', release: { version: '2.0.0', fromVersions: ['^1.0.0'], compatibility: 'meshnode-arm64' }, status: 'running', stage: 0, reason: null, ...overrides };
}

function fleet(n: number, overrides: Partial<PlannerDevice> = {}): PlannerDevice[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `mn${String(i).padStart(4, '0')}`,
    tags: {},
    online: true,
    version: '1.0.0',
    compatibility: 'meshnode-arm64',
    state: null,
    since: 0,
    ...overrides,
  }));
}

const offers = (actions: RolloutAction[]): string[] => actions.flatMap((a) => (a.type === 'offer' ? [a.deviceId] : []));

/** Applies a plan's device actions to the fleet, as the runner would. */
function apply(devices: PlannerDevice[], actions: RolloutAction[], now: number, outcome: (id: string) => DeviceUpdateState = () => 'offered'): void {
  for (const action of actions) {
    const device = devices.find((d) => 'deviceId' in action && d.id === action.deviceId);
    if (!device) continue;
    if (action.type === 'offer') Object.assign(device, { state: outcome(device.id), since: now });
    if (action.type === 'time-out') Object.assign(device, { state: 'failed', since: now });
    if (action.type === 'cancel') Object.assign(device, { state: null, since: now });
  }
}

describe('stage sizes', () => {
  it('are cumulative, at least one device, never more than the population', () => {
    assert.deepEqual(stageTargets([1, 10, 50, 100], 20), [1, 2, 10, 20]);
    assert.deepEqual(stageTargets([1, 10, 50, 100], 10_000), [100, 1000, 5000, 10_000]);
    assert.deepEqual(stageTargets([1, 10, 50, 100], 3), [1, 1, 2, 3]);
    assert.deepEqual(stageTargets([1, 100], 0), [0, 0]);
  });

  it('validates a spec and names what is wrong', () => {
    validateRolloutSpec(spec());
    for (const [bad, pattern] of [
      [{ stages: [] }, /stages/],
      [{ stages: [10, 5, 100] }, /increase/],
      [{ stages: [1, 50] }, /last stage must be 100/],
      [{ stages: [0, 100] }, /percentage/],
      [{ maxConcurrent: 0 }, /max concurrent/],
      [{ abortFailureRate: 1.5 }, /failure rate/],
      [{ minDevices: 0 }, /min devices/],
      [{ bakeMs: -1 }, /bake/],
    ] as const) {
      assert.throws(() => validateRolloutSpec(spec(bad as Partial<RolloutSpec>)), (e: unknown) => e instanceof InvalidRequestError && pattern.test(e.message));
    }
  });
});

describe('population', () => {
  it('selects by tags, honours exclusions and pins, and skips boxes it cannot or need not update', () => {
    const devices: PlannerDevice[] = [
      ...fleet(1, { id: 'eu', tags: { region: 'eu' } }),
      ...fleet(1, { id: 'us', tags: { region: 'us' } }),
      ...fleet(1, { id: 'us-pinned-here', tags: { region: 'us' } }),
      ...fleet(1, { id: 'eu-pinned-elsewhere', tags: { region: 'eu' } }),
      ...fleet(1, { id: 'eu-excluded', tags: { region: 'eu' } }),
      ...fleet(1, { id: 'eu-amd64', tags: { region: 'eu' }, compatibility: 'meshnode-amd64' }),
      ...fleet(1, { id: 'eu-current', tags: { region: 'eu' }, version: '2.0.0' }),
      ...fleet(1, { id: 'eu-old', tags: { region: 'eu' }, version: '0.9.0' }),
      ...fleet(1, { id: 'us-already-offered', tags: { region: 'us' }, state: 'downloading' }),
    ];
    const { members, skipped } = rolloutPopulation(
      rollout(),
      spec({ selection: { tags: { region: 'eu' } }, excluded: ['eu-excluded'], pinned: { 'us-pinned-here': 'rel-2', 'eu-pinned-elsewhere': 'rel-1' } }),
      devices,
    );
    assert.deepEqual(members.map((d) => d.id).sort(), ['eu', 'us-already-offered', 'us-pinned-here']);
    assert.deepEqual(
      Object.fromEntries(skipped.map((s) => [s.deviceId, s.reason])),
      { 'eu-pinned-elsewhere': 'pinned-elsewhere', 'eu-excluded': 'excluded', 'eu-amd64': 'incompatible', 'eu-current': 'up-to-date', 'eu-old': 'not-from-version' },
    );
  });

  it('orders devices stably per release, not by id', () => {
    const devices = fleet(50);
    const a = rolloutPopulation(rollout(), spec(), devices).members.map((d) => d.id);
    assert.deepEqual(rolloutPopulation(rollout(), spec(), [...devices].reverse()).members.map((d) => d.id), a);
    assert.notDeepEqual(rolloutPopulation(rollout({ releaseId: 'rel-3' }), spec(), devices).members.map((d) => d.id), a);
    assert.notDeepEqual(a, devices.map((d) => d.id));
  });
});

describe('planRollout', () => {
  it('offers the first stage only, to online devices, within the concurrency limit', () => {
    const devices = fleet(1000);
    const first = planRollout(rollout(), spec(), devices, 0);
    assert.equal(offers(first.actions).length, 10);
    assert.ok(first.actions.every((a) => a.type === 'offer' && a.stage === 0));

    const limited = planRollout(rollout(), spec({ maxConcurrent: 3 }), devices, 0);
    assert.equal(offers(limited.actions).length, 3);
    apply(devices, limited.actions, 0);
    // Three in flight: nothing more until one settles.
    assert.deepEqual(offers(planRollout(rollout(), spec({ maxConcurrent: 3 }), devices, 1).actions), []);
    const one = devices.find((d) => d.state === 'offered');
    if (one) Object.assign(one, { state: 'healthy', since: 2 });
    assert.equal(offers(planRollout(rollout(), spec({ maxConcurrent: 3 }), devices, 2).actions).length, 1);

    const offline = fleet(100, { online: false });
    assert.deepEqual(planRollout(rollout(), spec(), offline, 0).actions, []);
  });

  it('moves on only once the stage is settled and has baked, then offers the next stage', () => {
    const devices = fleet(20);
    const s = spec({ stages: [10, 50, 100], bakeMs: 30 * MIN });
    let state = rollout();
    let plan = planRollout(state, s, devices, 0);
    assert.equal(offers(plan.actions).length, 2);
    apply(devices, plan.actions, 0);

    // One healthy, one still installing: no advance however long we wait (short of the step timeout).
    const [a, b] = devices.filter((d) => d.state === 'offered');
    assert.ok(a && b);
    Object.assign(a, { state: 'healthy', since: 5 * MIN });
    Object.assign(b, { state: 'installed', since: 5 * MIN });
    plan = planRollout(state, s, devices, 50 * MIN);
    assert.deepEqual(plan.actions, []);
    assert.equal(plan.bakeEndsAt, null);

    // Settled at 55 min: the bake runs until 85 min.
    Object.assign(b, { state: 'healthy', since: 55 * MIN });
    plan = planRollout(state, s, devices, 84 * MIN);
    assert.deepEqual(plan.actions, []);
    assert.equal(plan.bakeEndsAt, 85 * MIN);
    plan = planRollout(state, s, devices, 85 * MIN);
    assert.deepEqual(plan.actions[0], { type: 'advance', from: 0, to: 1 });
    assert.equal(offers(plan.actions).length, 8);
    assert.equal(plan.next.stage, 1);
    state = plan.next;
    apply(devices, plan.actions, 85 * MIN, () => 'healthy');

    plan = planRollout(state, s, devices, 115 * MIN);
    assert.deepEqual(plan.actions[0], { type: 'advance', from: 1, to: 2 });
    apply(devices, plan.actions, 115 * MIN, () => 'healthy');
    state = plan.next;
    assert.deepEqual(planRollout(state, s, devices, 144 * MIN).actions, []);
    plan = planRollout(state, s, devices, 145 * MIN);
    assert.deepEqual(plan.actions, [{ type: 'complete' }]);
    assert.equal(plan.next.status, 'completed');
    assert.deepEqual(planRollout(plan.next, s, devices, 999 * MIN).actions, []);
  });

  it('aborts when the failure rate crosses the threshold, and cancels offers not yet taken', () => {
    const devices = fleet(1000);
    const s = spec({ stages: [5, 100], abortFailureRate: 0.1, minDevices: 20, maxConcurrent: 50 });
    const plan = planRollout(rollout(), s, devices, 0);
    assert.equal(offers(plan.actions).length, 50);
    apply(devices, plan.actions, 0);
    const offered = devices.filter((d) => d.state === 'offered');
    // 19 settled, 3 failed: 16% but below min devices: keep going.
    offered.slice(0, 16).forEach((d) => Object.assign(d, { state: 'healthy', since: 1 }));
    offered.slice(16, 18).forEach((d) => Object.assign(d, { state: 'failed', since: 1 }));
    offered.slice(18, 19).forEach((d) => Object.assign(d, { state: 'rolled_back', since: 1 }));
    assert.equal(planRollout(rollout(), s, devices, 2).next.status, 'running');
    // The 20th settles healthy: 3 of 20 = 15% > 10%: abort.
    Object.assign(offered[19] ?? {}, { state: 'healthy', since: 2 });
    const aborted = planRollout(rollout(), s, devices, 3);
    assert.equal(aborted.next.status, 'aborted');
    assert.match(aborted.next.reason ?? '', /failure rate 15% \(3 of 20 settled devices\) exceeds 10% in stage 1/);
    assert.equal(aborted.actions.filter((a) => a.type === 'cancel').length, 30);
    assert.equal(offers(aborted.actions).length, 0);
  });

  it('aborts in a first stage smaller than min devices, and at exactly the threshold does not', () => {
    const devices = fleet(20);
    const first = planRollout(rollout(), spec(), devices, 0);
    assert.equal(offers(first.actions).length, 1);
    apply(devices, first.actions, 0, () => 'rolled_back');
    const plan = planRollout(rollout(), spec(), devices, 1);
    assert.equal(plan.next.status, 'aborted');
    assert.equal(plan.failureRate, 1);

    const ten = fleet(10);
    ten.forEach((d, i) => Object.assign(d, { state: i === 0 ? 'failed' : 'healthy', since: 0 }));
    const atThreshold = planRollout(rollout(), spec({ stages: [100], abortFailureRate: 0.1, minDevices: 1 }), ten, 1);
    assert.equal(atThreshold.next.status, 'running');
    assert.equal(planRollout(rollout(), spec({ stages: [100], abortFailureRate: 0, minDevices: 1 }), ten, 1).next.status, 'aborted');
  });

  it('times out a device stuck in a step, counting it as failed in the same plan', () => {
    const devices = fleet(100);
    const s = spec({ stages: [2, 100], stepTimeoutMs: 10 * MIN, abortFailureRate: 0.5, minDevices: 2 });
    const plan = planRollout(rollout(), s, devices, 0);
    apply(devices, plan.actions, 0);
    const [a, b] = devices.filter((d) => d.state === 'offered');
    assert.ok(a && b);
    Object.assign(a, { state: 'healthy', since: MIN });
    Object.assign(b, { state: 'downloading', since: MIN });
    assert.deepEqual(planRollout(rollout(), s, devices, 10 * MIN).actions, []);
    const late = planRollout(rollout(), s, devices, 11 * MIN);
    assert.deepEqual(late.actions[0], { type: 'time-out', deviceId: b.id, from: 'downloading' });
    // 1 of 2 = 50%: not above 50%; the stage is settled and bakes from the time-out.
    assert.equal(late.next.status, 'running');
    assert.equal(late.bakeEndsAt, 11 * MIN + s.bakeMs);
  });

  it('pauses: no offers and no advance, but stuck devices still time out; resume picks up', () => {
    const devices = fleet(100);
    const s = spec({ stages: [10, 100], maxConcurrent: 5, stepTimeoutMs: 10 * MIN, bakeMs: 0 });
    let state = rollout();
    const plan = planRollout(state, s, devices, 0);
    apply(devices, plan.actions, 0, () => 'healthy');
    state = pauseRollout(state);
    assert.equal(state.status, 'paused');
    assert.deepEqual(planRollout(state, s, devices, MIN).actions, []);
    assert.throws(() => pauseRollout(state), ConflictError);
    state = resumeRollout(state);
    const resumed = planRollout(state, s, devices, MIN);
    assert.equal(offers(resumed.actions).length, 5);

    apply(devices, resumed.actions, MIN);
    const paused = pauseRollout(state);
    const timedOut = planRollout(paused, s, devices, 20 * MIN);
    assert.equal(timedOut.actions.filter((a) => a.type === 'time-out').length, 5);
    // 5 of 10 failed > 5%: a paused rollout still aborts itself.
    assert.equal(timedOut.next.status, 'aborted');
  });

  it('operator abort is final; completed and aborted rollouts refuse commands', () => {
    const aborted = abortRollout(rollout());
    assert.equal(aborted.status, 'aborted');
    assert.equal(aborted.reason, 'aborted by the operator');
    assert.throws(() => resumeRollout(aborted), /stays aborted/);
    assert.throws(() => abortRollout(aborted), ConflictError);
    assert.throws(() => pauseRollout(rollout({ status: 'completed' })), ConflictError);
    assert.deepEqual(planRollout(aborted, spec(), fleet(5), 0).actions, []);
  });

  it('completes at once when no device needs the release', () => {
    const plan = planRollout(rollout(), spec(), fleet(5, { version: '2.0.0' }), 0);
    assert.deepEqual(plan.actions, [{ type: 'complete' }]);
    assert.equal(plan.skipped.length, 5);
  });
});

describe('a whole rollout, simulated', () => {
  function run(n: number, outcome: (id: string) => DeviceUpdateState): { state: RolloutState; devices: PlannerDevice[]; stageOf: Map<string, number>; steps: number; touched: number } {
    const devices = fleet(n);
    const s = spec({ stages: [1, 10, 50, 100], bakeMs: 30 * MIN, maxConcurrent: 4, abortFailureRate: 0.05, minDevices: 5 });
    let state = rollout();
    let now = 0;
    let steps = 0;
    const offeredAt = new Map<string, number>();
    const stageOf = new Map<string, number>();
    while (state.status === 'running' && steps < 10_000) {
      steps += 1;
      // Devices answer a minute after the offer.
      for (const d of devices) if (d.state === 'offered' && now - (offeredAt.get(d.id) ?? 0) >= MIN) Object.assign(d, { state: outcome(d.id), since: now });
      const plan = planRollout(state, s, devices, now);
      apply(devices, plan.actions, now);
      for (const a of plan.actions) {
        if (a.type !== 'offer') continue;
        offeredAt.set(a.deviceId, now);
        stageOf.set(a.deviceId, a.stage);
      }
      state = plan.next;
      now += MIN;
    }
    return { state, devices, stageOf, steps, touched: devices.filter((d) => d.state !== null).length };
  }

  it('reaches 100% with every device healthy, stage by stage', () => {
    const { state, devices, stageOf } = run(200, () => 'healthy');
    assert.equal(state.status, 'completed');
    assert.ok(devices.every((d) => d.state === 'healthy'));
    const summary = summarizeStages(spec(), 200, devices.map((d) => ({ state: 'healthy' as const, stage: stageOf.get(d.id) ?? -1 })));
    assert.deepEqual(summary.map((st) => st.target), [2, 20, 100, 200]);
    assert.deepEqual(summary.map((st) => st.counts.healthy), [2, 18, 80, 100]);
  });

  it('a release that fails its health check aborts in its first stage, touching only that stage', () => {
    const { state, touched } = run(200, () => 'rolled_back');
    assert.equal(state.status, 'aborted');
    assert.equal(state.stage, 0);
    assert.equal(touched, 2);
  });
});
