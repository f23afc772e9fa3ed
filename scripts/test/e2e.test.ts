import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { buildManifest } from '@meshchain/control-plane';
import { LlamaRuntime } from '../../device-agent/src/runtimes/llama/index.ts';
import { writeTinyModel } from '../src/model/index.ts';
import { startLocalNetwork, type LocalNetwork } from '../src/fleet/network.ts';
import { runMeshchain } from '../src/fleet/processes.ts';

interface OutputLine {
  index: number;
  prompt: string;
  tokens: number[];
  text: string;
}

async function waitForJob(network: LocalNetwork, jobId: string, timeoutMs = 60_000): Promise<Awaited<ReturnType<LocalNetwork['api']['job']>>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await network.api.job(jobId);
    if (status.job.state !== 'running') return status;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still running after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('end to end: control plane and agents as real processes', () => {
  let dir = '';
  let model = { path: '', sha256: '', size: 0 };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshchain-e2e-'));
    model = await writeTinyModel({ path: join(dir, 'tiny.gguf') });
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('runs the demo flow through the CLI: 24 prompts, shards of 4, three nodes, output in order, manifest root', async (t) => {
    const network = await startLocalNetwork({ dir: join(dir, 'flow'), nodes: 3, logLevel: 'warn' });
    t.after(() => network.stop());
    await network.waitForOnlineNodes(3);

    const prompts = Array.from({ length: 24 }, (_, i) => `prompt ${i}: the mesh`);
    const input = join(dir, 'prompts.jsonl');
    await writeFile(input, prompts.map((p, i) => (i % 2 ? JSON.stringify({ prompt: p }) : JSON.stringify(p))).join('\n') + '\n');
    const out = join(dir, 'out.jsonl');
    const cli = await runMeshchain([
      '--api', network.info.apiUrl, 'submit', 'infer', '--model', model.path, '--input', input,
      '--shard-size', '4', '--max-tokens', '12', '--wait', '--out', out, '--json',
    ]);
    assert.equal(cli.code, 0, cli.stderr);
    const summary = JSON.parse(cli.stdout.trim()) as { jobId: string; state: string; manifestRoot: string };
    assert.equal(summary.state, 'completed');

    const lines = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as OutputLine);
    assert.deepEqual(lines.map((l) => l.index), prompts.map((_, i) => i));
    assert.deepEqual(lines.map((l) => l.prompt), prompts);
    for (const line of lines) assert.ok(line.tokens.length > 0 && line.tokens.length <= 12);

    // The tokens travelled exactly: the same prompt run locally gives the same ids.
    const runtime = new LlamaRuntime();
    t.after(() => runtime.stop());
    const local = await runtime.generate(model, prompts[5] ?? '', { maxTokens: 12, temperature: 0, seed: 0, contextSize: 512, batchSize: 512, threads: 1, addBos: true });
    assert.deepEqual(lines[5]?.tokens, local.tokens);

    const status = await network.api.job(summary.jobId);
    assert.equal(status.shards.length, 6);
    const workers = new Set(status.shards.map((s) => s.nodeId));
    assert.equal(workers.size, 3, 'three free nodes each took shards');
    for (const id of workers) assert.ok(network.nodes.some((n) => n.nodeId === id));

    const manifest = await network.api.manifest(summary.jobId);
    assert.equal(manifest.root, summary.manifestRoot);
    assert.ok(manifest.shards.every((s) => s.verdict === 'verified'), 'new nodes: every shard recomputed by the spot checker');
    assert.equal(status.trust?.checked, 6);
    const rebuilt = buildManifest(summary.jobId, model.sha256, 24, manifest.shards);
    assert.equal(rebuilt.root, manifest.root);
    assert.deepEqual(manifest.shards.map((s) => s.resultHash), status.shards.map((s) => s.resultHash));

    const nodes = await network.api.nodes();
    assert.equal(nodes.reduce((sum, n) => sum + n.shardsCompleted, 0), 6, 'each shard counted once');
    assert.equal(nodes.reduce((sum, n) => sum + n.shardsRejected, 0), 0);

    // The control plane credits compute units in its acks; each box shows them to its owner.
    const pages = await Promise.all(
      network.nodes.map(async (n) => (await (await fetch(`${n.webUrl}/api/status`)).json()) as { earnings: { units: number } | null; work: { shards: number } }),
    );
    for (const page of pages) {
      assert.ok(page.work.shards >= 1);
      assert.ok((page.earnings?.units ?? 0) > 0, 'earned units shown on the page');
    }

    const listed = await runMeshchain(['--api', network.info.apiUrl, 'jobs', '--json']);
    assert.equal(listed.code, 0);
    assert.equal((JSON.parse(listed.stdout) as { id: string }[])[0]?.id, summary.jobId);
  });

  it('re-sends a result from the outbox after the agent is SIGKILLed before the ack, and counts it once', async (t) => {
    const network = await startLocalNetwork({ dir: join(dir, 'crash'), nodes: 0, logLevel: 'warn' });
    t.after(() => network.stop());
    const node = await network.startNode('victim', { MESHNODE_FAULT: 'crash-after-outbox' });
    await network.waitForOnlineNodes(1);
    const uploaded = await network.api.uploadModel(model.path);
    const { job } = await network.api.submitJob({ workload: 'infer', model: uploaded.sha256, prompts: ['a', 'b', 'c'], shardSize: 4, settings: { maxTokens: 8 } });

    const exit = await node.process.exited;
    assert.equal(exit.signal, 'SIGKILL', 'the agent died right after storing its result');
    // Its will tells the control plane it is gone.
    for (const deadline = Date.now() + 20_000; ; ) {
      const record = (await network.api.nodes()).find((n) => n.id === node.nodeId);
      if (record?.presence === 'offline') break;
      assert.ok(Date.now() < deadline, 'the killed node was never marked offline');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const db = new Database(join(node.dataDir, 'agent.db'), { readonly: true });
    const pending = db.prepare('SELECT shard_id FROM outbox').all() as { shard_id: string }[];
    db.close();
    assert.deepEqual(pending.map((p) => p.shard_id), [`${job.id}.0`], 'the signed result waits in the outbox');
    assert.equal((await network.api.job(job.id)).job.state, 'running', 'the control plane has not seen it');

    network.nodes.splice(network.nodes.indexOf(node), 1);
    const restarted = await network.startNode('victim');
    assert.equal(restarted.nodeId, node.nodeId, 'same identity after restart');
    const status = await waitForJob(network, job.id);
    assert.equal(status.job.state, 'completed');
    assert.equal(status.shards[0]?.nodeId, node.nodeId);
    assert.equal(status.shards[0]?.attempts, 0, 'completed under its first lease');
    assert.equal(status.events.filter((e) => e.kind === 'shard_completed').length, 1);
    const record = (await network.api.nodes()).find((n) => n.id === node.nodeId);
    assert.equal(record?.shardsCompleted, 1, 'counted once');
  });
});
