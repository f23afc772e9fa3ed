import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/errors.ts';
import { loadOtaConfig } from '../../src/ota/ota-config.ts';
import { raucSystemOptions } from '../../src/ota/rauc-system.ts';
import type { CommandRunner } from '../../src/ota/rauc.ts';

describe('system updates through RAUC (MESHNODE_SYSTEM_UPDATES=rauc)', () => {
  it('reads the OS version from the booted slot, else /etc/os-release, and reboots with systemctl', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshnode-rauc-'));
    try {
      const calls: string[] = [];
      let status = JSON.stringify({
        booted: 'A',
        boot_primary: 'rootfs.0',
        slots: [{ 'rootfs.0': { bootname: 'A', state: 'booted', slot_status: { bundle: { version: '2.3.0' } }, boot_status: 'good' } }, { 'rootfs.1': { bootname: 'B', state: 'inactive', boot_status: 'bad' } }],
      });
      const run: CommandRunner = async (file, args) => {
        calls.push([file, ...args].join(' '));
        if (file === 'rauc' && args[0] === 'status') return status;
        return '';
      };
      const osRelease = join(dir, 'os-release');
      await writeFile(osRelease, 'NAME="MeshNode OS"\nVERSION_ID="13"\nIMAGE_VERSION="2.2.0"\n');
      const system = raucSystemOptions({ run, osRelease });
      assert.equal(await system.currentVersion(), '2.3.0');
      status = 'not json';
      assert.equal(await system.currentVersion(), '2.2.0', 'falls back to IMAGE_VERSION');
      await writeFile(osRelease, 'NAME="MeshNode OS"\n');
      assert.equal(await system.currentVersion(), '0.0.0');
      await system.reboot();
      assert.ok(calls.includes('systemctl reboot'));
      await system.installer.install('/data/bundle.raucb');
      assert.ok(calls.includes('rauc install /data/bundle.raucb'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reboots with the configured command (the image: a helper that asks a root unit)', async () => {
    const calls: string[][] = [];
    const run: CommandRunner = async (file, args) => {
      calls.push([file, ...args]);
      return '';
    };
    const config = loadOtaConfig({ MESHNODE_SYSTEM_UPDATES: 'rauc', MESHNODE_REBOOT_COMMAND: ' /usr/lib/meshnode/request-reboot  system-update ' });
    assert.deepEqual(config.rebootCommand, ['/usr/lib/meshnode/request-reboot', 'system-update']);
    await raucSystemOptions({ run, rebootCommand: config.rebootCommand }).reboot();
    assert.deepEqual(calls, [['/usr/lib/meshnode/request-reboot', 'system-update']]);
    assert.deepEqual(loadOtaConfig({}).rebootCommand, ['systemctl', 'reboot'], 'default');
    assert.throws(() => loadOtaConfig({ MESHNODE_REBOOT_COMMAND: '   ' }), (error: unknown) => error instanceof ConfigError && /reboot command is empty/.test(error.message));
  });
});
