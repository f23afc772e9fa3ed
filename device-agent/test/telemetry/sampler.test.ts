import assert from 'node:assert/strict';
import { once } from 'node:events';
import { setImmediate } from 'node:timers/promises';
import { describe, it, type TestContext } from 'node:test';
import {
  TelemetryError,
  TelemetrySampler,
  type TelemetrySample,
  type TelemetrySamplerOptions,
} from '../../src/telemetry/index.ts';
import { ScriptedSource, deferred } from './scripted-source.ts';

const T0 = 1_700_000_000_000;
const INTERVAL = 10_000;

type MockedApi = 'setInterval' | 'setTimeout' | 'Date';

function setup(t: TestContext, options: Partial<TelemetrySamplerOptions> = {}, apis: MockedApi[] = ['setInterval', 'Date']) {
  t.mock.timers.enable({ apis, now: T0 });
  const source = new ScriptedSource();
  const sampler = new TelemetrySampler({ dataDir: '/data/meshnode', source, intervalMs: INTERVAL, ...options });
  const gates: Array<() => void> = [];
  /** Makes the next samples slow until the returned function is called (or the test ends). */
  const slowDown = (): (() => void) => {
    const gate = deferred();
    gates.push(gate.resolve);
    source.script.gate = gate.promise;
    return () => {
      source.script.gate = null;
      gate.resolve();
    };
  };
  t.after(async () => {
    for (const open of gates) open();
    await sampler.stop();
  });
  const failures: TelemetryError[] = [];
  sampler.on('failure', (error) => failures.push(error));
  /** The next sample, or a test failure after 5 s of real time. */
  const nextSample = async (): Promise<TelemetrySample> => {
    const [sample] = await once(sampler, 'sample', { signal: AbortSignal.timeout(5000) });
    return sample as TelemetrySample;
  };
  return { source, sampler, failures, nextSample, slowDown };
}

