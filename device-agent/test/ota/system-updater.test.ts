import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { UpdateStep } from '../../src/ota/app-updater.ts';
import { RaucInstaller, SystemUpdateError, type SystemInstaller, type SystemSlotStatus } from '../../src/ota/rauc.ts';
import { SystemUpdater, type SystemUpdaterOptions } from '../../src/ota/system-updater.ts';
import { UpdateRefusedError } from '../../src/ota/verify.ts';
import { deferred, otaFixture, type OtaFixture } from './helpers.ts';

/** An A/B box in memory: install writes the inactive slot, a reboot boots the primary, mark-good commits. */
class FakeRauc implements SystemInstaller {
  booted = 'A';
  primary = 'A';
  versions: Record<string, string> = { A: '1.0.0', B: '0.0.0' };
  good: Record<string, boolean> = { A: true, B: false };
  installed: string[] = [];
  /** The bundle's version, as the image build would stamp it. */
  nextVersion = '1.1.0';

  async install(bundlePath: string): Promise<void> {
    const inactive = this.booted === 'A' ? 'B' : 'A';
    this.installed.push(bundlePath);
    this.versions[inactive] = this.nextVersion;
    this.good[inactive] = false;
    this.primary = inactive;
  }

  async markGood(): Promise<void> {
    this.good[this.booted] = true;
  }

  async status(): Promise<SystemSlotStatus> {
    return { booted: this.booted, primary: this.primary, slots: Object.keys(this.versions).map((name) => ({ name, bootname: name, state: name === this.booted ? 'booted' : 'inactive', version: this.versions[name] ?? null, good: this.good[name] ?? null })) };
  }

  /** A reboot: the bootloader tries the primary; a slot never marked good falls back once its attempts are spent. */
  reboot(attemptsLeft: boolean): void {
    if (this.good[this.primary] || attemptsLeft) this.booted = this.primary;
    else this.booted = this.primary = this.primary === 'A' ? 'B' : 'A';
  }
}

describe('system updates (RAUC behind an interface)', () => {
  let fx: OtaFixture;
  let rauc: FakeRauc;
  let reboots: number;
  let steps: UpdateStep[];
  let deadline: AbortController;

  function updater(overrides: Partial<SystemUpdaterOptions> = {}): SystemUpdater {
    return new SystemUpdater({
      installer: rauc,
      compatibility: 'meshnode-arm64',
      trustedKeys: fx.trustedKeys,
      currentVersion: async () => rauc.versions[rauc.booted] ?? '0.0.0',
      stateFile: join(fx.dir, 'system-update.json'),
      drain: async () => undefined,
      reboot: async () => {
        reboots += 1;
      },
      health: () => new Promise(() => undefined),
      healthDeadlineMs: 120_000,
      timeout: () => deadline.signal,
      onStep: (step) => steps.push(step),
      ...overrides,
    });
  }

  beforeEach(async () => {
    fx = await otaFixture();
    rauc = new FakeRauc();
    reboots = 0;
    steps = [];
    deadline = new AbortController();
  });
  afterEach(async () => {
    deadline.abort();
    await fx.cleanup();
  });

  it('installs into the inactive slot, reboots, and marks it good once healthy', async () => {
    const bundle = await fx.release('1.1.0', { kind: 'system' });
    await updater().install(bundle);
    assert.deepEqual(rauc.installed, [bundle.artifactPath]);
    assert.equal(rauc.primary, 'B');
    assert.equal(reboots, 1);
    assert.equal((JSON.parse(await readFile(join(fx.dir, 'system-update.json'), 'utf8')) as { to: string }).to, '1.1.0');

    rauc.reboot(true);
    const healthy = deferred();
    const booted = updater({ health: () => healthy.promise });
    await booted.start();
    assert.equal(rauc.good.B, false, 'not good before the agent is healthy');
    healthy.resolve();
    assert.equal((await booted.confirmation)?.outcome, 'healthy');
    assert.equal(rauc.good.B, true);
    await assert.rejects(stat(join(fx.dir, 'system-update.json')));
  });

  it('does not mark an unhealthy slot good: it reboots and the bootloader falls back', async () => {
    await updater().install(await fx.release('1.1.0', { kind: 'system' }));
    rauc.reboot(true);
    const booted = updater();
    await booted.start();
    deadline.abort();
    assert.equal((await booted.confirmation)?.outcome, 'fell_back');
    assert.equal(rauc.good.B, false);
    assert.equal(reboots, 2);

    rauc.reboot(false);
    assert.equal(rauc.booted, 'A');
    steps = [];
    const old = updater();
    await old.start();
    assert.equal((await old.confirmation)?.outcome, 'fell_back');
    assert.equal(steps.at(-1)?.step, 'rolled_back');
    await assert.rejects(stat(join(fx.dir, 'system-update.json')));
  });

  it('refuses an app release, a downgrade and a tampered bundle before touching a slot', async () => {
    const app = await fx.release('1.1.0');
    await assert.rejects(updater().install(app), (e: unknown) => e instanceof UpdateRefusedError && e.reason === 'wrong-kind');
    await assert.rejects(updater().install(await fx.release('0.9.0', { kind: 'system' })), (e: unknown) => e instanceof UpdateRefusedError && e.reason === 'downgrade');
    const bundle = await fx.release('1.2.0', { kind: 'system' });
    await assert.rejects(updater().install({ signed: bundle.signed, artifactPath: app.artifactPath }), (e: unknown) => e instanceof UpdateRefusedError && /mismatch/.test(e.reason));
    assert.deepEqual(rauc.installed, []);
    assert.equal(reboots, 0);
  });
});

