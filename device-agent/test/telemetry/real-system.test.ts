/**
 * One sample of this very machine through systeminformation and the kernel:
 * numbers where it has them, null where it has none.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { TelemetrySampler, createSystemSource, toTelemetryWire, type TelemetryError } from '../../src/telemetry/index.ts';

function hasThermalZones(): boolean {
  try {
    return readdirSync('/sys/class/thermal').some((name) => name.startsWith('thermal_zone'));
  } catch {
    return false;
  }
}

function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

describe('TelemetrySampler on this machine', () => {
  it('gives a well-shaped sample', async (t) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'meshnode-data-'));
    t.after(() => rm(dataDir, { recursive: true, force: true }));
    const sampler = new TelemetrySampler({ dataDir, source: createSystemSource() });
    t.after(() => sampler.stop());
    const failures: TelemetryError[] = [];
    sampler.on('failure', (e) => failures.push(e));

    const first = await sampler.sampleNow();
    const sample = await sampler.sampleNow();
    assert.deepEqual(failures, []);

    assert.ok(isNumber(sample.at));
    assert.ok(isNumber(sample.cpu.loadPercent) && sample.cpu.loadPercent >= 0 && sample.cpu.loadPercent <= 100);
    assert.ok(isNumber(sample.memory.totalBytes) && sample.memory.totalBytes > 0);
    assert.ok(isNumber(sample.memory.usedBytes) && sample.memory.usedBytes > 0 && sample.memory.usedBytes <= sample.memory.totalBytes);
    assert.ok(sample.disk);
    assert.equal(sample.disk.path, dataDir);
    assert.ok(sample.disk.totalBytes > 0 && sample.disk.usedBytes <= sample.disk.totalBytes);
    assert.ok(isNumber(sample.uptimeSec) && sample.uptimeSec > 0);
    assert.equal(first.network, null);
    if (existsSync('/proc/net/dev')) {
      assert.ok(sample.network, 'a rate from the second sample');
      assert.ok(sample.network.rxBytesPerSec >= 0 && sample.network.txBytesPerSec >= 0);
    }
    if (hasThermalZones()) assert.ok(sample.cpu.temperatureC === null || isNumber(sample.cpu.temperatureC));
    else assert.equal(sample.cpu.temperatureC, null, 'no thermal zones here');
    if (!hasCommand('vcgencmd')) assert.equal(sample.throttling, null);
    if (sample.gpu !== null) assert.equal(typeof sample.gpu.name, 'string');
    else assert.equal(sample.gpu, null);

    const wire = toTelemetryWire(sample);
    assert.deepEqual(JSON.parse(JSON.stringify(wire)), wire);
  });
});
