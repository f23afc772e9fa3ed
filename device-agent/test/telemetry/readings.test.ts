import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  RingBuffer,
  cpuLoadBetween,
  parseProcStat,
  gpuFromControllers,
  networkRates,
  parseNvidiaSmi,
  parseProcNetDev,
  parseThrottled,
  parseZoneTemp,
  pickCpuZone,
} from '../../src/telemetry/index.ts';

const MiB = 1024 * 1024;

describe('CPU times', () => {
  it('reads the aggregate line of /proc/stat, counting iowait as idle and leaving guest out', () => {
    const text = 'cpu  10 2 3 100 5 1 1 2 7 0\ncpu0 5 1 1 50 2 0 0 1 3 0\n';
    assert.deepEqual(parseProcStat(text), { busy: 19, total: 124 });
    assert.equal(parseProcStat('cpu0 1 2 3 4\n'), null);
    assert.equal(parseProcStat('cpu  a b c d'), null);
  });

  it('gives the busy share between two readings', () => {
    assert.equal(cpuLoadBetween({ busy: 0, total: 0 }, { busy: 25, total: 100 }), 25);
    assert.equal(cpuLoadBetween({ busy: 10, total: 100 }, { busy: 10, total: 100 }), null);
    assert.equal(cpuLoadBetween({ busy: 10, total: 100 }, { busy: 300, total: 200 }), 100);
  });
});

describe('parseThrottled', () => {
  it('reads the Raspberry Pi flags', () => {
    const t = parseThrottled('throttled=0x50005\n');
    assert.ok(t);
    assert.equal(t.raw, 0x50005);
    assert.equal(t.underVoltage, true);
    assert.equal(t.frequencyCapped, false);
    assert.equal(t.throttled, true);
    assert.equal(t.softTemperatureLimit, false);
    assert.equal(t.underVoltageOccurred, true);
    assert.equal(t.frequencyCappedOccurred, false);
    assert.equal(t.throttledOccurred, true);
    assert.equal(t.softTemperatureLimitOccurred, false);
  });

  it('reads a healthy Pi and refuses other text', () => {
    assert.equal(parseThrottled('throttled=0x0')?.throttledOccurred, false);
    assert.equal(parseThrottled('VCHI initialization failed'), null);
    assert.equal(parseThrottled(''), null);
  });
});

describe('parseProcNetDev and networkRates', () => {
  const procNetDev = [
    'Inter-|   Receive                                                |  Transmit',
    ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
    '    lo:    3193      39    0    0    0     0          0         0     3193      39    0    0    0     0       0          0',
    '  eth0: 687896062 468541    0    0    0     0          0         0  1215225   17760    0    0    0     0       0          0',
    'wlan0:12 1 0 0 0 0 0 0 34 1 0 0 0 0 0 0',
  ].join('\n');

  it('reads received and transmitted bytes per interface', () => {
    assert.deepEqual(parseProcNetDev(procNetDev), [
      { iface: 'lo', rxBytes: 3193, txBytes: 3193 },
      { iface: 'eth0', rxBytes: 687896062, txBytes: 1215225 },
      { iface: 'wlan0', rxBytes: 12, txBytes: 34 },
    ]);
  });

  it('averages bytes per second over the interfaces seen twice', () => {
    const rates = networkRates(
      { at: 0, counters: [{ iface: 'eth0', rxBytes: 100, txBytes: 100 }] },
      {
        at: 2000,
        counters: [
          { iface: 'eth0', rxBytes: 2100, txBytes: 300 },
          { iface: 'usb0', rxBytes: 9_999_999, txBytes: 9_999_999 },
        ],
      },
    );
    assert.deepEqual(rates, { rxBytesPerSec: 1000, txBytesPerSec: 100 });
  });

  it('leaves out a counter that went back, and refuses a clock that did not move', () => {
    const before = { at: 0, counters: [{ iface: 'eth0', rxBytes: 5000, txBytes: 5000 }, { iface: 'wlan0', rxBytes: 0, txBytes: 0 }] };
    const after = { at: 1000, counters: [{ iface: 'eth0', rxBytes: 10, txBytes: 10 }, { iface: 'wlan0', rxBytes: 70, txBytes: 30 }] };
    assert.deepEqual(networkRates(before, after), { rxBytesPerSec: 70, txBytesPerSec: 30 });
    assert.equal(networkRates(before, { ...after, at: 0 }), null);
    assert.equal(networkRates(before, { ...after, at: -5 }), null);
  });
});

