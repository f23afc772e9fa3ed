import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { generateSeed, NodeCryptoSigner, sha256Hex, signRelease } from '@meshchain/protocol';
import { OtaClient } from '../../src/ota/client.ts';
import { ScriptedNode, startControlPlane, type RunningControlPlane } from '../helpers/harness.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

function meshchain(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('meshchain rollout (CLI)', { timeout: 120_000 }, () => {
  let cp: RunningControlPlane;
  let dir: string;
  let env: Record<string, string>;
  const node = (): ScriptedNode => new ScriptedNode(cp.info.controlPlaneId);
  let box: ScriptedNode;

  before(async () => {
    cp = await startControlPlane({ chain: { enabled: false } });
    dir = await mkdtemp(join(tmpdir(), 'meshchain-rollout-cli-'));
    env = { MESHCHAIN_API: cp.info.apiUrl };
    const api = new OtaClient(cp.info.apiUrl);
    const artifact = Buffer.from('agent 0.2.0\n'.repeat(100));
    const path = join(dir, 'agent.tar.gz');
    await writeFile(path, artifact);
    await api.uploadArtifact(path);
    const key = new NodeCryptoSigner(generateSeed());
    await api.registerRelease(signRelease({ version: '0.2.0', kind: 'app', artifact: { sha256: sha256Hex(artifact), size: artifact.length }, fromVersions: ['*'], rollback: false, compatibility: 'meshnode-arm64', createdAt: Date.now() }, key));
    box = node();
    await box.connect(cp.info.mqttUrl);
    await box.announce();
  });

  after(async () => {
    await box?.close();
    await cp?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('tags a device, starts a rollout with every flag, shows per-stage status, aborts, refuses to resume', async () => {
    const tag = await meshchain(['rollout', 'tag', box.id, 'ring=beta', '--json'], env);
    assert.equal(tag.code, 0, tag.stderr);
    assert.deepEqual((JSON.parse(tag.stdout) as { device: { tags: Record<string, string> } }).device.tags, { ring: 'beta' });

    const start = await meshchain(
      ['rollout', 'start', '0.2.0', '--select', 'ring=beta', '--stages', '1,10,50,100', '--bake', '30m', '--max-concurrent', '5', '--abort-failure-rate', '5%', '--min-devices', '20', '--step-timeout', '10m', '--json'],
      env,
    );
    assert.equal(start.code, 0, start.stderr);
    const { rollout } = JSON.parse(start.stdout) as { rollout: { id: string; spec: { stages: number[]; bakeMs: number; maxConcurrent: number; abortFailureRate: number; minDevices: number; stepTimeoutMs: number; selection: unknown } } };
    assert.deepEqual(rollout.spec.stages, [1, 10, 50, 100]);
    assert.equal(rollout.spec.bakeMs, 1_800_000);
    assert.equal(rollout.spec.maxConcurrent, 5);
    assert.equal(rollout.spec.abortFailureRate, 0.05);
    assert.equal(rollout.spec.minDevices, 20);
    assert.equal(rollout.spec.stepTimeoutMs, 600_000);
    assert.deepEqual(rollout.spec.selection, { tags: { ring: 'beta' } });
    await box.next('updateOffer');

    const status = await meshchain(['rollout', 'status', rollout.id], env);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /stage +target +offered +downloading +installing +installed +healthy +failed +rolled back/);
    assert.match(status.stdout, /population 1/);

    const abort = await meshchain(['rollout', 'abort', rollout.id, '--reason', 'bad build'], env);
    assert.equal(abort.code, 0, abort.stderr);
    assert.match(abort.stdout, /aborted .*\(bad build\)/);
    const resume = await meshchain(['rollout', 'resume', rollout.id], env);
    assert.equal(resume.code, 1);
    assert.match(resume.stderr, /cannot resume a rollout that is aborted/);
  });

  it('refuses bad flags with what is wrong (parsers are unit-tested in rollouts.test.ts)', async () => {
    for (const [args, message] of [
      [['rollout', 'start', '0.2.0', '--bake', 'soon'], /--bake soon is not a duration/],
      [['rollout', 'start', '0.2.0', '--stages', '1,10,50'], /last stage must be 100/],
    ] as const) {
      const run = await meshchain([...args], env);
      assert.equal(run.code, 1, args.join(' '));
      assert.match(run.stderr, message);
    }
  });
});