describe('TelemetrySampler', () => {
  it('does nothing until started', (t) => {
    const { source, sampler } = setup(t);
    assert.equal(Object.values(source.calls).reduce((a, b) => a + b, 0), 0);
    assert.equal(sampler.latest(), null);
    assert.deepEqual(sampler.history(), []);
    assert.equal(sampler.running, false);
  });

  it('samples at once on start, then once per interval', async (t) => {
    const { source, sampler, nextSample } = setup(t);
    const first = nextSample();
    await sampler.start();
    const a = await first;
    assert.equal(a.at, T0);
    assert.deepEqual(a.cpu, { loadPercent: 12.5, temperatureC: 55 });
    assert.deepEqual(a.memory, { usedBytes: 1000, totalBytes: 4000 });
    assert.deepEqual(a.disk, { path: '/data/meshnode', usedBytes: 10, totalBytes: 100, availableBytes: 85 });
    assert.equal(a.uptimeSec, 3600);
    assert.equal(a.network, null, 'no rate before a second reading');
    assert.deepEqual(source.diskPaths, ['/data/meshnode']);

    source.script.load = 40;
    const second = nextSample();
    t.mock.timers.tick(INTERVAL);
    const b = await second;
    assert.equal(b.at, T0 + INTERVAL);
    assert.equal(b.cpu.loadPercent, 40);
    assert.equal(sampler.latest(), b);
    assert.deepEqual(sampler.history(), [a, b]);
    assert.equal(source.calls.cpuLoad, 2);
  });

  it('never overlaps samples: a tick during a slow sample is skipped', async (t) => {
    const { source, sampler, nextSample, slowDown } = setup(t);
    const release = slowDown();
    await sampler.start();
    t.mock.timers.tick(INTERVAL);
    t.mock.timers.tick(INTERVAL);
    t.mock.timers.tick(INTERVAL);
    assert.equal(sampler.stats().skippedTicks, 3);
    const done = nextSample();
    release();
    await done;
    assert.equal(source.calls.cpuLoad, 1);
    const next = nextSample();
    t.mock.timers.tick(INTERVAL);
    await next;
    assert.equal(source.calls.cpuLoad, 2);
    assert.equal(sampler.stats().samples, 2);
  });

  it('lets sampleNow join the sample in flight', async (t) => {
    const { source, sampler, slowDown } = setup(t);
    const release = slowDown();
    const a = sampler.sampleNow();
    const b = sampler.sampleNow();
    release();
    assert.equal(await a, await b);
    assert.equal(source.calls.cpuLoad, 1);
  });

  it('keeps a bounded history, oldest first', async (t) => {
    const { source, sampler } = setup(t, { historyMs: 3 * INTERVAL });
    for (let i = 0; i < 5; i++) {
      source.script.uptimeSec = i;
      await sampler.sampleNow();
    }
    assert.deepEqual(
      sampler.history().map((s) => s.uptimeSec),
      [2, 3, 4],
    );
  });

  it('reports network rates between samples', async (t) => {
    const { source, sampler } = setup(t);
    source.script.counters = [
      { iface: 'eth0', rxBytes: 1_000, txBytes: 500 },
      { iface: 'wlan0', rxBytes: 0, txBytes: 0 },
    ];
    assert.equal((await sampler.sampleNow()).network, null);
    t.mock.timers.tick(INTERVAL);
    source.script.counters = [
      { iface: 'eth0', rxBytes: 101_000, txBytes: 20_500 },
      { iface: 'wlan0', rxBytes: 50_000, txBytes: 0 },
    ];
    assert.deepEqual((await sampler.sampleNow()).network, { rxBytesPerSec: 15_000, txBytesPerSec: 2_000 });
  });

  it('puts null for an optional reading that failed, and says which', async (t) => {
    const { source, sampler, failures } = setup(t);
    source.script.fail.gpu = new Error('nvidia-smi timed out');
    source.script.fail.disk = new Error('ENOENT: no such file or directory');
    source.script.throwSync.throttling = new Error('boom');
    const sample = await sampler.sampleNow();
    assert.equal(sample.gpu, null);
    assert.equal(sample.disk, null);
    assert.equal(sample.throttling, null);
    assert.equal(sample.cpu.temperatureC, 55);
    assert.deepEqual(failures.map((f) => [f.code, f.shortMessage]).sort(), [
      ['reading-failed', 'telemetry reading disk failed'],
      ['reading-failed', 'telemetry reading gpu failed'],
      ['reading-failed', 'telemetry reading throttling failed'],
    ]);
    assert.equal(sampler.latest(), sample);
  });

  it('fails the whole sample when a core reading fails, and carries on at the next tick', async (t) => {
    const { source, sampler, failures, nextSample } = setup(t);
    const cause = new Error('cannot read /proc/meminfo');
    source.script.fail.memory = cause;
    await assert.rejects(sampler.sampleNow(), (error: unknown) => {
      assert.ok(error instanceof TelemetryError);
      assert.equal(error.code, 'sample-failed');
      assert.equal(error.cause, cause);
      return true;
    });
    assert.equal(failures.length, 1);
    assert.equal(sampler.latest(), null);
    assert.equal(sampler.stats().failedSamples, 1);

    delete source.script.fail.memory;
    await sampler.start();
    const sample = await nextSample();
    assert.equal(sampler.latest(), sample);
  });

  it('clamps the CPU load to 0–100', async (t) => {
    const { source, sampler } = setup(t);
    source.script.load = 100.4;
    assert.equal((await sampler.sampleNow()).cpu.loadPercent, 100);
  });

  it('stops ticking, after the sample in flight is done', async (t) => {
    const { source, sampler, slowDown } = setup(t);
    const release = slowDown();
    const seen: TelemetrySample[] = [];
    sampler.on('sample', (s) => seen.push(s));
    await sampler.start();
    const stopped = sampler.stop();
    release();
    await stopped;
    assert.equal(seen.length, 1, 'the sample in flight completed before stop resolved');
    assert.equal(sampler.running, false);
    t.mock.timers.tick(10 * INTERVAL);
    assert.equal(source.calls.cpuLoad, 1);
  });

  it('fails a sample stuck past its deadline and samples again at the next tick', async (t) => {
    const { source, sampler, failures, nextSample, slowDown } = setup(t, { sampleTimeoutMs: 50 }, ['setInterval', 'setTimeout', 'Date']);
    slowDown();
    const stuck = sampler.sampleNow();
    await setImmediate(); // lets the sample start and arm its deadline
    t.mock.timers.tick(50);
    await assert.rejects(stuck, (e: unknown) => e instanceof TelemetryError && e.shortMessage === 'telemetry sample timed out');
    assert.equal(failures[0]?.code, 'sample-failed');
    source.script.gate = null;
    await sampler.start();
    await nextSample();
    assert.equal(sampler.stats().samples, 1);
  });

  it('refuses bad settings', () => {
    const source = new ScriptedSource();
    const bad = (options: TelemetrySamplerOptions) =>
      assert.throws(() => new TelemetrySampler(options), (e: unknown) => e instanceof TelemetryError && e.code === 'invalid-config');
    bad({ dataDir: '/data', source, intervalMs: 10 });
    bad({ dataDir: '/data', source, intervalMs: Number.NaN });
    bad({ dataDir: '/data', source, historyMs: -1 });
    bad({ dataDir: '', source });
    bad({ dataDir: '/data', source, sampleTimeoutMs: 0 });
  });

  it('sizes the history for one hour at the default interval', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval', 'Date'], now: T0 });
    const source = new ScriptedSource();
    const sampler = new TelemetrySampler({ dataDir: '/data', source });
    assert.equal(sampler.intervalMs, 10_000);
    for (let i = 0; i < 365; i++) {
      source.script.uptimeSec = i;
      await sampler.sampleNow();
    }
    const history = sampler.history();
    assert.equal(history.length, 360);
    assert.equal(history[0]?.uptimeSec, 5);
  });
});
