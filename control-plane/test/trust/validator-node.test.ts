import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { inferAssignment, type AssignmentBody, type VerifyAssignmentBody, type VerifyResultBody } from '@meshchain/protocol';
import { Agent, loadAgentConfig } from '@meshchain/device-agent';
import { writeTinyModel } from '@meshchain/scripts/model';
import { ApiClient } from '../../src/index.ts';
import { openDatabase } from '../../src/store/db.ts';
import { CAPABILITIES, ScriptedNode, startControlPlane, type RunningControlPlane } from '../helpers/harness.ts';
import { forged, until } from './fixtures.ts';

const OWNER_X = '0x00000000000000000000000000000000000000aa';

function verifyTask(body: AssignmentBody): VerifyAssignmentBody {
  if (body.workload !== 'verify') throw new Error(`expected a verify task, got ${body.workload}`);
  return body;
}

function verdict(task: VerifyAssignmentBody, claim: 'pass' | 'fail'): VerifyResultBody {
  return {
    workload: 'verify',
    jobId: task.jobId,
    shardId: task.shardId,
    leaseId: task.leaseId,
    inputHash: task.inputHash,
    resultId: task.resultId,
    verdict: claim,
    ...(claim === 'fail' ? { reason: 'output 0: made up' } : {}),
    outputs: task.target.outputs.map((o) => ({ index: o.index, verdict: claim })),
    checked: 8,
    stats: { computeMs: 1 },
  };
}

async function scripted(cp: RunningControlPlane, role: 'worker' | 'validator', list: ScriptedNode[], maxConcurrentShards = 1): Promise<ScriptedNode> {
  const node = new ScriptedNode(cp.info.controlPlaneId);
  list.push(node);
  await node.connect(cp.info.mqttUrl);
  await node.send('presence', { state: 'online', since: Date.now() });
  const caps = role === 'worker' ? CAPABILITIES : { ...CAPABILITIES, roles: ['validator' as const], runtimes: [{ workload: 'verify' as const, engine: 'test', version: '0' }] };
  await node.send('capabilities', { ...caps, maxConcurrentShards });
  return node;
}

/** Binds nodes to an owner as the rewards component would have recorded it. */
function bind(cp: RunningControlPlane, owner: string, nodeIds: string[]): void {
  const db = openDatabase(join(cp.dir, 'control-plane.db'));
  try {
    const insert = db.prepare(`INSERT INTO node_bindings (node_id, owner, bound_at, message_id, envelope, received_at) VALUES (?, ?, ?, ?, '{}', ?)`);
    for (const id of nodeIds) insert.run(id, owner, Date.now(), `bind-${id}`, Date.now());
  } finally {
    db.close();
  }
}

