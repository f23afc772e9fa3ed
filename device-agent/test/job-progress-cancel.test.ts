import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import {
  canonicalHash,
  type InferAssignmentBody,
  type OpenedMessage,
} from '@meshchain/protocol';
import { MeshBroker } from '@meshchain/broker';
import { writeTinyModel } from '@meshchain/scripts/model';
import { Agent, loadAgentConfig } from '../src/index.ts';
import { ControlPlaneStandIn } from './helpers/control-plane-stand-in.ts';

/**
 * A real agent (real broker, real llama.cpp worker, the tiny model) sends
 * progress while a shard runs, and a signed `cancel` command aborts the
 * running shard of a job and skips its queued ones, without a handback.
 */
describe('agent: progress and cancel', () => {
  const cp = new ControlPlaneStandIn();
  let dir = '';
  let broker: MeshBroker;
  let http: Server;
  let model = { path: '', sha256: '', size: 0 };
  let modelUrl = '';

  const waitFor = (what: string, match: (m: OpenedMessage) => boolean): Promise<OpenedMessage> => cp.waitFor(match, 60_000, what);

  let counter = 0;
  const assignment = (jobId: string, prompts: number, maxTokens: number): InferAssignmentBody => {
    const inputs = Array.from({ length: prompts }, (_, index) => ({ index, prompt: `prompt ${index} of ${jobId}` }));
    counter++;
    return {
      jobId,
      shardId: `${jobId}.${counter}`,
      shardIndex: counter,
      leaseId: `lease_${counter}`,
      leaseUntil: Date.now() + 600_000,
      workload: 'infer',
      model: { sha256: model.sha256, size: model.size, url: modelUrl },
      inputs,
      inputHash: canonicalHash(inputs),
      settings: { maxTokens, temperature: 0, seed: 0, contextSize: 512, batchSize: 512, addBos: true },
    };
  };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshnode-progress-'));
    model = await writeTinyModel({ path: join(dir, 'tiny.gguf') });
    const bytes = await readFile(model.path);
    http = createServer((_req, res) => res.end(bytes));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const address = http.address();
    modelUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/model`;
    broker = new MeshBroker({ host: '127.0.0.1', port: 0, enrollment: 'open', trustedControlPlanes: new Set([cp.id]) });
    await broker.start();
    await cp.connect(broker.url, ['presence', 'progress', 'result', 'handback']);
  });
  after(async () => {
    await cp.client?.endAsync();
    await broker?.stop();
    await new Promise((resolve) => http.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('reports progress on the running lease, then drops a cancelled job (running and queued) and runs the next job', async (t) => {
    const config = loadAgentConfig({
      env: {},
      overrides: { dataDir: join(dir, 'node'), mqttUrl: broker.url, controlPlaneId: cp.id, web: { enabled: false }, progressIntervalMs: 100 },
    });
    const agent = new Agent(config, pino({ level: 'silent' }));
    const { nodeId } = await agent.start();
    t.after(() => agent.stop());
    await waitFor('presence', (m) => m.kind === 'presence' && m.nodeId === nodeId);

    // Long enough to still be running when the cancel arrives: 64 prompts × 400 tokens.
    const running = assignment('job_cancel', 64, 400);
    const queued = assignment('job_cancel', 2, 4);
    const other = assignment('job_keep', 2, 4);
    await cp.send('assignment', nodeId, running);
    await cp.send('assignment', nodeId, queued);
    await cp.send('assignment', nodeId, other);

    const progress = await waitFor('progress', (m) => m.kind === 'progress' && m.body.leaseId === running.leaseId);
    assert.equal(progress.nodeId, nodeId);
    assert.deepEqual(progress.kind === 'progress' ? [progress.body.jobId, progress.body.shardId] : null, [running.jobId, running.shardId]);

    await cp.send('command', nodeId, { type: 'cancel', jobId: 'job_cancel', reason: 'test cancel' });
    const kept = await waitFor('the other job to run', (m) => m.kind === 'result' && m.body.leaseId === other.leaseId);
    assert.equal(kept.nodeId, nodeId);

    assert.ok(!cp.inbox.some((m) => (m.kind === 'result' || m.kind === 'handback') && m.body.shardId.startsWith('job_cancel.')), 'no result and no handback for the cancelled job');
    const db = new Database(join(dir, 'node', 'agent.db'), { readonly: true });
    try {
      const rows = db.prepare(`SELECT lease_id AS leaseId, state, error FROM assignments WHERE job_id = 'job_cancel' ORDER BY received_at, lease_id`).all() as { leaseId: string; state: string; error: string }[];
      assert.deepEqual(
        rows.map((r) => [r.leaseId, r.state, r.error]),
        [
          [running.leaseId, 'failed', 'cancelled: test cancel'],
          [queued.leaseId, 'failed', 'cancelled: test cancel'],
        ],
      );
    } finally {
      db.close();
    }
  });
});
