// The systemd ExecStartPre hook: a release that cannot even start is switched back once its deadline passes.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ReleaseDirectory } from '../../src/ota/release-dir.ts';
import { snapshot } from './helpers.ts';

const HOOK = fileURLToPath(new URL('../../systemd/meshnode-ota-recover.mjs', import.meta.url));
const run = promisify(execFile);

describe('the ExecStartPre recovery hook', () => {
  let root: string;
  let dir: ReleaseDirectory;

  const hook = (now: number): Promise<{ stdout: string; stderr: string }> => run(process.execPath, [HOOK, root], { env: { MESHNODE_OTA_NOW: String(now) } });

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'meshnode-recover-'));
    for (const v of ['1.0.0', '1.1.0']) {
      await mkdir(join(root, 'releases', v, 'bin'), { recursive: true });
      await writeFile(join(root, 'releases', v, 'VERSION'), v);
    }
    dir = new ReleaseDirectory(root);
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('puts the previous release back when the new one was not healthy before its deadline', async () => {
    await symlink(join('releases', '1.1.0'), join(root, 'current'));
    await dir.writeState({ version: 1, pending: { from: '1.0.0', to: '1.1.0', startedAt: 1_000, deadline: 61_000 }, last: null });
    await hook(30_000);
    assert.equal(await dir.currentVersion(), '1.1.0', 'still within the deadline: the new release gets its chance');
    const { stderr } = await hook(61_000);
    assert.equal(await dir.currentVersion(), '1.0.0');
    const state = await dir.readState();
    assert.equal(state.pending, null);
    assert.equal(state.last?.outcome, 'rolled_back');
    assert.equal(state.last?.version, '1.1.0');
    assert.match(stderr, /rolled back to the previous release/);
    // The agent's own recovery agrees there is nothing left to do.
    const before = await snapshot(root);
    await hook(120_000);
    assert.deepEqual(await snapshot(root), before);
  });

  it('abandons an update interrupted before the switch and removes leftovers', async () => {
    await symlink(join('releases', '1.0.0'), join(root, 'current'));
    await mkdir(join(root, 'releases', '.staging-1.1.0-abcd'));
    await writeFile(join(root, '.ota-state-dead'), 'x');
    await dir.writeState({ version: 1, pending: { from: '1.0.0', to: '1.1.0', startedAt: 1_000, deadline: 61_000 }, last: null });
    await hook(2_000);
    assert.equal(await dir.currentVersion(), '1.0.0');
    assert.equal((await dir.readState()).last?.outcome, 'abandoned');
    assert.deepEqual((await dir.installedVersions()).sort(), ['1.0.0', '1.1.0']);
    assert.deepEqual(Object.keys(await snapshot(root)).filter((p) => p.includes('.staging-') || p.startsWith('.ota-state-')), []);
  });

  it('never fails the start: a corrupt state file, a missing previous release or no releases at all leave current alone', async () => {
    await symlink(join('releases', '1.1.0'), join(root, 'current'));
    await writeFile(join(root, 'ota-state.json'), '{ not json');
    await hook(1e13);
    assert.equal(await dir.currentVersion(), '1.1.0');
    await dir.writeState({ version: 1, pending: { from: '0.9.0', to: '1.1.0', startedAt: 1, deadline: 2 }, last: null });
    const { stderr } = await hook(1e13);
    assert.equal(await dir.currentVersion(), '1.1.0', 'no release to go back to');
    assert.match(stderr, /recovery failed/);
    assert.equal(JSON.parse(await readFile(join(root, 'ota-state.json'), 'utf8')).pending.to, '1.1.0');
    await rm(join(root, 'releases'), { recursive: true });
    await hook(1e13);
  });
});
