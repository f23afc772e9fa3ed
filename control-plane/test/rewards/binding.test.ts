// Owner bindings and the ledger through a real control plane: embedded broker, MQTT, SQLite, anvil devnet.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Agent, loadAgentConfig } from '@meshchain/device-agent';
import { encodeMessage, inferAssignment, topicFor, type BindingBody, type Envelope } from '@meshchain/protocol';
import { ApiClient, ApiError } from '../../src/index.ts';
import { ScriptedNode, startControlPlane, type RunningControlPlane } from '../helpers/harness.ts';
import { waitUntil } from './helpers.ts';

const ALICE = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const BOB = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC';
const CAROL = '0x90F79bf6EB2c4f870365E785982E1f101E93b906';
const MESHNODE_CLI = fileURLToPath(new URL('../../../device-agent/src/cli/main.ts', import.meta.url));

/** `meshnode --data-dir <dir> bind <owner> --json`, as a real process. */
function meshnodeBind(dataDir: string, owner: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MESHNODE_CLI, '--data-dir', dataDir, 'bind', owner, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('owner bindings and contributions through the control plane', () => {
  let cp: RunningControlPlane;
  let api: ApiClient;
  let node: ScriptedNode;
  const boundTo = async (owner: string, nodeId: string): Promise<boolean> => (await api.rewardsOwner(owner)).nodes.some((n) => n.nodeId === nodeId);
  const sendBinding = (envelope: Envelope<'binding'>): Promise<void> => node.sendRaw(topicFor('binding', node.id), encodeMessage(envelope), true);
  const rejected = (pattern: RegExp): boolean =>
    cp.lines.some((l) => l.msg === 'message rejected' && pattern.test(`${String(l.reason)} ${String(l.details ?? '')}`));

  before(async () => {
    cp = await startControlPlane();
    api = new ApiClient(cp.info.apiUrl);
    node = new ScriptedNode(cp.info.controlPlaneId);
    await node.connect(cp.info.mqttUrl);
  });
  after(async () => {
    await node.close();
    await cp.stop();
  });

  it('reports the devnet it started in /v1/info', async () => {
    const { chain } = await api.info();
    assert.ok(chain, 'rewards are on by default');
    assert.equal(chain.devnet, true);
    assert.equal(chain.chainId, 31337);
    assert.match(chain.rpcUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(chain.token ?? '', /^0x[0-9a-fA-F]{40}$/);
    assert.match(chain.distributor, /^0x[0-9a-fA-F]{40}$/);
  });

  it('records a signed binding, refuses forged and malformed ones with a logged reason, and lets the latest win', async () => {
    await sendBinding(node.seal('binding', { owner: ALICE, boundAt: Date.now() - 10_000 }));
    await waitUntil(() => boundTo(ALICE, node.id), 10_000, 'the binding to ALICE');

    // Forged: a binding to BOB whose body was changed after signing.
    const sealed = node.seal('binding', { owner: ALICE, boundAt: Date.now() });
    await sendBinding({ ...sealed, body: { ...sealed.body, owner: BOB } });
    await waitUntil(() => rejected(/bad signature on binding/), 10_000, 'the forged binding to be refused');

    // Malformed addresses: too short, and a broken EIP-55 checksum.
    await sendBinding(node.seal('binding', { owner: '0x1234', boundAt: Date.now() } as BindingBody));
    await waitUntil(() => rejected(/invalid binding body.*not a 0x-prefixed 20-byte hex address/), 10_000, 'the short address to be refused');
    await sendBinding(node.seal('binding', { owner: BOB.replace('C44', 'c44'), boundAt: Date.now() }));
    await waitUntil(() => rejected(/invalid binding body.*EIP-55/), 10_000, 'the bad checksum to be refused');
    await sendBinding(node.seal('binding', { owner: `0x${'0'.repeat(40)}`, boundAt: Date.now() }));
    await waitUntil(() => rejected(/zero address/), 10_000, 'the zero address to be refused');
    assert.ok(await boundTo(ALICE, node.id), 'still bound to ALICE');

    // Older than the recorded one: ignored. Newer: wins.
    await sendBinding(node.seal('binding', { owner: BOB, boundAt: Date.now() - 60_000 }));
    await waitUntil(() => cp.lines.some((l) => l.msg === 'binding ignored' && l.owner === BOB), 10_000, 'the stale binding to be ignored');
    assert.ok(await boundTo(ALICE, node.id));
    await sendBinding(node.seal('binding', { owner: BOB, boundAt: Date.now() }));
    await waitUntil(() => boundTo(BOB, node.id), 10_000, 'the rebinding to BOB');
    assert.equal((await api.rewardsOwner(ALICE)).nodes.length, 0);
    await assert.rejects(api.rewardsOwner('0xnot-an-address'), (e: unknown) => e instanceof ApiError && e.status === 400);
  });

  it('a real agent publishes the binding `meshnode bind` recorded on connect, and again soon after it changes', async (t) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'meshchain-bind-agent-'));
    t.after(() => rm(dataDir, { recursive: true, force: true }));
    const refused = await meshnodeBind(dataDir, '0xnope');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /not an owner address/);
    const first = await meshnodeBind(dataDir, CAROL);
    assert.equal(first.code, 0, first.stderr);
    const { nodeId } = JSON.parse(first.stdout) as { nodeId: string };

    // A control plane of its own: the agent must not become a worker of the next test's job.
    const own = await startControlPlane();
    const ownApi = new ApiClient(own.info.apiUrl);
    const ownedBy = async (owner: string): Promise<boolean> => (await ownApi.rewardsOwner(owner)).nodes.some((n) => n.nodeId === nodeId);
    const agent = new Agent(loadAgentConfig({ env: {}, overrides: { dataDir, mqttUrl: own.info.mqttUrl, controlPlaneId: own.info.controlPlaneId, web: { enabled: false } } }), pino({ level: 'silent' }));
    t.after(async () => {
      await agent.stop();
      await own.stop();
    });
    assert.equal((await agent.start()).nodeId, nodeId);
    await waitUntil(() => ownedBy(CAROL), 15_000, 'the agent to publish its binding on connect');

    const second = await meshnodeBind(dataDir, ALICE.toLowerCase());
    assert.equal(second.code, 0, second.stderr);
    await waitUntil(() => ownedBy(ALICE), 15_000, 'the running agent to publish the new binding');
    assert.equal(await ownedBy(CAROL), false);
  });

  it('turns an accepted shard into a contribution of its owner, settles it in a posted epoch, and proves it', async () => {
    const model = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7) & 0xff));
    const sha = createHash('sha256').update(model).digest('hex');
    await fetch(`${cp.info.apiUrl}/v1/models/${sha}`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: model });
    await node.announce();
    const { job } = await api.submitJob({ workload: 'infer', model: sha, prompts: ['hello mesh', 'second'], shardSize: 4, settings: { maxTokens: 4 } });
    const assignment = inferAssignment((await node.next('assignment')).body);
    await node.send('result', {
      jobId: assignment.jobId,
      shardId: assignment.shardId,
      leaseId: assignment.leaseId,
      modelSha256: assignment.model.sha256,
      inputHash: assignment.inputHash,
      outputs: assignment.inputs.map((input) => ({ index: input.index, tokens: [5, 6, 7, 8], text: 'four', finishReason: 'length' as const })),
      stats: { promptTokens: 9, generatedTokens: 8, computeMs: 3 },
    });
    assert.equal((await node.next('ack')).body.status, 'accepted');
    const expectedUnits = 9 + 8; // 9 prompt tokens (under the 10 + 2 + 6 + 2 byte cap) + 8 generated

    assert.equal((await api.rewardsOwner(BOB)).openEpochUnits, String(expectedUnits));
    await assert.rejects(api.contributionProof(job.id, 0), (e: unknown) => e instanceof ApiError && e.status === 409 && /open epoch/.test(e.message));
    await assert.rejects(api.contributionProof(job.id, 7), (e: unknown) => e instanceof ApiError && e.status === 404);

    const closed = await api.closeEpoch();
    assert.equal(closed.contributions, 1);
    await waitUntil(async () => (await api.rewardsEpochs()).epochs.find((e) => e.epoch === closed.epoch)?.state === 'posted', 20_000, 'the epoch to be posted');
    const bob = await api.rewardsOwner(BOB);
    assert.equal(bob.cumulativePosted, (BigInt(expectedUnits) * 10n ** 15n).toString(), 'units × the default 0.001 MCP per unit');
    assert.equal(bob.claimable, bob.cumulativePosted);
    assert.ok(bob.claim && bob.proof);

    const proof = await api.contributionProof(job.id, 0);
    assert.deepEqual(proof.contribution, { jobId: job.id, shardIndex: 0, nodeId: node.id, owner: BOB, units: String(expectedUnits) });
    assert.equal(proof.epochState, 'posted');
    assert.equal(proof.contributionsRoot, closed.contributionsRoot);
  });
});
