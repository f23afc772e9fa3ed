import assert from 'node:assert/strict';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import Database from 'better-sqlite3';
import {
  canonicalHash,
  encodeMessage,
  fleetSubscription,
  sealMessage,
  topicFor,
  type AssignmentBody,
  type InferAssignmentBody,
} from '@meshchain/protocol';
import { MeshBroker } from '@meshchain/broker';
import { writeTinyModel } from '@meshchain/scripts/model';
import { Agent, loadAgentConfig } from '../src/index.ts';
import { ControlPlaneStandIn } from './helpers/control-plane-stand-in.ts';

describe('agent', () => {
  let dir = '';
  let broker: MeshBroker;
  let http: Server;
  let modelUrl = '';
  let model = { path: '', sha256: '', size: 0 };
  const trusted = new ControlPlaneStandIn();
  const rogue = new ControlPlaneStandIn();
  let counter = 0;

  const assignment = (overrides: Partial<InferAssignmentBody> = {}, prompts = ['one', 'two']): InferAssignmentBody => {
    const inputs = prompts.map((prompt, index) => ({ index, prompt }));
    counter++;
    return {
      jobId: 'job_test',
      shardId: `job_test.${counter}`,
      shardIndex: counter,
      leaseId: `lease_${counter}`,
      leaseUntil: Date.now() + 120_000,
      workload: 'infer',
      model: { sha256: model.sha256, size: model.size, url: modelUrl },
      inputs,
      inputHash: canonicalHash(inputs),
      settings: { maxTokens: 6, temperature: 0, seed: 0, contextSize: 256, batchSize: 256, addBos: true },
      ...overrides,
    };
  };

  const startAgent = async (name: string, overrides: Record<string, unknown> = {}): Promise<Agent & { nodeId: string }> => {
    const config = loadAgentConfig({
      env: {},
      overrides: { dataDir: join(dir, name), mqttUrl: broker.url, controlPlaneId: trusted.id, web: { host: '127.0.0.1', port: 0 }, ...overrides },
    });
    const agent = new Agent(config, pino({ level: 'silent' }));
    const { nodeId } = await agent.start();
    // Subscriptions are in place once the agent's presence reaches the broker.
    await trusted.waitFor((m) => m.kind === 'presence' && m.nodeId === nodeId, 30_000).catch(() => undefined);
    return Object.assign(agent, { nodeId });
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshnode-agent-'));
    model = await writeTinyModel({ path: join(dir, 'tiny.gguf') });
    const bytes = await readFile(model.path);
    http = createServer((_req, res) => res.end(bytes));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const address = http.address();
    modelUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/model`;
    broker = new MeshBroker({ port: 0, enrollment: 'open', trustedControlPlanes: new Set([trusted.id, rogue.id]) });
    await broker.start();
    await trusted.connect(broker.url, ['result', 'handback']);
    await trusted.client!.subscribeAsync(fleetSubscription('presence'), { qos: 1 });
    await rogue.connect(broker.url, ['result', 'handback']);
  });
  after(async () => {
    await trusted.client?.endAsync();
    await rogue.client?.endAsync();
    await broker.stop();
    await new Promise((resolve) => http.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses assignments not signed by its control plane, malformed or invalid, and runs the genuine one', async (t) => {
    const agent = await startAgent('intake');
    t.after(() => agent.stop());
    const forged = assignment();
    await rogue.send('assignment', agent.nodeId, forged);
    await trusted.client!.publishAsync(topicFor('assignment', agent.nodeId), Buffer.from('not a message'), { qos: 1 });
    const invalid = { ...assignment(), inputHash: 'nope' } as AssignmentBody;
    await trusted.client!.publishAsync(topicFor('assignment', agent.nodeId), encodeMessage(sealMessage('assignment', invalid, trusted.signer)), { qos: 1 });
    const genuine = assignment();
    await trusted.send('assignment', agent.nodeId, genuine);

    const result = await trusted.waitFor((m) => m.kind === 'result' && m.body.shardId === genuine.shardId);
    assert.equal(result.nodeId, agent.nodeId);
    assert.equal(agent.status.rejectedMessages, 3, 'forged, garbage and invalid were refused');
    assert.ok(!trusted.inbox.some((m) => m.kind === 'result' && m.body.shardId === forged.shardId), 'the forged shard never ran');
    const db = new Database(join(dir, 'intake', 'agent.db'), { readonly: true });
    const stored = db.prepare('SELECT lease_id FROM assignments').all() as { lease_id: string }[];
    db.close();
    assert.deepEqual(stored.map((r) => r.lease_id), [genuine.leaseId]);
  });

  it('keeps a result in its outbox until acknowledged and drops it on ack', async (t) => {
    const agent = await startAgent('outbox', { ackTimeoutMs: 600_000 });
    t.after(() => agent.stop());
    const a = assignment();
    await trusted.send('assignment', agent.nodeId, a);
    const result = await trusted.waitFor((m) => m.kind === 'result' && m.body.shardId === a.shardId);
    assert.equal(agent.status.outbox, 1, 'no ack yet: the result stays');
    await trusted.client!.publishAsync(
      topicFor('ack', agent.nodeId),
      encodeMessage(sealMessage('ack', { resultId: result.envelope.id, shardId: a.shardId, leaseId: a.leaseId, status: 'accepted' }, trusted.signer)),
      { qos: 1 },
    );
    const outboxSize = (): number => agent.status.outbox;
    const deadline = Date.now() + 10_000;
    while (outboxSize() !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(outboxSize(), 0);
  });

  it('hands a running shard back on stop when the grace period is over', async () => {
    const agent = await startAgent('handback', { shutdownGraceMs: 0 });
    const long = assignment({ settings: { maxTokens: 1500, temperature: 0, seed: 0, contextSize: 2048, batchSize: 512, addBos: true } }, ['a', 'b', 'c', 'd']);
    await trusted.send('assignment', agent.nodeId, long);
    const deadline = Date.now() + 20_000;
    while (agent.status.current === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(agent.status.current?.shardId, long.shardId);
    await agent.stop();
    const handback = await trusted.waitFor((m) => m.kind === 'handback' && m.body.leaseId === long.leaseId);
    assert.equal(handback.kind === 'handback' && handback.body.reason, 'shutdown');
    // A clean stop says goodbye; the will is only for abrupt drops.
    await trusted.waitFor((m) => m.kind === 'presence' && m.nodeId === agent.nodeId && m.body.state === 'offline');
    assert.ok(!trusted.inbox.some((m) => m.kind === 'result' && m.body.leaseId === long.leaseId));
  });

  it('finishes a running shard within the grace period before stopping', async () => {
    const agent = await startAgent('graceful', { shutdownGraceMs: 60_000 });
    const a = assignment({}, ['x', 'y', 'z']);
    await trusted.send('assignment', agent.nodeId, a);
    const deadline = Date.now() + 20_000;
    while (agent.status.current === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await agent.stop();
    const result = await trusted.waitFor((m) => m.kind === 'result' && m.body.leaseId === a.leaseId);
    assert.equal(result.kind === 'result' && result.body.outputs.length, 3);
    assert.ok(!trusted.inbox.some((m) => m.kind === 'handback' && m.body.leaseId === a.leaseId));
  });
});
