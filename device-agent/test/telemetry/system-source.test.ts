import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import {
  NVIDIA_SMI_ARGS,
  TelemetryError,
  createSystemSource,
  type CommandRunner,
  type GraphicsControllerLike,
  type SystemInformationLike,
} from '../../src/telemetry/index.ts';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'meshnode-telemetry-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** systeminformation as scripted by the test, counting calls. */
function fakeSi(overrides: { temperature?: number | null; controllers?: GraphicsControllerLike[] } = {}) {
  const calls = { cpuTemperature: 0, graphics: 0, networkStats: 0 };
  const si: SystemInformationLike = {
    currentLoad: async () => ({ currentLoad: 23.5 }),
    cpuTemperature: async () => {
      calls.cpuTemperature += 1;
      return { main: overrides.temperature ?? null };
    },
    mem: async () => ({ total: 8_000, available: 6_500 }),
    networkStats: async () => {
      calls.networkStats += 1;
      return [
        { iface: 'lo', rx_bytes: 1, tx_bytes: 1 },
        { iface: 'en0', rx_bytes: 10, tx_bytes: 20 },
      ];
    },
    graphics: async () => {
      calls.graphics += 1;
      return { controllers: overrides.controllers ?? [] };
    },
  };
  return { si, calls };
}

type Answer = string | NodeJS.ErrnoException;

/** A command runner answering from a table, recording what was run. */
function fakeRunner(answers: Record<string, Answer | Answer[]>) {
  const runs: string[] = [];
  const runner: CommandRunner = async (file, args) => {
    const line = [file, ...args].join(' ');
    runs.push(line);
    const entry = answers[file];
    const answer = Array.isArray(entry) ? entry.shift() : entry;
    if (answer === undefined) throw Object.assign(new Error(`spawn ${file} ENOENT`), { code: 'ENOENT' });
    if (answer instanceof Error) throw answer;
    return answer;
  };
  return { runner, runs };
}

/** Paths where nothing exists, so only what a test sets up is read. */
async function emptyRoots(t: TestContext) {
  const dir = await tempDir(t);
  return {
    thermalRoot: join(dir, 'thermal'),
    procNetDev: join(dir, 'net-dev'),
    netRoot: join(dir, 'net'),
    procStat: join(dir, 'stat'),
  };
}

