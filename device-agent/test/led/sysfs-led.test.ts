import assert from 'node:assert/strict';
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LedError, SysfsLed, activeTrigger } from '../../src/led/index.ts';
import { ledBackendConformance } from './conformance.ts';
import { defer } from './defer.ts';
import { makeLedTree, readLedFile } from './fake-sysfs.ts';

const roots = new WeakMap<SysfsLed, string>();

describe('SysfsLed conformance', () => {
  ledBackendConformance(
    async (t) => {
      const root = await makeLedTree(t, { ACT: { maxBrightness: '255\n' } });
      const led = new SysfsLed({ name: 'ACT', root });
      roots.set(led, root);
      return led;
    },
    async (led) => {
      const root = roots.get(led);
      assert.ok(root, 'a root for every LED made above');
      return Number(await readLedFile(root, 'ACT', 'brightness')) > 0;
    },
  );
});

describe('SysfsLed', () => {
  it('sets the trigger to none on open and restores it on close', async (t) => {
    const root = await makeLedTree(t, { ACT: { trigger: 'none [mmc0] timer heartbeat\n' } });
    const led = new SysfsLed({ name: 'ACT', root });
    defer(t, () => led.close());
    await led.open();
    assert.equal(await readLedFile(root, 'ACT', 'trigger'), 'none');
    await led.set(true);
    await led.close();
    assert.equal(await readLedFile(root, 'ACT', 'trigger'), 'mmc0');
    assert.equal(await readLedFile(root, 'ACT', 'brightness'), '0');
  });

  it('writes max_brightness for on, and 1 when max_brightness is missing', async (t) => {
    const root = await makeLedTree(t, { pwm: { maxBrightness: '255\n' }, plain: { maxBrightness: null } });
    const pwm = new SysfsLed({ name: 'pwm', root });
    const plain = new SysfsLed({ name: 'plain', root });
    defer(t, () => Promise.all([pwm.close(), plain.close()]));
    await pwm.open();
    await plain.open();
    await pwm.set(true);
    await plain.set(true);
    assert.equal(await readLedFile(root, 'pwm', 'brightness'), '255');
    assert.equal(await readLedFile(root, 'plain', 'brightness'), '1');
  });

  it('puts the brightness back on close when no trigger drove the LED', async (t) => {
    const root = await makeLedTree(t, { PWR: { brightness: '1\n', trigger: '[none] default-on\n' } });
    const led = new SysfsLed({ name: 'PWR', root });
    defer(t, () => led.close());
    await led.open();
    assert.equal(await readLedFile(root, 'PWR', 'brightness'), '0');
    await led.close();
    assert.equal(await readLedFile(root, 'PWR', 'brightness'), '1');
    assert.equal(await readLedFile(root, 'PWR', 'trigger'), '[none] default-on');
  });

  it('gives a clear error naming the LEDs that exist when the LED is missing', async (t) => {
    const root = await makeLedTree(t, { ACT: {}, PWR: {} });
    const led = new SysfsLed({ name: 'status', root });
    await assert.rejects(led.open(), (error: unknown) => {
      assert.ok(error instanceof LedError);
      assert.equal(error.code, 'led-not-found');
      assert.match(error.shortMessage, /status.*does not exist/);
      assert.match(error.details ?? '', /ACT, PWR/);
      return true;
    });
  });

  it('says so when the box has no LED class at all', async () => {
    const led = new SysfsLed({ name: 'ACT', root: join('/nonexistent', 'meshnode-leds') });
    await assert.rejects(led.open(), (error: unknown) => {
      assert.ok(error instanceof LedError);
      assert.equal(error.code, 'led-not-found');
      assert.match(error.details ?? '', /no LEDs under/);
      return true;
    });
  });

  it('reports a permission problem with what to do', { skip: process.getuid?.() === 0 && 'root ignores file modes' }, async (t) => {
    const root = await makeLedTree(t, { ACT: {} });
    await chmod(join(root, 'ACT', 'brightness'), 0o444);
    const led = new SysfsLed({ name: 'ACT', root });
    defer(t, () => led.close().catch(() => {}));
    await assert.rejects(led.open(), (error: unknown) => {
      assert.ok(error instanceof LedError);
      assert.equal(error.code, 'permission-denied');
      assert.match(error.details ?? '', /udev/);
      return true;
    });
  });

  it('refuses names that are not one directory', () => {
    for (const name of ['', '..', 'a/b']) {
      assert.throws(() => new SysfsLed({ name }), (error: unknown) => error instanceof LedError && error.code === 'invalid-config');
    }
  });

  it('reads the active trigger from a trigger file', () => {
    assert.equal(activeTrigger('none rc-feedback [mmc0] timer\n'), 'mmc0');
    assert.equal(activeTrigger('[none] timer'), 'none');
    assert.equal(activeTrigger('none\n'), 'none');
    assert.equal(activeTrigger('none timer'), null);
  });
});
