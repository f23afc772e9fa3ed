import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { GpioLed, LedError } from '../../src/led/index.ts';
import { ledBackendConformance } from './conformance.ts';
import { makeFakeGpio, type FakeGpioWorld } from './fake-gpio.ts';

const PIN = 17;
const worlds = new WeakMap<GpioLed, FakeGpioWorld>();

function pinOf(led: GpioLed) {
  const pin = worlds.get(led)?.pins.get(PIN);
  assert.ok(pin, 'the pin was opened');
  return pin;
}

for (const activeLow of [false, true]) {
  describe(`GpioLed conformance (${activeLow ? 'active-low' : 'active-high'} wiring)`, () => {
    ledBackendConformance(
      () => {
        const world = makeFakeGpio();
        const led = new GpioLed({ pin: PIN, activeLow, Gpio: world.Gpio });
        worlds.set(led, world);
        return led;
      },
      // What the wiring shows: an active-low LED is lit when the pin is electrically low.
      (led) => pinOf(led).raw === (activeLow ? 0 : 1),
    );
  });
}

describe('GpioLed', () => {
  it('makes the pin an output that starts dark, without a flash', async () => {
    for (const activeLow of [false, true]) {
      const world = makeFakeGpio();
      const led = new GpioLed({ pin: PIN, activeLow, Gpio: world.Gpio });
      await led.open();
      const pin = world.pins.get(PIN);
      assert.ok(pin);
      assert.equal(pin.direction, activeLow ? 'high' : 'low');
      assert.equal(pin.activeLow, activeLow);
      await led.close();
      assert.equal(pin.exported, false);
    }
  });

  it('says GPIO is not accessible when the Gpio class reports so', async () => {
    const led = new GpioLed({ pin: PIN, Gpio: makeFakeGpio({ accessible: false }).Gpio });
    await assert.rejects(led.open(), (error: unknown) => error instanceof LedError && error.code === 'gpio-unavailable');
  });

  it('uses the real onoff by default, which finds no GPIO on a host without /sys/class/gpio', { skip: existsSync('/sys/class/gpio/export') && 'this host has sysfs GPIO' }, async () => {
    const led = new GpioLed({ pin: PIN });
    await assert.rejects(led.open(), (error: unknown) => {
      assert.ok(error instanceof LedError);
      assert.equal(error.code, 'gpio-unavailable');
      assert.match(error.details ?? '', /sysfs or simulated LED/);
      return true;
    });
    await led.close();
  });

  it('maps a permission error on export to a clear LedError', async () => {
    const eacces = Object.assign(new Error('EACCES: permission denied, open /sys/class/gpio/export'), { code: 'EACCES' });
    const led = new GpioLed({ pin: PIN, Gpio: makeFakeGpio({ constructorError: eacces }).Gpio });
    await assert.rejects(led.open(), (error: unknown) => {
      assert.ok(error instanceof LedError);
      assert.equal(error.code, 'permission-denied');
      assert.equal(error.cause, eacces);
      assert.match(error.details ?? '', /gpio group/);
      return true;
    });
  });

  it('refuses a bad pin number', () => {
    for (const pin of [-1, 1.5, Number.NaN]) {
      assert.throws(() => new GpioLed({ pin }), (error: unknown) => error instanceof LedError && error.code === 'invalid-config');
    }
  });
});
