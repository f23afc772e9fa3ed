import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LedError, SimulatedLed } from '../../src/led/index.ts';
import { ledBackendConformance } from './conformance.ts';

describe('SimulatedLed conformance', () => {
  ledBackendConformance(
    () => new SimulatedLed(),
    (led) => led.level,
  );
});

describe('SimulatedLed', () => {
  it('records level changes with their time and emits them', async () => {
    let now = 100;
    const led = new SimulatedLed({ now: () => now });
    const seen: boolean[] = [];
    led.on('change', (transition) => seen.push(transition.on));
    await led.open();
    await led.set(true);
    now = 250;
    await led.set(true);
    await led.set(false);
    await led.close();
    assert.deepEqual(led.transitions(), [
      { at: 100, on: true },
      { at: 250, on: false },
    ]);
    assert.deepEqual(seen, [true, false]);
  });

  it('keeps only the newest transitions', async () => {
    const led = new SimulatedLed({ maxTransitions: 3, now: () => 0 });
    await led.open();
    for (const on of [true, false, true, false, true]) await led.set(on);
    await led.close();
    assert.deepEqual(
      led.transitions().map((x) => x.on),
      [false, true, false],
    );
  });

  it('refuses a bad history size', () => {
    assert.throws(() => new SimulatedLed({ maxTransitions: 0 }), LedError);
  });
});
