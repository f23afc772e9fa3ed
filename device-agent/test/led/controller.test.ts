import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import {
  LED_PATTERNS,
  LedController,
  LedError,
  SimulatedLed,
  SysfsLed,
  levelAt,
  patternPeriod,
  type AgentStatus,
  type LedBackend,
  type LedClock,
  type LedSnapshot,
  type LedState,
} from '../../src/led/index.ts';
import { runningStatus } from './conformance.ts';
import { defer } from './defer.ts';
import { makeLedTree } from './fake-sysfs.ts';

const T0 = 1_700_000_000_000;

/** Wraps a simulated LED, counting calls and failing writes on demand. */
class CountingLed implements LedBackend {
  readonly name = 'counting';
  readonly led = new SimulatedLed({ now: () => Date.now() });
  opens = 0;
  sets = 0;
  failNext = 0;

  async open(): Promise<void> {
    this.opens += 1;
    await this.led.open();
  }

  async set(on: boolean): Promise<void> {
    this.sets += 1;
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error('EIO: i/o error, write');
    }
    await this.led.set(on);
  }

  async close(): Promise<void> {
    await this.led.close();
  }
}

/** A clock moved by hand: `advance` runs what falls due, in time order. */
class ManualClock implements LedClock {
  time = T0;
  #timers: Array<{ at: number; fn: () => void; id: number }> = [];
  #nextId = 0;

  now(): number {
    return this.time;
  }

  schedule(fn: () => void, ms: number): () => void {
    const id = this.#nextId++;
    this.#timers.push({ at: this.time + ms, fn, id });
    return () => {
      this.#timers = this.#timers.filter((timer) => timer.id !== id);
    };
  }

  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const due = this.#timers.filter((timer) => timer.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((timer) => timer !== due);
      this.time = due.at;
      due.fn();
    }
    this.time = end;
  }
}

function setup(t: TestContext, initialState?: LedState) {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T0 });
  const backend = new CountingLed();
  const controller = new LedController({ backend, ...(initialState ? { initialState } : {}) });
  const states: LedSnapshot[] = [];
  controller.on('state', (snapshot) => states.push(snapshot));
  defer(t, () => controller.stop());
  const status = (patch: Partial<AgentStatus>): AgentStatus => ({ ...runningStatus, now: Date.now(), ...patch });
  const advance = async (ms: number) => {
    t.mock.timers.tick(ms);
    await controller.flush();
  };
  return { backend, controller, states, status, advance };
}

