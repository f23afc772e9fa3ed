import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { signRelease, type SignedRelease } from '@meshchain/protocol';
import { AppUpdater, type AppUpdaterOptions, type UpdateStep } from '../../src/ota/app-updater.ts';
import { ReleaseDirectory, tarUnpack } from '../../src/ota/release-dir.ts';
import { UpdateRefusedError } from '../../src/ota/verify.ts';
import { COMPAT, deferred, otaFixture, snapshot, type OtaFixture } from './helpers.ts';

describe('app updates', () => {
  let fx: OtaFixture;
  let dir: ReleaseDirectory;
  let steps: UpdateStep[];
  let restarts: number;
  let deadline: AbortController;

  function updater(overrides: Partial<AppUpdaterOptions> = {}): AppUpdater {
    return new AppUpdater({
      dir,
      compatibility: COMPAT,
      trustedKeys: fx.trustedKeys,
      drain: async () => undefined,
      restart: async () => {
        restarts += 1;
      },
      health: () => new Promise(() => undefined),
      healthDeadlineMs: 60_000,
      unpack: tarUnpack,
      timeout: () => deadline.signal,
      onStep: (step) => steps.push(step),
      ...overrides,
    });
  }

  beforeEach(async () => {
    fx = await otaFixture();
    dir = new ReleaseDirectory(join(fx.dir, 'opt'));
    steps = [];
    restarts = 0;
    deadline = new AbortController();
    // The box as shipped: release 1.0.0 is current.
    const first = await fx.release('1.0.0');
    await dir.stage('1.0.0', first.artifactPath, tarUnpack);
    await dir.switchTo('1.0.0');
  });
  afterEach(async () => {
    deadline.abort();
    await fx.cleanup();
  });

  it('installs into a new release directory, switches atomically, restarts, and commits once healthy', async () => {
    const next = await fx.release('1.1.0');
    await updater().install({ ...next });
    assert.equal(await dir.currentVersion(), '1.1.0');
    assert.equal(await readFile(join(dir.currentLink, 'VERSION'), 'utf8'), '1.1.0\n');
    assert.equal(restarts, 1);
    assert.deepEqual(steps.map((s) => s.step), ['verifying', 'draining', 'unpacking', 'switching', 'restarting']);
    assert.deepEqual((await dir.readState()).pending?.to, '1.1.0');

    // The new agent starts and reports healthy.
    steps = [];
    const healthy = deferred();
    const started = updater({ health: () => healthy.promise });
    await started.start();
    healthy.resolve();
    const outcome = await started.confirmation;
    assert.equal(outcome?.outcome, 'healthy');
    assert.deepEqual(steps.map((s) => s.step), ['confirming', 'healthy']);
    const state = await dir.readState();
    assert.equal(state.pending, null);
    assert.equal(state.last?.outcome, 'healthy');
    // The previous release stays for a later rollback; older ones are pruned.
    assert.deepEqual((await dir.installedVersions()).sort(), ['1.0.0', '1.1.0']);
    await started.stop();
  });

  it('switches back by itself when the new agent is not healthy before the deadline', async () => {
    const next = await fx.release('1.1.0');
    await updater().install({ ...next });
    assert.equal(await dir.currentVersion(), '1.1.0');
    const started = updater();
    await started.start();
    deadline.abort();
    const outcome = await started.confirmation;
    assert.equal(outcome?.outcome, 'rolled_back');
    assert.equal(await dir.currentVersion(), '1.0.0');
    assert.equal(await readFile(join(dir.currentLink, 'VERSION'), 'utf8'), '1.0.0\n');
    assert.equal(restarts, 2, 'restarted into the new release, then back into the old one');
    assert.match((await dir.readState()).last?.reason ?? '', /not healthy within 60000 ms/);
    assert.equal(steps.at(-1)?.step, 'rolled_back');
  });

  it('never switches under a running shard: it drains first, unless forced', async () => {
    const next = await fx.release('1.1.0');
    const drained = deferred();
    let drainCalls = 0;
    const installing = updater({
      drain: async () => {
        drainCalls += 1;
        await drained.promise;
      },
    }).install({ ...next });
    // Wait until the updater is blocked on the drain.
    while (!steps.some((s) => s.step === 'draining')) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(await dir.currentVersion(), '1.0.0');
    assert.equal(await dir.hasRelease('1.1.0'), false);
    drained.resolve();
    await installing;
    assert.equal(await dir.currentVersion(), '1.1.0');
    assert.equal(drainCalls, 1);

    // Forced: no drain at all.
    await dir.writeState({ version: 1, pending: null, last: null });
    const forced = await fx.release('1.2.0');
    let forcedDrains = 0;
    await updater({
      drain: async () => {
        forcedDrains += 1;
      },
    }).install({ ...forced, force: true });
    assert.equal(forcedDrains, 0);
    assert.equal(await dir.currentVersion(), '1.2.0');
  });

  it('refuses unsigned, wrongly signed, tampered, mis-sized, downgraded and foreign updates, changing nothing', async () => {
    const good = await fx.release('1.1.0');
    const other = await otaFixture();
    try {
      const foreign = await other.release('1.1.0');
      const corrupt = join(fx.dir, 'corrupt.tar.gz');
      const bytes = await readFile(good.artifactPath);
      bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
      await writeFile(corrupt, bytes);
      const truncated = join(fx.dir, 'truncated.tar.gz');
      await writeFile(truncated, bytes.subarray(0, bytes.length - 1));
      const downgrade = await fx.release('0.9.0');
      const amd64 = await fx.release('1.1.1', { compatibility: 'meshnode-amd64' });
      const system = await fx.release('1.1.2', { kind: 'system' });
      const resigned: SignedRelease = { ...good.signed, manifest: { ...good.signed.manifest, version: '1.1.3' } };

      const cases: [string, { signed: unknown; artifactPath: string }][] = [
        ['unsigned', { signed: { manifest: good.signed.manifest }, artifactPath: good.artifactPath }],
        ['untrusted-key', foreign],
        ['bad-signature', { signed: resigned, artifactPath: good.artifactPath }],
        ['hash-mismatch', { signed: good.signed, artifactPath: corrupt }],
        ['size-mismatch', { signed: good.signed, artifactPath: truncated }],
        ['downgrade', downgrade],
        ['incompatible', amd64],
        ['wrong-kind', system],
        ['missing-artifact', { signed: good.signed, artifactPath: join(fx.dir, 'nope') }],
        ['malformed', { signed: { ...good.signed, manifest: { version: '1.1.0' } }, artifactPath: good.artifactPath }],
      ];
      const before = await snapshot(dir.root);
      for (const [reason, update] of cases) {
        await assert.rejects(updater().install(update), (error: unknown) => {
          assert.ok(error instanceof UpdateRefusedError, `${reason}: ${String(error)}`);
          assert.equal(error.reason, reason);
          assert.match(error.message, new RegExp(`^update refused \\(${reason}\\): `));
          return true;
        });
        assert.deepEqual(await snapshot(dir.root), before, `${reason} changed nothing`);
      }
      assert.equal(restarts, 0);
      assert.deepEqual(steps.filter((s) => s.step === 'refused').length, cases.length);

      // A genuine manifest re-signed by a key the box does not trust: refused.
      const resignedByOther = signRelease({ ...good.signed.manifest, version: '2.0.0' }, other.key);
      await assert.rejects(updater().install({ signed: resignedByOther, artifactPath: good.artifactPath }), (e: unknown) => e instanceof UpdateRefusedError && e.reason === 'untrusted-key');
      // A downgrade signed as a rollback is allowed.
      const sanctioned = await fx.release('0.9.0', { rollback: true });
      await updater().install(sanctioned);
      assert.equal(await dir.currentVersion(), '0.9.0');
    } finally {
      await other.cleanup();
    }
  });

  describe('a power cut at each step leaves the box on a working release', () => {
    it('during unpacking: the staging directory is removed, current unchanged', async () => {
      const next = await fx.release('1.1.0');
      const crashing = updater({
        unpack: async (artifact, into) => {
          await tarUnpack(artifact, into);
          throw new Error('power cut');
        },
      });
      await assert.rejects(crashing.install(next), /power cut/);
      // A real power cut skips the cleanup: leave what it would leave, a half-unpacked staging directory.
      await mkdir(join(dir.root, 'releases', '.staging-1.1.0-dead', 'bin'), { recursive: true });
      await writeFile(join(dir.root, 'releases', '.staging-1.1.0-dead', 'bin', 'meshnode.js'), 'half');
      await updater().start();
      assert.equal(await dir.currentVersion(), '1.0.0');
      assert.deepEqual(await readdir(join(dir.root, 'releases')), ['1.0.0']);
    });

    it('after recording the update, before the switch: abandoned, still on the old release', async () => {
      const next = await fx.release('1.1.0');
      await dir.stage('1.1.0', next.artifactPath, tarUnpack);
      await dir.writeState({ version: 1, pending: { from: '1.0.0', to: '1.1.0', startedAt: 0, deadline: Date.now() + 60_000 }, last: null });
      const restarted = updater();
      await restarted.start();
      assert.equal(await dir.currentVersion(), '1.0.0');
      const state = await dir.readState();
      assert.equal(state.pending, null);
      assert.equal(state.last?.outcome, 'abandoned');
      assert.equal(await restarted.confirmation, null);
    });

    it('after the switch, before the deadline: the new release confirms as usual', async () => {
      const next = await fx.release('1.1.0');
      await updater().install(next);
      const healthy = deferred();
      const restarted = updater({ health: () => healthy.promise });
      await restarted.start();
      healthy.resolve();
      assert.equal((await restarted.confirmation)?.outcome, 'healthy');
      assert.equal(await dir.currentVersion(), '1.1.0');
    });

    it('after the switch, down past the deadline: the next start rolls back and restarts', async () => {
      const next = await fx.release('1.1.0');
      await updater({ now: () => 1_000 }).install(next);
      const restarted = updater({ now: () => 1_000 + 60_000 });
      await restarted.start();
      assert.equal((await restarted.confirmation)?.outcome, 'rolled_back');
      assert.equal(await dir.currentVersion(), '1.0.0');
      assert.equal(restarts, 2);
    });

    it('during the rollback, after switching back: the next start finishes it', async () => {
      const next = await fx.release('1.1.0');
      await updater().install(next);
      await dir.switchTo('1.0.0'); // the rollback's switch happened; its state write did not
      const restarted = updater();
      await restarted.start();
      assert.equal(await dir.currentVersion(), '1.0.0');
      assert.equal((await dir.readState()).pending, null);
    });
  });

  it('stop() during confirmation leaves the decision to the next start', async () => {
    const next = await fx.release('1.1.0');
    await updater().install(next);
    const restarted = updater();
    await restarted.start();
    await restarted.stop();
    assert.equal(await restarted.confirmation, null);
    assert.equal(await dir.currentVersion(), '1.1.0');
    assert.equal((await dir.readState()).pending?.to, '1.1.0');
  });
});
