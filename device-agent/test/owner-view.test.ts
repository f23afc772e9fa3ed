import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { ApiClient } from '@meshchain/control-plane';
import { writeTinyModel } from '@meshchain/scripts/model';
import { startControlPlane, type RunningControlPlane } from '../../control-plane/test/helpers/harness.ts';
import { Agent, loadAgentConfig } from '../src/index.ts';
import { ScriptedSource } from './telemetry/scripted-source.ts';
import { launchChromium } from './web/browser.ts';

const OWNER = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

async function until<T>(what: string, probe: () => T | Promise<T>, timeoutMs = 30_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * The box as its owner sees it, end to end: a real agent with a simulated LED
 * and its web page, telemetry to a real control plane, binding from the page,
 * an overheating box that gets no new work, and identify from the CLI's API.
 */
describe('the owner view of a running agent', () => {
  let cp: RunningControlPlane;
  let api: ApiClient;
  let dir = '';
  let modelSha = '';
  const source = new ScriptedSource();
  let agent: Agent;
  let nodeId = '';
  let webUrl = '';

  before(async () => {
    cp = await startControlPlane({ chain: { enabled: false } });
    api = new ApiClient(cp.info.apiUrl);
    dir = await mkdtemp(join(tmpdir(), 'meshnode-owner-'));
    modelSha = (await api.uploadModel((await writeTinyModel({ path: join(dir, 'tiny.gguf') })).path)).sha256;
    const config = loadAgentConfig({
      env: {},
      overrides: {
        dataDir: join(dir, 'node'),
        mqttUrl: cp.info.mqttUrl,
        controlPlaneId: cp.info.controlPlaneId,
        web: { host: '127.0.0.1', port: 0 },
        telemetry: { intervalMs: 1_000 },
      },
    });
    agent = new Agent(config, pino({ level: 'silent' }), { telemetrySource: source });
    const started = await agent.start();
    nodeId = started.nodeId;
    webUrl = started.webUrl ?? '';
  });
  after(async () => {
    await agent.stop();
    await cp.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const page = async (): Promise<{ state: string; owner: string | null; connectivity: { connected: boolean }; current: unknown }> =>
    (await fetch(`${webUrl}/api/status`)).json() as never;

  it('shows unclaimed until an owner is bound from the page, then idle', async () => {
    await until('unclaimed', () => agent.status.led === 'unclaimed');
    const before = await page();
    assert.equal(before.state, 'unclaimed');
    assert.equal(before.connectivity.connected, true);

    const refused = await fetch(`${webUrl}/api/actions/bind`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ owner: OWNER }) });
    assert.equal(refused.status, 401, 'no password, no action');
    const set = await fetch(`${webUrl}/api/password`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: 'correct horse battery' }) });
    assert.equal(set.status, 201);
    const cookie = set.headers.get('set-cookie')?.split(';')[0] ?? '';
    const bound = await fetch(`${webUrl}/api/actions/bind`, { method: 'POST', headers: { 'content-type': 'application/json', cookie }, body: JSON.stringify({ owner: OWNER }) });
    assert.equal(bound.status, 200);
    await until('idle after binding', () => agent.status.led === 'idle');
    assert.equal((await page()).owner, OWNER);
  });

  it('sends telemetry that the control plane keeps and shows', async () => {
    const shown = await until('telemetry at the control plane', async () => {
      const { node, telemetry } = await api.node(nodeId);
      return node.telemetry && telemetry.length > 0 ? { node, telemetry } : null;
    });
    assert.equal(shown.node.telemetry?.cpuC, 55);
    assert.equal(shown.node.telemetry?.overheating, false);
  });

  it('takes no new work while overheating, and works again once cool', async () => {
    source.script.temperatureC = 91;
    await until('overheating at the control plane', async () => (await api.node(nodeId)).node.telemetry?.overheating === true);
    assert.equal(agent.status.led, 'overheating');
    const { job } = await api.submitJob({ workload: 'infer', model: modelSha, prompts: ['a', 'b', 'c', 'd'], shardSize: 4, settings: { maxTokens: 300, contextSize: 512 } });
    // Three more samples arrive while hot; the scheduler runs every 50 ms meanwhile.
    const seen = (await api.node(nodeId)).telemetry.length;
    await until('three more samples', async () => (await api.node(nodeId)).telemetry.length >= seen + 3, 20_000);
    assert.deepEqual((await api.job(job.id)).shards.map((s) => s.state), ['queued'], 'a hot box got no work');

    source.script.temperatureC = 60;
    let sawWorking = false;
    const done = await until('the job to finish after cooling', async () => {
      const status = agent.status;
      if (status.current && !status.overheating) {
        // The LED follows the agent's state at once: a running shard shows as working.
        assert.equal(status.led, 'working');
        sawWorking = true;
      }
      const job2 = (await api.job(job.id)).job;
      return job2.state === 'completed' ? job2 : null;
    }, 60_000);
    assert.equal(done.state, 'completed');
    assert.ok(sawWorking, 'the LED showed the shard running');
    await until('idle again', () => agent.status.led === 'idle');
  });

  it('shows a shard live in a real browser: idle → working → idle, without reloading', async (t) => {
    const browser = await launchChromium();
    t.after(() => browser.close());
    const tab = await browser.newPage();
    const problems: string[] = [];
    tab.on('pageerror', (error) => problems.push(error.message));
    await tab.goto(`${webUrl}/`);
    await tab.waitForSelector('#hero[data-state="idle"]');
    assert.equal((await tab.textContent('#node'))?.trim(), nodeId);
    assert.equal((await tab.textContent('#owner'))?.includes(OWNER.slice(0, 10)), true);
    await tab.evaluate('window.notReloaded = true');

    // ~3,800 tokens: long enough to be seen through the page's 4-updates-a-second coalescing on a fast machine.
    const { job } = await api.submitJob({ workload: 'infer', model: modelSha, prompts: ['e', 'f', 'g', 'h', 'i', 'j', 'k', 'l'], shardSize: 8, settings: { maxTokens: 480, contextSize: 512 } });
    await tab.waitForSelector('#hero[data-state="working"]', { timeout: 30_000 });
    await tab.waitForSelector('#cur:not([hidden])');
    await until('the job', async () => (await api.job(job.id)).job.state === 'completed', 60_000);
    await tab.waitForSelector('#hero[data-state="idle"]', { timeout: 30_000 });
    assert.equal(await tab.evaluate('window.notReloaded'), true, 'live updates, no reload');
    assert.deepEqual(problems, []);
  });

  it('blinks identify when asked through the API', async () => {
    const answer = await api.identify(nodeId, 5);
    assert.equal(answer.online, true);
    await until('identify', () => agent.status.led === 'identify');
    assert.equal((await page()).state, 'identify');
    await assert.rejects(api.identify('mn' + 'z'.repeat(26), 5), /not found/);
  });
});
