/**
 * The behaviour every LED backend must share (in the style of MQTT.js's
 * abstract_store tests). Each backend's test file calls this with a factory
 * and a way to read what the LED shows physically.
 */
import assert from 'node:assert/strict';
import { it, type TestContext } from 'node:test';
import {
  LED_PATTERNS,
  LedController,
  LedError,
  levelAt,
  patternPeriod,
  type AgentStatus,
  type LedBackend,
} from '../../src/led/index.ts';
import { defer } from './defer.ts';

export type MakeBackend<B extends LedBackend> = (t: TestContext) => B | Promise<B>;
export type ReadLevel<B extends LedBackend> = (backend: B) => boolean | Promise<boolean>;

export const runningStatus: AgentStatus = {
  phase: 'running',
  connected: true,
  ownerBound: true,
  working: false,
  updating: false,
  overheating: false,
  error: null,
  identifyUntil: null,
  now: 0,
};

async function opened<B extends LedBackend>(t: TestContext, make: MakeBackend<B>): Promise<B> {
  const backend = await make(t);
  defer(t, () => backend.close());
  await backend.open();
  return backend;
}

async function rejectsNotOpen(promise: Promise<unknown>): Promise<void> {
  await assert.rejects(promise, (error: unknown) => error instanceof LedError && error.code === 'not-open');
}

export function ledBackendConformance<B extends LedBackend>(makeBackend: MakeBackend<B>, readLevel: ReadLevel<B>): void {
  it('has a name', async (t) => {
    const backend = await makeBackend(t);
    assert.equal(typeof backend.name, 'string');
    assert.ok(backend.name.length > 0);
  });

  it('is off after open, even when it was on before', async (t) => {
    const backend = await opened(t, makeBackend);
    assert.equal(await readLevel(backend), false);
    await backend.set(true);
    await backend.close();
    await backend.open();
    assert.equal(await readLevel(backend), false);
  });

  it('lights on set(true) and goes dark on set(false)', async (t) => {
    const backend = await opened(t, makeBackend);
    await backend.set(true);
    assert.equal(await readLevel(backend), true);
    await backend.set(true);
    assert.equal(await readLevel(backend), true);
    await backend.set(false);
    assert.equal(await readLevel(backend), false);
    await backend.set(false);
    assert.equal(await readLevel(backend), false);
  });

  it('treats a second open as a no-op', async (t) => {
    const backend = await opened(t, makeBackend);
    await backend.set(true);
    await backend.open();
    assert.equal(await readLevel(backend), true);
  });

  it('refuses set() before open with a not-open LedError', async (t) => {
    const backend = await makeBackend(t);
    await rejectsNotOpen(backend.set(true));
  });

  it('turns the LED off on close, refuses set() afterwards, and closes twice safely', async (t) => {
    const backend = await opened(t, makeBackend);
    await backend.set(true);
    await backend.close();
    assert.equal(await readLevel(backend), false);
    await rejectsNotOpen(backend.set(true));
    await backend.close();
  });

  it('closes safely when it was never opened', async (t) => {
    const backend = await makeBackend(t);
    await backend.close();
  });

  it('works again after close and reopen', async (t) => {
    const backend = await opened(t, makeBackend);
    await backend.close();
    await backend.open();
    await backend.set(true);
    assert.equal(await readLevel(backend), true);
  });

  it('shows every step of a state pattern when driven by LedController', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    const backend = await makeBackend(t);
    const controller = new LedController({ backend });
    defer(t, () => controller.stop());
    await controller.start();
    controller.update({ ...runningStatus, working: true, now: Date.now() });
    const pattern = LED_PATTERNS.working;
    let elapsed = 0;
    for (let cycle = 0; cycle < 2; cycle++) {
      for (const step of pattern) {
        await controller.flush();
        assert.equal(await readLevel(backend), step.on, `at ${elapsed} ms`);
        assert.equal(levelAt(pattern, elapsed), step.on);
        t.mock.timers.tick(step.ms);
        elapsed += step.ms;
      }
    }
    await controller.stop();
    assert.equal(await readLevel(backend), false);
  });

  it('shows a new state at once, within one pattern period at most', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    const backend = await makeBackend(t);
    const controller = new LedController({ backend, initialState: 'idle' });
    defer(t, () => controller.stop());
    await controller.start();
    t.mock.timers.tick(500); // idle is dark for the next 2.4 s
    await controller.flush();
    assert.equal(await readLevel(backend), false);

    controller.update({ ...runningStatus, ownerBound: false, now: Date.now() });
    await controller.flush();
    assert.equal(await readLevel(backend), true, 'unclaimed starts lit, without waiting for idle to end');
    const period = patternPeriod(LED_PATTERNS.unclaimed);
    for (let at = 0; at < period; at += 100) {
      await controller.flush();
      assert.equal(await readLevel(backend), levelAt(LED_PATTERNS.unclaimed, at), `at ${at} ms`);
      t.mock.timers.tick(100);
    }
  });
}