describe('validator nodes', () => {
  let dir = '';
  let modelPath = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshchain-validators-'));
    modelPath = (await writeTinyModel({ path: join(dir, 'tiny.gguf') })).path;
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const startAgent = async (cp: RunningControlPlane, name: string, roles: ('worker' | 'validator')[], threads = 1) => {
    const config = loadAgentConfig({ env: {}, overrides: { dataDir: join(dir, name), mqttUrl: cp.info.mqttUrl, controlPlaneId: cp.info.controlPlaneId, web: { enabled: false }, roles, threads } });
    const agent = new Agent(config, pino({ level: 'silent' }));
    const { nodeId } = await agent.start();
    return { agent, nodeId };
  };
  const completed = (api: ApiClient, jobId: string) =>
    until(`job ${jobId}`, async () => {
      const s = await api.job(jobId);
      return s.job.state === 'completed' ? s : null;
    });

  it('a real validator agent checks another owner’s results through signed tasks; its verdicts are audited while it is new', async (t) => {
    const cp = await startControlPlane({ chain: { enabled: false } });
    t.after(() => cp.stop());
    const api = new ApiClient(cp.info.apiUrl);
    const model = (await api.uploadModel(modelPath)).sha256;
    const validator = await startAgent(cp, 'v1', ['validator'], 2);
    t.after(() => validator.agent.stop());
    await until('the validator online', async () => (await api.nodes()).find((n) => n.id === validator.nodeId)?.capabilities?.runtimes.some((r) => r.workload === 'verify'));
    const worker = await startAgent(cp, 'w1', ['worker']);
    t.after(() => worker.agent.stop());

    const { job } = await api.submitJob({ workload: 'infer', model, prompts: ['one', 'two', 'three'], shardSize: 1, settings: { maxTokens: 8 } });
    const status = await completed(api, job.id);
    assert.ok(status.shards.every((s) => s.nodeId === worker.nodeId), 'a validator-only node runs no shards');
    assert.equal(status.trust?.checked, 3);
    assert.equal(status.trust?.byValidatorNodes, 3, 'every check went to the validator node');
    assert.equal(status.trust?.audited, 3, 'a new validator’s verdicts are all re-checked');
    assert.ok((await api.manifest(job.id)).shards.every((s) => s.verdict === 'verified'));
    const v = (await api.nodes()).find((n) => n.id === validator.nodeId);
    assert.equal(v?.trust?.passes, 3, 'each agreeing verdict is a pass for the validator');
    assert.equal(v?.trust?.failures, 0);
    assert.ok(cp.lines.some((l) => l.msg === 'check handed to a validator node' && l.validatorId === validator.nodeId));

    // Embeddings too: the validator agent recomputes them with its own threads.
    const { job: embed } = await api.submitJob({ workload: 'embed', model, texts: ['first text', 'second text'], shardSize: 1 });
    const embedStatus = await completed(api, embed.id);
    assert.equal(embedStatus.trust?.byValidatorNodes, 2);
    assert.equal(embedStatus.trust?.failed, 0);
    assert.equal((await api.nodes()).find((n) => n.id === validator.nodeId)?.trust?.passes, 5);
  });

  it('a lying validator is caught both ways and quarantined; the control plane’s validator takes over', async (t) => {
    const cp = await startControlPlane({ chain: { enabled: false } });
    const nodes: ScriptedNode[] = [];
    t.after(async () => {
      for (const n of nodes) await n.close();
      await cp.stop();
    });
    const api = new ApiClient(cp.info.apiUrl);
    const model = (await api.uploadModel(modelPath)).sha256;
    const liar = await scripted(cp, 'validator', nodes);
    const cheater = await scripted(cp, 'worker', nodes);
    await until('both nodes known', async () => (await api.nodes()).length === 2);

    // A forged result, vouched for by the liar: the audit catches both.
    const { job } = await api.submitJob({ workload: 'infer', model, prompts: ['alpha'], shardSize: 1, settings: { maxTokens: 8 } });
    await cheater.send('result', forged(inferAssignment((await cheater.next('assignment')).body)));
    assert.equal((await cheater.next('ack')).body.status, 'accepted');
    const task1 = verifyTask((await liar.next('assignment')).body);
    assert.equal(task1.workerId, cheater.id);
    assert.equal(task1.target.workload, 'infer');
    // Only the node holding a task may answer it; a made-up task is refused too.
    await cheater.send('result', verdict(task1, 'pass'));
    assert.match((await cheater.next('ack')).body.reason ?? '', /belongs to another node/);
    await liar.send('result', { ...verdict(task1, 'pass'), leaseId: 'v-made-up' });
    const refused = (await liar.next('ack')).body;
    assert.equal(refused.status, 'rejected');
    assert.match(refused.reason ?? '', /unknown verification task/);
    await liar.send('result', verdict(task1, 'pass'));
    assert.equal((await liar.next('ack')).body.status, 'accepted');
    await until('the failed check', async () => (await api.job(job.id)).events.some((e) => e.kind === 'check_failed'));
    const afterLie = await api.job(job.id);
    assert.equal(afterLie.shards[0]?.state, 'queued', 'the forged shard goes back to the queue despite the validator’s word');
    assert.ok(afterLie.events.some((e) => e.kind === 'validator_failed' && e.nodeId === liar.id));

    // An honest result, convicted by the liar: the control plane re-checks every conviction.
    const honest = await startAgent(cp, 'honest', ['worker']);
    t.after(() => honest.agent.stop());
    const task2 = verifyTask((await liar.next('assignment')).body);
    assert.equal(task2.workerId, honest.nodeId);
    await liar.send('result', verdict(task2, 'fail'));
    assert.equal((await liar.next('ack')).body.status, 'accepted');
    const done = await completed(api, job.id);
    assert.equal(done.shards[0]?.nodeId, honest.nodeId);
    assert.ok((await api.manifest(job.id)).shards.every((s) => s.verdict === 'verified'), 'the honest worker is not convicted');
    const view = await api.nodes();
    assert.equal(view.find((n) => n.id === liar.id)?.trust?.quarantined, true, 'two contradicted verdicts: quarantined');
    assert.equal(view.find((n) => n.id === honest.nodeId)?.trust?.failures, 0);
    assert.equal(view.find((n) => n.id === cheater.id)?.trust?.failures, 1);

    // Redelivery of a verdict is answered, not applied twice.
    await liar.send('result', verdict(task2, 'fail'));
    assert.notEqual((await liar.next('ack')).body.status, 'accepted');

    // Quarantined: no more tasks; the control plane checks itself.
    const { job: next } = await api.submitJob({ workload: 'infer', model, prompts: ['beta'], shardSize: 1, settings: { maxTokens: 8 } });
    const nextStatus = await completed(api, next.id);
    assert.equal(nextStatus.trust?.checked, 1);
    assert.equal(nextStatus.trust?.byValidatorNodes, 0);
    assert.equal(liar.received.filter((m) => m.kind === 'assignment').length, 0);
  });

  it('a real validator agent convicts a forged result; the audit agrees and the validator earns a pass', async (t) => {
    const cp = await startControlPlane({ chain: { enabled: false } });
    const nodes: ScriptedNode[] = [];
    t.after(async () => {
      for (const n of nodes) await n.close();
      await cp.stop();
    });
    const api = new ApiClient(cp.info.apiUrl);
    const model = (await api.uploadModel(modelPath)).sha256;
    const validator = await startAgent(cp, 'v2', ['validator']);
    t.after(() => validator.agent.stop());
    await until('the validator online', async () => (await api.nodes()).find((n) => n.id === validator.nodeId)?.capabilities?.runtimes.some((r) => r.workload === 'verify'));
    const cheater = await scripted(cp, 'worker', nodes);
    const { job } = await api.submitJob({ workload: 'infer', model, prompts: ['zeta'], shardSize: 1, settings: { maxTokens: 8 } });
    await cheater.send('result', forged(inferAssignment((await cheater.next('assignment')).body)));
    const failed = await until('the failed check', async () => (await api.job(job.id)).events.find((e) => e.kind === 'check_failed'));
    assert.match(failed.detail ?? '', /spot check failed: output 0: position 0: claimed token \d+, the model prefers/);
    const status = await api.job(job.id);
    assert.equal(status.trust?.byValidatorNodes, 1);
    assert.equal(status.trust?.audited, 1, 'a conviction is always re-checked');
    assert.equal(status.shards[0]?.state, 'queued');
    const view = await api.nodes();
    assert.equal(view.find((n) => n.id === validator.nodeId)?.trust?.passes, 1);
    assert.equal(view.find((n) => n.id === cheater.id)?.trust?.failures, 1);
  });

  it('never hands a result to a validator of the same owner, and a rejected shard goes to another owner’s node', async (t) => {
    const cp = await startControlPlane({ chain: { enabled: false } });
    const nodes: ScriptedNode[] = [];
    t.after(async () => {
      for (const n of nodes) await n.close();
      await cp.stop();
    });
    const api = new ApiClient(cp.info.apiUrl);
    const model = (await api.uploadModel(modelPath)).sha256;
    const a = await scripted(cp, 'worker', nodes);
    const b = await scripted(cp, 'worker', nodes);
    const sameOwnerValidator = await scripted(cp, 'validator', nodes);
    bind(cp, OWNER_X, [a.id, b.id, sameOwnerValidator.id]);
    await until('three nodes known', async () => (await api.nodes()).length === 3);

    const { job } = await api.submitJob({ workload: 'infer', model, prompts: ['gamma'], shardSize: 1, settings: { maxTokens: 8 } });
    const node = await until('an assignment', async () => [a, b].find((n) => n.received.some((m) => m.kind === 'assignment')));
    const first = { node, sibling: node === a ? b : a };
    await first.node.send('result', forged(inferAssignment((await node.next('assignment')).body)));
    await until('the failed check', async () => (await api.job(job.id)).events.some((e) => e.kind === 'check_failed'));
    assert.equal(sameOwnerValidator.received.filter((m) => m.kind === 'assignment').length, 0, 'the control plane checked it: the only validator shares the worker’s owner');

    const other = await startAgent(cp, 'other-owner', ['worker']);
    t.after(() => other.agent.stop());
    // The redone result is another owner's: this validator may check that one.
    const task = verifyTask((await sameOwnerValidator.next('assignment')).body);
    assert.equal(task.workerId, other.nodeId);
    await sameOwnerValidator.send('result', verdict(task, 'pass'));
    const done = await completed(api, job.id);
    assert.equal(done.shards[0]?.nodeId, other.nodeId, 'redone by a node of another owner');
    assert.equal(first.sibling.received.filter((m) => m.kind === 'assignment').length, 0, 'the cheater’s sibling box, free all along, never got the shard');
    assert.equal(done.trust?.byValidatorNodes, 1, 'only the other owner’s result went to the validator node');
  });

  it('takes a task back from a validator that hands it back or stays silent, and checks the result itself', async (t) => {
    const cp = await startControlPlane({ chain: { enabled: false }, trust: { verifyTimeoutMs: 1_000 } });
    const nodes: ScriptedNode[] = [];
    t.after(async () => {
      for (const n of nodes) await n.close();
      await cp.stop();
    });
    const api = new ApiClient(cp.info.apiUrl);
    const model = (await api.uploadModel(modelPath)).sha256;
    const silent = await scripted(cp, 'validator', nodes, 4);
    await until('the validator known', async () => (await api.nodes()).length === 1);
    const worker = await startAgent(cp, 'worker', ['worker']);
    t.after(() => worker.agent.stop());

    const { job } = await api.submitJob({ workload: 'infer', model, prompts: ['delta', 'epsilon'], shardSize: 1, settings: { maxTokens: 8 } });
    const task1 = verifyTask((await silent.next('assignment')).body);
    await silent.send('handback', { shardId: task1.shardId, leaseId: task1.leaseId, reason: 'error', detail: 'model fetch failed' });
    const task2 = verifyTask((await silent.next('assignment')).body);
    assert.notEqual(task2.resultId, task1.resultId);
    // task2 is never answered: its deadline passes.
    const status = await completed(api, job.id);
    assert.equal(status.trust?.checked, 2);
    assert.equal(status.trust?.byValidatorNodes, 0, 'both were checked by the control plane');
    assert.ok(cp.lines.some((l) => l.msg?.startsWith('verification task withdrawn') && /handed back/.test(String(l.why))));
    assert.ok(cp.lines.some((l) => l.msg?.startsWith('verification task withdrawn') && /deadline/.test(String(l.why))));
    // A verdict after the deadline is refused.
    await silent.send('result', verdict(task2, 'pass'));
    assert.equal((await silent.next('ack')).body.status, 'rejected');
  });
});
