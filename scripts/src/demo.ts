/**
 * `npm run demo`: a whole MeshChain network on this machine. Starts the
 * control plane (HTTP API + embedded MQTT broker + SQLite), three MeshNode
 * agents as separate processes with their own identities, makes the tiny
 * GGUF model, submits a job of 24 prompts in shards of 4, follows it,
 * prints the output, who did which shard and the manifest root, then shuts
 * everything down.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPromptsJsonl } from '../../control-plane/src/cli/inputs.ts';
import { ProgressView } from '../../control-plane/src/cli/progress.ts';
import { writeTinyModel } from './model/index.ts';
import { startLocalNetwork, type LocalNetwork } from './fleet/network.ts';
import { REPO_ROOT } from './fleet/processes.ts';

const NODES = 3;
const SHARD_SIZE = 4;
const MAX_TOKENS = 24;
const keep = process.argv.includes('--keep');

const say = (text = ''): void => void process.stdout.write(`${text}\n`);
const step = (text: string): void => say(`\n▸ ${text}`);

async function main(): Promise<void> {
  const started = Date.now();
  const dir = await mkdtemp(join(tmpdir(), 'meshchain-demo-'));
  let network: LocalNetwork | null = null;
  const shutdown = async (): Promise<void> => {
    await network?.stop();
    if (!keep) await rm(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void shutdown().then(() => process.exit(130)));

  try {
    say('MeshChain demo: one control plane, three MeshNodes, one inference job.');
    step('Making the tiny GGUF model (llama architecture, seeded random weights)');
    const model = await writeTinyModel({ path: join(dir, 'tiny-llama.gguf') });
    say(`  ${model.path}  ${(model.size / 1024).toFixed(0)} KiB  sha256 ${model.sha256}`);

    step(`Starting the control plane and ${NODES} MeshNode agents (separate processes)`);
    network = await startLocalNetwork({ dir, nodes: NODES, logLevel: process.env.MESHCHAIN_DEMO_LOG_LEVEL ?? 'warn' });
    say(`  control plane ${network.info.controlPlaneId}`);
    say(`  api ${network.info.apiUrl}   mqtt ${network.info.mqttUrl}`);
    await network.waitForOnlineNodes(NODES);
    for (const node of network.nodes) say(`  node ${node.nodeId}  online`);

    step('Uploading the model and submitting 24 prompts in shards of 4');
    const api = network.api;
    const uploaded = await api.uploadModel(model.path);
    const prompts = await readPromptsJsonl(join(REPO_ROOT, 'scripts/fixtures/demo-prompts.jsonl'));
    const submitted = Date.now();
    const { job } = await api.submitJob({ workload: 'infer', model: uploaded.sha256, prompts, shardSize: SHARD_SIZE, settings: { maxTokens: MAX_TOKENS } });
    say(`  job ${job.id}: ${job.inputCount} prompts, ${job.shardCount} shards, ${MAX_TOKENS} tokens each (greedy)`);

    const view = new ProgressView(process.stdout);
    let status = await api.job(job.id);
    while (status.job.state === 'running') {
      view.update(status);
      await new Promise((resolve) => setTimeout(resolve, 200));
      status = await api.job(job.id);
    }
    view.update(status);
    view.done();
    if (status.job.state !== 'completed') throw new Error(`job ${status.job.state}: ${status.job.error ?? 'unknown reason'}`);
    const jobMs = Date.now() - submitted;

    step('Output (JSONL in input order; the model is random, so the text is too)');
    const lines = (await api.resultText(job.id)).trim().split('\n').map((l) => JSON.parse(l) as { index: number; prompt: string; tokens: number[]; text: string });
    for (const line of lines) {
      const text = JSON.stringify(line.text.replace(/\s+/g, ' ').slice(0, 48));
      say(`  ${String(line.index).padStart(2)}  ${line.prompt.padEnd(34)} → ${text}  (${line.tokens.length} tokens)`);
    }

    step('Who computed what');
    for (const shard of status.shards) {
      say(`  shard ${shard.index}  inputs ${shard.index * SHARD_SIZE}-${shard.index * SHARD_SIZE + shard.inputs - 1}  node ${shard.nodeId}  result ${shard.resultHash?.slice(0, 16)}…`);
    }
    const nodes = await api.nodes();
    for (const node of nodes) {
      const rate = node.computeMs > 0 ? ((node.tokensGenerated / node.computeMs) * 1000).toFixed(0) : '-';
      say(`  node ${node.id}  ${node.shardsCompleted} shards  ${node.tokensGenerated} tokens  ${rate} tokens/s`);
    }

    const manifest = await api.manifest(job.id);
    step('Manifest');
    say(`  ${manifest.shards.length} shards, every one signed by its node and accepted`);
    say(`  Merkle root ${manifest.root}`);

    step('Shutting down');
    await shutdown();
    network = null;
    say(`  done. job ${(jobMs / 1000).toFixed(1)} s, demo ${((Date.now() - started) / 1000).toFixed(1)} s${keep ? `, state kept in ${dir}` : ''}`);
  } catch (error) {
    process.stderr.write(`\ndemo failed: ${error instanceof Error ? error.message : String(error)}\n`);
    for (const proc of network ? [network.controlPlane, ...network.nodes.map((n) => n.process)] : []) {
      process.stderr.write(`--- last log lines of ${proc.name} ---\n${proc.logs().slice(-10).join('\n')}\n`);
    }
    await shutdown().catch(() => undefined);
    process.exitCode = 1;
  }
}

await main();
