import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_OVERHEAT_THRESHOLDS,
  TelemetryError,
  isOverheating,
  toTelemetryWire,
  type TelemetrySample,
} from '../../src/telemetry/index.ts';

const base: TelemetrySample = {
  at: 1_700_000_000_123,
  cpu: { loadPercent: 12.345, temperatureC: 50 },
  memory: { usedBytes: 1_000_000, totalBytes: 8_000_000 },
  disk: { path: '/data', usedBytes: 10.4, totalBytes: 100, availableBytes: 85 },
  network: { rxBytesPerSec: 1234.56, txBytesPerSec: 0.4 },
  uptimeSec: 3600.97,
  throttling: null,
  gpu: null,
};

const withTemps = (cpuC: number | null, gpuC?: number | null): TelemetrySample => ({
  ...base,
  cpu: { ...base.cpu, temperatureC: cpuC },
  gpu:
    gpuC === undefined
      ? null
      : { name: 'gpu', utilizationPercent: null, memoryUsedBytes: null, memoryTotalBytes: null, temperatureC: gpuC },
});

describe('isOverheating', () => {
  it('gets hot at 80 °C and cool again only at 70 °C', () => {
    assert.deepEqual(DEFAULT_OVERHEAT_THRESHOLDS, { hotC: 80, coolC: 70 });
    let hot = false;
    const seen: boolean[] = [];
    for (const c of [60, 79.9, 80, 75, 70.1, 70, 75, 79]) {
      hot = isOverheating(withTemps(c), DEFAULT_OVERHEAT_THRESHOLDS, hot);
      seen.push(hot);
    }
    assert.deepEqual(seen, [false, false, true, true, true, false, false, false]);
  });

  it('uses the hotter of CPU and GPU', () => {
    assert.equal(isOverheating(withTemps(50, 85)), true);
    assert.equal(isOverheating(withTemps(null, 85)), true);
    assert.equal(isOverheating(withTemps(65, 75), undefined, true), true);
    assert.equal(isOverheating(withTemps(65, 69), undefined, true), false);
  });

  it('keeps the previous answer when there is no temperature', () => {
    assert.equal(isOverheating(withTemps(null), undefined, true), true);
    assert.equal(isOverheating(withTemps(null, null), undefined, false), false);
  });

  it('takes other thresholds, and refuses ones without a gap', () => {
    assert.equal(isOverheating(withTemps(66), { hotC: 65, coolC: 55 }), true);
    for (const bad of [{ hotC: 70, coolC: 70 }, { hotC: 60, coolC: 70 }, { hotC: Number.NaN, coolC: 1 }]) {
      assert.throws(() => isOverheating(withTemps(50), bad), (e: unknown) => e instanceof TelemetryError && e.code === 'invalid-config');
    }
  });
});

describe('toTelemetryWire', () => {
  it('gives a flat object of rounded plain numbers', () => {
    assert.deepEqual(toTelemetryWire(base), {
      at: 1_700_000_000_123,
      cpuPct: 12.3,
      cpuC: 50,
      memUsed: 1_000_000,
      memTotal: 8_000_000,
      diskUsed: 10,
      diskTotal: 100,
      diskAvail: 85,
      rxBps: 1235,
      txBps: 0,
      upS: 3600,
      throttled: null,
      gpu: null,
    });
  });

  it('writes null, never undefined, for what the box does not have, and survives JSON', () => {
    const sample: TelemetrySample = {
      ...base,
      cpu: { loadPercent: 3, temperatureC: null },
      disk: null,
      network: null,
      throttling: {
        raw: 0x50000,
        underVoltage: false,
        frequencyCapped: false,
        throttled: false,
        softTemperatureLimit: false,
        underVoltageOccurred: true,
        frequencyCappedOccurred: false,
        throttledOccurred: true,
        softTemperatureLimitOccurred: false,
      },
      gpu: { name: 'VideoCore VI', utilizationPercent: null, memoryUsedBytes: null, memoryTotalBytes: 76 * 1024 * 1024, temperatureC: Number.NaN },
    };
    const wire = toTelemetryWire(sample);
    const walk = (value: unknown): void => {
      assert.notEqual(value, undefined);
      if (typeof value === 'number') assert.ok(Number.isFinite(value));
      if (value && typeof value === 'object') for (const v of Object.values(value)) walk(v);
    };
    walk(wire);
    assert.deepEqual(JSON.parse(JSON.stringify(wire)), wire);
    assert.equal(wire.throttled, 0x50000);
    assert.deepEqual(wire.gpu, { name: 'VideoCore VI', pct: null, memUsed: null, memTotal: 76 * 1024 * 1024, c: null });
    assert.equal(wire.diskUsed, null);
    assert.equal(wire.rxBps, null);
  });
});
