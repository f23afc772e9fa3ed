import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { AppUpdater } from '../../src/ota/app-updater.ts';
import { ReleaseDirectory, tarUnpack } from '../../src/ota/release-dir.ts';
import { COMPAT, otaFixture, type OtaFixture } from './helpers.ts';

const SCRIPT = fileURLToPath(new URL('./fixtures/crash-install.ts', import.meta.url));

function runInstall(args: string[]): Promise<{ signal: NodeJS.Signals | null; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
}

describe('SIGKILL at each step of an app update', () => {
  let fx: OtaFixture;
  let dir: ReleaseDirectory;

  beforeEach(async () => {
    fx = await otaFixture();
    dir = new ReleaseDirectory(join(fx.dir, 'opt'));
    const first = await fx.release('1.0.0');
    await dir.stage('1.0.0', first.artifactPath, tarUnpack);
    await dir.switchTo('1.0.0');
  });
  afterEach(async () => {
    await fx.cleanup();
  });

  // Kill points in order: before the drain, before unpacking, half-way through it, before the switch, after it.
  for (const killAt of ['draining', 'unpacking', 'mid-unpack', 'switching', 'restart']) {
    it(`killed at "${killAt}": the next start runs a working release, and the update completes or is abandoned cleanly`, async () => {
      const next = await fx.release('1.1.0');
      const signedPath = join(fx.dir, 'signed.json');
      await writeFile(signedPath, JSON.stringify(next.signed));
      const exit = await runInstall([dir.root, signedPath, next.artifactPath, fx.trustedKeys[0] ?? '', killAt]);
      assert.equal(exit.signal, 'SIGKILL');

      // The box comes back: whatever `current` is, it is a complete release.
      const current = await dir.currentVersion();
      assert.ok(current === '1.0.0' || current === '1.1.0', String(current));
      assert.equal(await readFile(join(dir.currentLink, 'VERSION'), 'utf8'), `${current}\n`);
      assert.equal(await readFile(join(dir.currentLink, 'bin', 'meshnode.js'), 'utf8'), `console.log("${current}");\n`);

      let restarts = 0;
      const deadline = new AbortController();
      const agent = new AppUpdater({
        dir,
        compatibility: COMPAT,
        trustedKeys: fx.trustedKeys,
        drain: async () => undefined,
        restart: async () => {
          restarts += 1;
        },
        health: async () => undefined,
        healthDeadlineMs: 60_000,
        timeout: () => deadline.signal,
      });
      await agent.start();
      const outcome = await agent.confirmation;
      await agent.stop();
      deadline.abort();
      if (killAt === 'restart') {
        assert.equal(outcome?.outcome, 'healthy');
        assert.equal(await dir.currentVersion(), '1.1.0');
      } else {
        assert.equal(outcome, null);
        assert.equal(await dir.currentVersion(), '1.0.0');
      }
      assert.equal((await dir.readState()).pending, null);
      assert.equal(restarts, 0);
      assert.ok((await dir.installedVersions()).every((v) => v === '1.0.0' || v === '1.1.0'));
    });
  }

  it('killed after the switch, with a new release that never gets healthy: back on the old one', async () => {
    const next = await fx.release('1.1.0');
    const signedPath = join(fx.dir, 'signed.json');
    await writeFile(signedPath, JSON.stringify(next.signed));
    await runInstall([dir.root, signedPath, next.artifactPath, fx.trustedKeys[0] ?? '', 'restart']);
    assert.equal(await dir.currentVersion(), '1.1.0');
    const deadline = new AbortController();
    const agent = new AppUpdater({
      dir,
      compatibility: COMPAT,
      trustedKeys: fx.trustedKeys,
      drain: async () => undefined,
      restart: async () => undefined,
      health: () => new Promise(() => undefined),
      healthDeadlineMs: 60_000,
      timeout: () => deadline.signal,
    });
    await agent.start();
    deadline.abort();
    assert.equal((await agent.confirmation)?.outcome, 'rolled_back');
    assert.equal(await dir.currentVersion(), '1.0.0');
    assert.equal(await readFile(join(dir.currentLink, 'VERSION'), 'utf8'), '1.0.0\n');
  });
});