describe('GPU readings', () => {
  it('takes the named controller with live figures from systeminformation', () => {
    const gpu = gpuFromControllers([
      { model: '', vram: null },
      { model: 'llvmpipe', vram: 256 },
      { model: 'GA102', name: 'NVIDIA GeForce RTX 3090', utilizationGpu: 37, memoryUsed: 1024, memoryTotal: 24576, temperatureGpu: 61 },
    ]);
    assert.deepEqual(gpu, {
      name: 'NVIDIA GeForce RTX 3090',
      utilizationPercent: 37,
      memoryUsedBytes: 1024 * MiB,
      memoryTotalBytes: 24576 * MiB,
      temperatureC: 61,
    });
  });

  it('reports name and memory alone for a GPU without live figures, and null for none', () => {
    assert.deepEqual(gpuFromControllers([{ model: 'VideoCore VI', vram: 76 }]), {
      name: 'VideoCore VI',
      utilizationPercent: null,
      memoryUsedBytes: null,
      memoryTotalBytes: 76 * MiB,
      temperatureC: null,
    });
    assert.equal(gpuFromControllers([]), null);
    assert.equal(gpuFromControllers([{ model: '  ' }]), null);
  });

  it('parses nvidia-smi, with [N/A] as null', () => {
    assert.deepEqual(parseNvidiaSmi('45, 2048, 8192, 66\n12, 0, 8192, 40\n'), {
      utilizationPercent: 45,
      memoryUsedBytes: 2048 * MiB,
      memoryTotalBytes: 8192 * MiB,
      temperatureC: 66,
    });
    assert.deepEqual(parseNvidiaSmi('[N/A], 100, 200, [Not Supported]'), {
      utilizationPercent: null,
      memoryUsedBytes: 100 * MiB,
      memoryTotalBytes: 200 * MiB,
      temperatureC: null,
    });
    assert.equal(parseNvidiaSmi(''), null);
    assert.equal(parseNvidiaSmi('garbage'), null);
  });
});

describe('thermal zones', () => {
  it('picks the zone that stands for the CPU', () => {
    const zone = (type: string) => ({ path: `/z/${type}`, type });
    assert.equal(pickCpuZone([zone('acpitz'), zone('x86_pkg_temp')])?.type, 'x86_pkg_temp');
    assert.equal(pickCpuZone([zone('GPU-therm'), zone('AO-therm'), zone('CPU-therm')])?.type, 'CPU-therm');
    assert.equal(pickCpuZone([zone('cpu-thermal')])?.type, 'cpu-thermal');
    assert.equal(pickCpuZone([zone('GPU-therm'), zone('soc-thermal')])?.type, 'soc-thermal');
    assert.equal(pickCpuZone([]), null);
  });

  it('reads millidegrees and refuses implausible values', () => {
    assert.equal(parseZoneTemp('48312\n'), 48.3);
    assert.equal(parseZoneTemp('-5000'), -5);
    assert.equal(parseZoneTemp('-273150'), null);
    assert.equal(parseZoneTemp('200000'), null);
    assert.equal(parseZoneTemp(''), null);
    assert.equal(parseZoneTemp('n/a'), null);
  });
});

describe('RingBuffer', () => {
  it('keeps the newest items, oldest first', () => {
    const ring = new RingBuffer<number>(3);
    assert.deepEqual(ring.toArray(), []);
    for (const n of [1, 2]) ring.push(n);
    assert.deepEqual(ring.toArray(), [1, 2]);
    for (const n of [3, 4, 5, 6, 7]) ring.push(n);
    assert.deepEqual(ring.toArray(), [5, 6, 7]);
    assert.equal(ring.size, 3);
  });

  it('refuses a capacity below one', () => {
    assert.throws(() => new RingBuffer(0), RangeError);
  });
});