describe('createSystemSource', () => {
  it('reads nothing and loads nothing when created', () => {
    const { si, calls } = fakeSi();
    const { runner, runs } = fakeRunner({});
    createSystemSource({ si, runCommand: runner });
    assert.deepEqual(calls, { cpuTemperature: 0, graphics: 0, networkStats: 0 });
    assert.deepEqual(runs, []);
  });

  it('reads CPU load and memory through systeminformation where /proc/stat is missing', async (t) => {
    const source = createSystemSource({ si: fakeSi().si, ...(await emptyRoots(t)) });
    assert.equal(await source.cpuLoad(), 23.5);
    assert.deepEqual(await source.memory(), { totalBytes: 8000, usedBytes: 1500 });
  });

  it('refuses a CPU load that is not a number', async (t) => {
    const si = { ...fakeSi().si, currentLoad: async () => ({ currentLoad: Number.NaN }) };
    await assert.rejects(createSystemSource({ si, ...(await emptyRoots(t)) }).cpuLoad(), TelemetryError);
  });

  it('reads CPU load from /proc/stat, between one call and the next', async (t) => {
    const roots = await emptyRoots(t);
    const stat = (user: number, idle: number, iowait: number) =>
      `cpu  ${user} 0 0 ${idle} ${iowait} 0 0 0 0 0\ncpu0 ${user} 0 0 ${idle} ${iowait} 0 0 0 0 0\nintr 1 2 3\n`;
    await writeFile(roots.procStat, stat(100, 800, 100));
    const { si } = fakeSi();
    const source = createSystemSource({ si, ...roots, cpuPrimeMs: 0 });
    assert.equal(await source.cpuLoad(), 0, 'no jiffies passed during the first measurement');
    await writeFile(roots.procStat, stat(400, 1400, 200));
    assert.equal(await source.cpuLoad(), 30);
    await writeFile(roots.procStat, stat(400, 1400, 200));
    assert.equal(await source.cpuLoad(), 30, 'no time passed: the last figure stands');
    await writeFile(roots.procStat, 'garbage');
    await assert.rejects(source.cpuLoad(), (e: unknown) => e instanceof TelemetryError && e.code === 'reading-failed');
  });

  it('reads Raspberry Pi throttling through the command runner', async (t) => {
    const { runner, runs } = fakeRunner({ vcgencmd: ['throttled=0x50005\n', 'throttled=0x0\n'] });
    const source = createSystemSource({ si: fakeSi().si, runCommand: runner, ...(await emptyRoots(t)) });
    assert.equal((await source.throttling())?.raw, 0x50005);
    assert.equal((await source.throttling())?.throttled, false);
    assert.deepEqual(runs, ['vcgencmd get_throttled', 'vcgencmd get_throttled']);
  });

  it('gives null throttling where vcgencmd is absent, and stops asking', async () => {
    const { runner, runs } = fakeRunner({});
    const source = createSystemSource({ si: fakeSi().si, runCommand: runner });
    assert.equal(await source.throttling(), null);
    assert.equal(await source.throttling(), null);
    assert.equal(runs.length, 1);
  });

  it('treats a vcgencmd this user cannot run as absent', async () => {
    const eacces = Object.assign(new Error('spawn vcgencmd EACCES'), { code: 'EACCES', syscall: 'spawn vcgencmd' });
    const { runner, runs } = fakeRunner({ vcgencmd: [eacces] });
    const source = createSystemSource({ si: fakeSi().si, runCommand: runner });
    assert.equal(await source.throttling(), null);
    assert.equal(await source.throttling(), null);
    assert.equal(runs.length, 1);
  });

  it('fails the throttling reading on an odd answer or a failed run, and asks again next time', async () => {
    const timeout = Object.assign(new Error('Command failed: vcgencmd get_throttled'), { code: 'ETIMEDOUT' });
    const { runner, runs } = fakeRunner({ vcgencmd: ['VCHI initialization failed', timeout, 'throttled=0x0'] });
    const source = createSystemSource({ si: fakeSi().si, runCommand: runner });
    await assert.rejects(source.throttling(), (e: unknown) => e instanceof TelemetryError && e.code === 'reading-failed');
    await assert.rejects(source.throttling(), timeout);
    assert.equal((await source.throttling())?.raw, 0);
    assert.equal(runs.length, 3);
  });

  it('reads the CPU thermal zone', async (t) => {
    const roots = await emptyRoots(t);
    for (const [name, type, temp] of [
      ['thermal_zone0', 'GPU-therm', '41000'],
      ['thermal_zone1', 'CPU-therm', '52500'],
    ] as const) {
      await mkdir(join(roots.thermalRoot, name), { recursive: true });
      await writeFile(join(roots.thermalRoot, name, 'type'), `${type}\n`);
      await writeFile(join(roots.thermalRoot, name, 'temp'), `${temp}\n`);
    }
    const { si, calls } = fakeSi({ temperature: 99 });
    const source = createSystemSource({ si, ...roots });
    assert.equal(await source.cpuTemperature(), 52.5);
    await writeFile(join(roots.thermalRoot, 'thermal_zone1', 'temp'), '61000\n');
    assert.equal(await source.cpuTemperature(), 61);
    assert.equal(calls.cpuTemperature, 0, 'systeminformation is not asked when zones exist');
  });

  it('asks systeminformation once when there are no zones, and remembers that there is no sensor', async (t) => {
    const { si, calls } = fakeSi({ temperature: null });
    const source = createSystemSource({ si, ...(await emptyRoots(t)) });
    for (let i = 0; i < 3; i++) assert.equal(await source.cpuTemperature(), null);
    assert.equal(calls.cpuTemperature, 1);

    const withSensor = fakeSi({ temperature: 47 });
    const other = createSystemSource({ si: withSensor.si, ...(await emptyRoots(t)) });
    assert.equal(await other.cpuTemperature(), 47);
    assert.equal(await other.cpuTemperature(), 47);
    assert.equal(withSensor.calls.cpuTemperature, 2);
  });

  it('counts physical interfaces only, from /proc/net/dev', async (t) => {
    const roots = await emptyRoots(t);
    await writeFile(
      roots.procNetDev,
      [
        'Inter-|   Receive | Transmit',
        ' face |bytes packets|bytes packets',
        '    lo: 500 5 0 0 0 0 0 0 500 5 0 0 0 0 0 0',
        '  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0',
        'docker0: 700 7 0 0 0 0 0 0 700 7 0 0 0 0 0 0',
        ' wlan0: 30 1 0 0 0 0 0 0 40 1 0 0 0 0 0 0',
      ].join('\n'),
    );
    for (const iface of ['lo', 'eth0', 'docker0', 'wlan0']) await mkdir(join(roots.netRoot, iface), { recursive: true });
    const pciDevice = join(roots.netRoot, '..', 'devices', 'pci0000:00');
    await mkdir(pciDevice, { recursive: true });
    for (const iface of ['eth0', 'wlan0']) await symlink(pciDevice, join(roots.netRoot, iface, 'device'));
    const { si, calls } = fakeSi();
    const source = createSystemSource({ si, ...roots });
    assert.deepEqual(await source.networkCounters(), [
      { iface: 'eth0', rxBytes: 1000, txBytes: 2000 },
      { iface: 'wlan0', rxBytes: 30, txBytes: 40 },
    ]);
    assert.equal(calls.networkStats, 0);
  });

  it('falls back to systeminformation without /proc/net/dev, leaving out loopback', async (t) => {
    const { si, calls } = fakeSi();
    const source = createSystemSource({ si, ...(await emptyRoots(t)) });
    assert.deepEqual(await source.networkCounters(), [{ iface: 'en0', rxBytes: 10, txBytes: 20 }]);
    assert.equal(calls.networkStats, 1);
  });

  it('reports the disk of the data directory', async (t) => {
    const dir = await tempDir(t);
    const disk = await createSystemSource({ si: fakeSi().si }).disk(dir);
    assert.ok(disk.totalBytes > 0);
    assert.ok(disk.usedBytes >= 0 && disk.usedBytes <= disk.totalBytes);
    assert.ok(disk.availableBytes >= 0 && disk.availableBytes <= disk.totalBytes - disk.usedBytes);
    await assert.rejects(createSystemSource({ si: fakeSi().si }).disk(join(dir, 'missing')), { code: 'ENOENT' });
  });

  it('finds an NVIDIA GPU once, then reads its live figures from nvidia-smi', async () => {
    const { si, calls } = fakeSi({
      controllers: [{ model: 'GA102', name: 'NVIDIA GeForce RTX 3090', utilizationGpu: 5, memoryUsed: 10, memoryTotal: 24576, temperatureGpu: 40 }],
    });
    const { runner, runs } = fakeRunner({ 'nvidia-smi': ['88, 2048, 24576, 71\n'] });
    const source = createSystemSource({ si, runCommand: runner });
    assert.equal((await source.gpu())?.utilizationPercent, 5);
    assert.deepEqual(await source.gpu(), {
      name: 'NVIDIA GeForce RTX 3090',
      utilizationPercent: 88,
      memoryUsedBytes: 2048 * 1024 * 1024,
      memoryTotalBytes: 24576 * 1024 * 1024,
      temperatureC: 71,
    });
    assert.equal(calls.graphics, 1);
    assert.deepEqual(runs, [['nvidia-smi', ...NVIDIA_SMI_ARGS].join(' ')]);
  });

  it('reports a GPU without live figures by name alone, and no GPU as null, asking once', async () => {
    const pi = fakeSi({ controllers: [{ model: 'VideoCore VI', vram: 76 }] });
    const { runner, runs } = fakeRunner({});
    const source = createSystemSource({ si: pi.si, runCommand: runner });
    assert.equal((await source.gpu())?.name, 'VideoCore VI');
    assert.equal((await source.gpu())?.utilizationPercent, null);
    assert.equal(pi.calls.graphics, 1);
    assert.deepEqual(runs, []);

    const none = fakeSi();
    const bare = createSystemSource({ si: none.si, runCommand: runner });
    assert.equal(await bare.gpu(), null);
    assert.equal(await bare.gpu(), null);
    assert.equal(none.calls.graphics, 1);
  });
});