describe('RaucInstaller', () => {
  it('calls rauc with the expected arguments and reads its JSON status', async () => {
    const calls: string[][] = [];
    const status = {
      compatible: 'meshnode-arm64',
      booted: 'A',
      boot_primary: 'rootfs.1',
      slots: [
        { 'rootfs.0': { bootname: 'A', state: 'booted', boot_status: 'good', slot_status: { bundle: { version: '1.0.0' } } } },
        { 'rootfs.1': { bootname: 'B', state: 'inactive', boot_status: 'bad' } },
      ],
    };
    const rauc = new RaucInstaller({
      raucPath: '/usr/bin/rauc',
      run: async (file, args) => {
        calls.push([file, ...args]);
        return args[0] === 'status' && args.includes('--output-format=json') ? JSON.stringify(status) : '';
      },
    });
    await rauc.install('/data/ota/bundle.raucb');
    await rauc.markGood();
    const parsed = await rauc.status();
    assert.deepEqual(calls, [
      ['/usr/bin/rauc', 'install', '/data/ota/bundle.raucb'],
      ['/usr/bin/rauc', 'status', 'mark-good'],
      ['/usr/bin/rauc', 'status', '--detailed', '--output-format=json'],
    ]);
    assert.deepEqual(parsed, {
      booted: 'A',
      primary: 'rootfs.1',
      slots: [
        { name: 'rootfs.0', bootname: 'A', state: 'booted', version: '1.0.0', good: true },
        { name: 'rootfs.1', bootname: 'B', state: 'inactive', version: null, good: false },
      ],
    });
  });

  it('turns a failing rauc into a SystemUpdateError with its stderr', async () => {
    const rauc = new RaucInstaller({
      run: async () => {
        throw Object.assign(new Error('Command failed'), { stderr: 'Failed to check bundle signature\n' });
      },
    });
    await assert.rejects(rauc.install('/x.raucb'), (e: unknown) => e instanceof SystemUpdateError && e.shortMessage === 'rauc install failed' && e.details === 'Failed to check bundle signature');
    const garbage = new RaucInstaller({ run: async () => 'not json' });
    await assert.rejects(garbage.status(), /not JSON/);
  });
});
