import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { ApiClient } from '../src/index.ts';
import { loadOrCreateControlPlaneKey } from '../src/identity/key-file.ts';
import { ScriptedNode, startControlPlane } from './helpers/harness.ts';

const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

describe('standalone broker', () => {
  it('runs as `meshchain broker` and the control plane works through it', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'meshchain-ext-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    // The broker must know which control plane to trust before either starts.
    const { id } = await loadOrCreateControlPlaneKey(join(dir, 'cp', 'control-plane.key.json'));

    const broker = spawn(process.execPath, ['--import', 'tsx', CLI, 'broker', '--trust', id, '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, MESHCHAIN_LOG_LEVEL: 'warn' },
    });
    const exited = new Promise((resolve) => broker.once('exit', resolve));
    t.after(async () => {
      broker.kill('SIGTERM');
      await exited;
    });
    const url = await new Promise<string>((resolve, reject) => {
      createInterface({ input: broker.stdout }).on('line', (line) => {
        const match = /listening on (mqtt:\/\/\S+)/.exec(line);
        if (match?.[1]) resolve(match[1]);
      });
      broker.once('exit', (code) => reject(new Error(`broker exited with ${code}`)));
    });

    const cp = await startControlPlane({ dataDir: join(dir, 'cp'), brokerUrl: url });
    t.after(() => cp.stop());
    assert.equal(cp.info.controlPlaneId, id);
    assert.equal(cp.info.mqttUrl, url);

    const node = new ScriptedNode(id);
    await node.connect(url);
    t.after(() => node.close());
    await node.announce();
    const api = new ApiClient(cp.info.apiUrl);
    const deadline = Date.now() + 10_000;
    let seen = false;
    while (!seen && Date.now() < deadline) {
      seen = (await api.nodes()).some((n) => n.id === node.id && n.presence === 'online' && n.capabilities !== null);
      if (!seen) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(seen, 'the node reached the control plane through the standalone broker');
  });
});