describe('LedController', () => {
  it('does nothing until started', (t) => {
    const { backend, controller } = setup(t);
    assert.equal(backend.opens, 0);
    assert.equal(controller.snapshot().running, false);
    assert.equal(controller.snapshot().since, null);
  });

  it('starts by showing booting, steady on, and says so', async (t) => {
    const { backend, controller, states } = setup(t);
    await controller.start();
    await controller.flush();
    assert.equal(backend.led.level, true);
    assert.deepEqual(
      states.map((s) => [s.state, s.since]),
      [['booting', T0]],
    );
    assert.equal(controller.snapshot().level, true);
    assert.equal(controller.snapshot().backend, 'counting');
  });

  it('follows the working pattern and writes only when the level changes', async (t) => {
    const { backend, controller, status, advance } = setup(t, 'working');
    await controller.start();
    controller.update(status({ working: true }));
    await controller.flush();
    const period = patternPeriod(LED_PATTERNS.working);
    for (let at = 0; at < 3 * period; at += 10) {
      assert.equal(backend.led.level, levelAt(LED_PATTERNS.working, at), `at ${at} ms`);
      await advance(10);
    }
    // The first write, then four changes per cycle (the fourth starts the next one).
    assert.equal(backend.sets, backend.led.transitions().length);
    assert.equal(backend.sets, 1 + 3 * 4);
  });

  it('switches pattern at once on a state change, mid-step', async (t) => {
    const { backend, controller, states, status, advance } = setup(t, 'idle');
    await controller.start();
    await advance(500); // idle: dark until 3000 ms
    assert.equal(backend.led.level, false);
    assert.equal(controller.update(status({ error: 'disk full' })), 'error');
    await controller.flush();
    assert.equal(backend.led.level, true);
    await advance(150);
    assert.equal(backend.led.level, false);
    await advance(150);
    assert.equal(backend.led.level, true);
    assert.deepEqual(
      states.map((s) => [s.state, s.since]),
      [
        ['idle', T0],
        ['error', T0 + 500],
      ],
    );
  });

  it('keeps the phase when the state does not change', async (t) => {
    const { backend, controller, states, status, advance } = setup(t, 'unclaimed');
    await controller.start();
    await advance(900);
    controller.update(status({ ownerBound: false }));
    await advance(100);
    assert.equal(backend.led.level, false, 'the 1 s on-step ended on time, not 1 s after the update');
    assert.equal(states.length, 1);
  });

  it('ends identify on time without another update', async (t) => {
    const { backend, controller, status, advance } = setup(t, 'idle');
    await controller.start();
    controller.update(status({ identifyUntil: Date.now() + 5000 }));
    assert.equal(controller.state, 'identify');
    await advance(4999);
    assert.equal(controller.state, 'identify');
    await advance(1);
    assert.equal(controller.state, 'idle');
    assert.equal(backend.led.level, true, 'idle starts with its blip');
  });

  it('shows a state given before start once started', async (t) => {
    const { backend, controller, status } = setup(t);
    controller.update(status({ connected: false }));
    assert.equal(backend.opens, 0);
    await controller.start();
    assert.equal(controller.state, 'offline');
    assert.deepEqual(controller.snapshot().pattern, LED_PATTERNS.offline);
  });

  it('turns the LED off on stop and writes nothing afterwards', async (t) => {
    const { backend, controller, advance } = setup(t, 'working');
    await controller.start();
    await advance(50);
    assert.equal(backend.led.level, true);
    await controller.stop();
    assert.equal(backend.led.level, false);
    assert.equal(backend.led.isOpen, false);
    const sets = backend.sets;
    await advance(10_000);
    assert.equal(backend.sets, sets);
    assert.equal(controller.snapshot().running, false);
  });

  it('reports a failed write and tries again at the next level change', async (t) => {
    const { backend, controller, advance } = setup(t, 'unclaimed');
    const failures: LedError[] = [];
    controller.on('writeFailed', (error) => failures.push(error));
    backend.failNext = 1;
    await controller.start();
    await controller.flush();
    assert.equal(failures.length, 1);
    assert.ok(failures[0] instanceof LedError);
    assert.equal(failures[0].code, 'io-failed');
    assert.equal(controller.snapshot().lastError, failures[0]);
    await advance(1000);
    assert.equal(backend.led.level, false);
    await advance(1000);
    assert.equal(backend.led.level, true);
    assert.equal(controller.snapshot().lastError, null);
  });

  it('runs on an injected clock, with no timers of its own', async (t) => {
    const clock = new ManualClock();
    const backend = new CountingLed();
    const controller = new LedController({ backend, clock, initialState: 'offline' });
    defer(t, () => controller.stop());
    await controller.start();
    const levels: boolean[] = [];
    for (const step of LED_PATTERNS.offline) {
      await controller.flush();
      levels.push(backend.led.level);
      clock.advance(step.ms);
    }
    assert.deepEqual(
      levels,
      LED_PATTERNS.offline.map((step) => step.on),
    );
    assert.equal(controller.snapshot().since, T0);
  });

  it('rejects start when the LED cannot be opened, and stays stopped', async (t) => {
    const root = await makeLedTree(t, {});
    const controller = new LedController({ backend: new SysfsLed({ name: 'ACT', root }) });
    await assert.rejects(controller.start(), (error: unknown) => error instanceof LedError && error.code === 'led-not-found');
    assert.equal(controller.snapshot().running, false);
    await controller.stop();
  });
});
