import { readFile } from 'node:fs/promises';
import { isVersion } from '@meshchain/protocol';
import type { SystemOtaOptions } from './ota-service.ts';
import { RaucInstaller, runCommand, type CommandRunner } from './rauc.ts';

/**
 * `system` updates on a real box (`MESHNODE_SYSTEM_UPDATES=rauc`): RAUC
 * installs into the inactive slot, `rebootCommand` (default `systemctl
 * reboot`) boots it. The OS
 * version is the booted slot's bundle version, else `IMAGE_VERSION` or
 * `VERSION_ID` from /etc/os-release, else 0.0.0.
 */
export function raucSystemOptions(options: { run?: CommandRunner; osRelease?: string; rebootCommand?: readonly string[] } = {}): SystemOtaOptions {
  const run = options.run ?? runCommand;
  const [rebootFile = 'systemctl', ...rebootArgs] = options.rebootCommand ?? ['systemctl', 'reboot'];
  const installer = new RaucInstaller({ run });
  return {
    installer,
    currentVersion: async () => {
      const status = await installer.status().catch(() => null);
      const booted = status?.slots.find((s) => s.state === 'booted' || s.bootname === status.booted || s.name === status.booted);
      if (booted?.version && isVersion(booted.version)) return booted.version;
      const text = await readFile(options.osRelease ?? '/etc/os-release', 'utf8').catch(() => '');
      for (const key of ['IMAGE_VERSION', 'VERSION_ID']) {
        const value = new RegExp(`^${key}="?([^"\\n]+)"?$`, 'm').exec(text)?.[1];
        if (value && isVersion(value)) return value;
      }
      return '0.0.0';
    },
    reboot: async () => {
      await run(rebootFile, rebootArgs);
    },
  };
}
