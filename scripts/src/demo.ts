/**
 * `npm run demo`: a whole MeshChain network on this machine. Starts the
 * control plane (HTTP API + embedded MQTT broker + SQLite), three MeshNode
 * agents as separate processes with their own identities, makes the tiny
 * GGUF model, submits a job of 24 prompts in shards of 4, follows it,
 * prints the output, who did which shard and the manifest root. Rewards:
 * each node is bound to an anvil account with `meshnode bind`; after the job
 * the epoch is closed and posted on the devnet the control plane started,
 * one owner claims with `meshchain claim`, and its MCP balance is printed.
 * Then everything shuts down.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPromptsJsonl } from '../../control-plane/src/cli/inputs.ts';
import { ProgressView } from '../../control-plane/src/cli/progress.ts';
import { devnetAccount } from '../../control-plane/src/chain/devnet.ts';
import { DistributorClient } from '../../control-plane/src/chain/distributor.ts';
import { waitForPosted } from '../../control-plane/src/rewards/cli.ts';
import { writeTinyModel } from './model/index.ts';
import { startLocalNetwork, type LocalNetwork } from './fleet/network.ts';
import { MESHCHAIN_CLI, MESHNODE_CLI, REPO_ROOT } from './fleet/processes.ts';

const NODES = 3;
const SHARD_SIZE = 4;
const MAX_TOKENS = 24;
const keep = process.argv.includes('--keep');

const say = (text = ''): void => void process.stdout.write(`${text}\n`);
const step = (text: string): void => say(`\n▸ ${text}`);
const mcp = (wei: string | null): string => (wei === null ? '?' : `${(Number(BigInt(wei) / 10n ** 12n) / 1e6).toFixed(6)} MCP`);

/** Runs one of the CLIs to completion; rejects with its stderr when it fails. */
function runCli(script: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${script.split('/').pop() ?? script} ${args[0] ?? ''} exited ${code}: ${stderr.trim()}`))));
  });
}

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
    const chain = (await network.api.info()).chain;
    if (!chain) throw new Error('the control plane runs without a chain');
    say(`  chain ${chain.chainId ?? '?'} (anvil devnet at ${chain.rpcUrl})  MCP token ${chain.token ?? '?'}  distributor ${chain.distributor}`);

    step('Binding each node to its owner (anvil accounts 1-3) with `meshnode bind`');
    const owners = network.nodes.map((_, i) => devnetAccount(i + 1));
    await Promise.all(network.nodes.map((node, i) => runCli(MESHNODE_CLI, ['--data-dir', node.dataDir, 'bind', owners[i]?.address ?? ''])));
    for (const [i, node] of network.nodes.entries()) {
      const owner = owners[i]?.address ?? '';
      await waitFor(async () => (await network?.api.rewardsOwner(owner))?.nodes.some((n) => n.nodeId === node.nodeId) ?? false, 15_000, `binding of ${node.nodeId}`);
      say(`  node ${node.nodeId} → owner ${owner}  (signed by the node, verified by the control plane)`);
    }

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
    const recomputed = manifest.shards.filter((s) => s.verdict === 'verified').length;
    say(`  ${manifest.shards.length} shards, each signed by its node; ${recomputed} recomputed by the validator (teacher-forced prefill) and verified`);
    for (const node of (await api.job(job.id)).trust?.nodes ?? []) {
      say(`  node ${node.nodeId}: ${node.checked}/${node.results} checked; had it faked 10% of its results, caught with p = ${(node.detection['0.1'] ?? 0).toFixed(2)}`);
    }
    say(`  Merkle root ${manifest.root}`);

    step('Rewards: closing the epoch and posting its roots on chain (one transaction for every owner)');
    const closed = await api.closeEpoch();
    const posted = await waitForPosted(api, closed.epoch, 60_000);
    say(`  epoch ${posted.epoch}: ${posted.contributions} contributions, ${posted.units} compute units, ${posted.owners} owners, total ${mcp(posted.totalCumulative)}`);
    say(`  earnings root      ${posted.earningsRoot}`);
    say(`  contributions root ${posted.contributionsRoot}`);
    say(`  postEpoch tx ${posted.txHash}  block ${posted.postedBlock}  gas ${posted.gasUsed}`);
    for (const owner of owners) {
      const o = await api.rewardsOwner(owner.address);
      say(`  owner ${owner.address}  earned ${mcp(o.cumulativePosted)}  claimable ${mcp(o.claimable)}`);
    }
    const proof = await api.contributionProof(job.id, 0);
    const verified = await new DistributorClient({ rpcUrl: chain.rpcUrl, privateKey: null, distributor: chain.distributor }).verifyContribution({
      epoch: proof.epoch, jobId: proof.leaf.jobId, shardIndex: proof.leaf.shardIndex, nodeId: proof.leaf.nodeId, owner: proof.leaf.owner, units: BigInt(proof.leaf.units), proof: proof.proof,
    });
    say(`  shard 0 (${proof.contribution.units} units, node ${proof.contribution.nodeId}) in epoch ${proof.epoch}'s commitment: verifyContribution on chain → ${verified}`);

    const claimer = owners[0];
    if (!claimer) throw new Error('no owner to claim for');
    step(`Claiming for owner ${claimer.address} with \`meshchain claim\``);
    const keyFile = join(dir, 'owner1.key');
    await writeFile(keyFile, `${claimer.privateKey}\n`, { mode: 0o600 });
    const claim = JSON.parse(await runCli(MESHCHAIN_CLI, ['--api', network.info.apiUrl, 'claim', '--owner', claimer.address, '--key-file', keyFile, '--json'])) as {
      txHash: string; amount: string; gasUsed: string; balance: string | null;
    };
    say(`  claim tx ${claim.txHash}  gas ${claim.gasUsed}  minted ${mcp(claim.amount)}`);
    const after = await api.rewardsOwner(claimer.address);
    say(`  on-chain MCP balance of ${claimer.address}: ${mcp(after.balance)}  (claimed ${mcp(after.claimedOnChain)}, claimable now ${mcp(after.claimable)})`);

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

async function waitFor(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

await main();
