import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { ApiClient } from '@meshchain/control-plane';
import { LlamaRuntime } from '../../device-agent/src/runtimes/llama/index.ts';
import { writeTinyModel } from '../src/model/index.ts';
import { MESHCHAIN_CLI, MESHNODE_CLI, runMeshchain, startProcess, type ManagedProcess } from '../src/fleet/processes.ts';
import { TcpProxy } from '../src/fleet/tcp-proxy.ts';

/**
 * Fault injection with real processes: a standalone broker (`meshchain
 * broker`), the control plane (`meshchain serve --broker-url`), three
 * `meshnode` agents behind a TCP relay, the project's tiny GGUF model. Each
 * test breaks something in the middle of a job; each job must still complete
 * with the right output, every shard counted exactly once, no lease left live.
 */

const PROMPTS = Array.from({ length: 48 }, (_, i) => `fault ${i}: the mesh keeps going`);
const SHARD_SIZE = 2;
const SHARDS = PROMPTS.length / SHARD_SIZE;
const MAX_TOKENS = 160;
const SAMPLE = [0, 17, 46];

interface OutputLine {
  index: number;
  prompt: string;
  tokens: number[];
}

const until = async <T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 120_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
};

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const accepting = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

interface Agent {
  name: string;
  process: ManagedProcess;
  nodeId: string;
  dataDir: string;
}

describe('fault injection: real processes, killed and cut mid-job', { timeout: 600_000 }, () => {
  let dir = '';
  let cpDir = '';
  let cpId = '';
  let configFile = '';
  let brokerPort = 0;
  let apiPort = 0;
  let broker: ManagedProcess | null = null;
  let controlPlane: ManagedProcess | null = null;
  let proxy: TcpProxy | null = null;
  let api: ApiClient;
  let modelSha = '';
  const agents: Agent[] = [];
  const expected = new Map<number, number[]>();
  let reference: OutputLine[] | null = null;

  const startBroker = async (): Promise<void> => {
    const proc = startProcess('broker', MESHCHAIN_CLI, ['broker', '--trust', cpId, '--port', String(brokerPort)], { MESHCHAIN_LOG_LEVEL: 'warn' });
    broker = proc;
    const exited = proc.exited.then(() => 'exited' as const);
    const outcome = await until('the broker to listen', async () => {
      const state = await Promise.race([exited, accepting(brokerPort)]);
      return state === 'exited' || state ? state : undefined;
    }, 60_000);
    if (outcome === 'exited') throw new Error(`the broker exited at start:\n${proc.logs().join('\n')}`);
  };

  const startControlPlane = async (): Promise<void> => {
    controlPlane = startProcess(
      'control-plane',
      MESHCHAIN_CLI,
      ['serve', '--json', '--no-chain', '--config', configFile, '--data-dir', cpDir, '--api-port', String(apiPort)],
      { MESHCHAIN_BROKER_URL: `mqtt://127.0.0.1:${brokerPort}`, MESHCHAIN_LOG_LEVEL: 'warn', MESHCHAIN_TRUST_ENABLED: 'false' },
    );
    await controlPlane.waitForEvent('ready', 60_000);
  };

  const startAgent = async (name: string): Promise<Agent> => {
    const dataDir = join(dir, name);
    const proc = startProcess(`agent ${name}`, MESHNODE_CLI, ['start'], {
      MESHNODE_DATA_DIR: dataDir,
      MESHNODE_MQTT_URL: proxy!.url,
      MESHNODE_CONTROL_PLANE_ID: cpId,
      MESHNODE_THREADS: '1',
      MESHNODE_LOG_LEVEL: 'info',
      MESHNODE_WEB_ENABLED: 'false',
      MESHNODE_PROGRESS_INTERVAL_MS: '500',
      MESHNODE_ACK_TIMEOUT_MS: '2000',
    });
    const started = await proc.waitForEvent<{ nodeId: string }>('started', 60_000);
    const agent = { name, process: proc, nodeId: started.nodeId, dataDir };
    const index = agents.findIndex((a) => a.name === name);
    if (index >= 0) agents[index] = agent;
    else agents.push(agent);
    return agent;
  };

  const cpDb = (): Database.Database => new Database(join(cpDir, 'control-plane.db'), { readonly: true, fileMustExist: true });

  const onlineWorkers = async (count: number): Promise<void> => {
    await until(`${count} agents online`, async () => {
      const nodes = await api.nodes().catch(() => []);
      return nodes.filter((n) => n.presence === 'online' && n.capabilities && agents.some((a) => a.nodeId === n.id)).length >= count;
    });
  };

  const completedShards = async (jobId: string): Promise<{ completed: number; state: string } | undefined> => {
    const status = await api.job(jobId).catch(() => undefined);
    return status ? { completed: status.progress.shards.completed, state: status.job.state } : undefined;
  };

  /** Waits (while the control plane answers) until the job has at least `n` completed shards; returns its state then. */
  const reach = (jobId: string, n: number): Promise<string> =>
    until(`job ${jobId} at ${n} completed shards`, async () => {
      const p = await completedShards(jobId);
      return p && (p.completed >= n || p.state !== 'running') ? p.state : undefined;
    });

  const creditedShards = async (): Promise<number> => (await api.nodes()).reduce((sum, n) => sum + n.shardsCompleted, 0);

  const submit = async (prompts = PROMPTS): Promise<{ jobId: string; creditedBefore: number }> => {
    const creditedBefore = await creditedShards();
    const { job } = await api.submitJob({ workload: 'infer', model: modelSha, prompts, shardSize: SHARD_SIZE, settings: { maxTokens: MAX_TOKENS } });
    return { jobId: job.id, creditedBefore };
  };

  /** The acceptance: correct output, each shard counted exactly once, nothing left leased. */
  const assertCompletedOnce = async (jobId: string, creditedBefore: number): Promise<void> => {
    const state = await until(`job ${jobId} to end`, async () => {
      const p = await completedShards(jobId);
      return p && p.state !== 'running' ? p.state : undefined;
    }, 240_000);
    assert.equal(state, 'completed', `job ${jobId} ended ${state}`);

    const lines = (await api.resultText(jobId)).trim().split('\n').map((l) => JSON.parse(l) as OutputLine);
    assert.deepEqual(lines.map((l) => l.index), PROMPTS.map((_, i) => i), 'every output, in input order');
    assert.deepEqual(lines.map((l) => l.prompt), PROMPTS);
    for (const index of SAMPLE) assert.deepEqual(lines[index]?.tokens, expected.get(index), `output ${index} is what the model generates locally`);
    if (reference) assert.deepEqual(lines, reference, 'the same output as an undisturbed run');
    else reference = lines;

    const db = cpDb();
    try {
      const accepted = db
        .prepare(`SELECT shard_id AS shardId, COUNT(*) AS n FROM results WHERE job_id = ? AND verdict = 'accepted' GROUP BY shard_id`)
        .all(jobId) as { shardId: string; n: number }[];
      assert.equal(accepted.length, SHARDS, 'every shard has an accepted result');
      assert.ok(accepted.every((r) => r.n === 1), 'and exactly one');
      const completions = db
        .prepare(`SELECT COUNT(*) AS n, COUNT(DISTINCT shard_id) AS shards FROM events WHERE job_id = ? AND kind = 'shard_completed'`)
        .get(jobId) as { n: number; shards: number };
      assert.deepEqual(completions, { n: SHARDS, shards: SHARDS }, 'each shard completed once');
      const live = db
        .prepare(`SELECT COUNT(*) AS n FROM leases l JOIN shards s ON s.id = l.shard_id WHERE s.job_id = ? AND l.state = 'active'`)
        .get(jobId) as { n: number };
      assert.equal(live.n, 0, 'no lease left live');
    } finally {
      db.close();
    }
    assert.equal((await creditedShards()) - creditedBefore, SHARDS, 'nodes credited once per shard');
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshchain-faults-'));
    cpDir = join(dir, 'control-plane');
    await mkdir(cpDir, { recursive: true });
    const model = await writeTinyModel({ path: join(dir, 'tiny.gguf') });
    const id = await runMeshchain(['id', '--data-dir', cpDir]);
    assert.equal(id.code, 0, id.stderr);
    cpId = id.stdout.trim();
    configFile = join(dir, 'control-plane.json');
    // Short leases kept alive by progress (every 500 ms), quick retries, fast ticks: faults show up in seconds.
    await writeFile(
      configFile,
      JSON.stringify({
        version: 1,
        tickMs: 200,
        lease: { baseMs: 4_000, perTokenMs: 2, extendMs: 4_000, maxAgeMs: 120_000, restartGraceMs: 3_000 },
        retry: { delayMs: 200, factor: 1.5, jitter: 0.2, maxAttempts: 20 },
        stragglers: { enabled: true, factor: 3, minRunMs: 3_000, leaseFraction: 0.5 },
      }),
    );
    brokerPort = await freePort();
    apiPort = await freePort();
    await startBroker();
    proxy = new TcpProxy({ host: '127.0.0.1', port: brokerPort });
    await proxy.start();
    await startControlPlane();
    api = new ApiClient(`http://127.0.0.1:${apiPort}`);
    for (const name of ['a1', 'a2', 'a3']) await startAgent(name);
    await onlineWorkers(3);
    modelSha = (await api.uploadModel(model.path)).sha256;

    const runtime = new LlamaRuntime();
    try {
      for (const index of SAMPLE) {
        const local = await runtime.generate(model, PROMPTS[index] ?? '', { maxTokens: MAX_TOKENS, temperature: 0, seed: 0, contextSize: 512, batchSize: 512, threads: 1, addBos: true });
        expected.set(index, local.tokens);
      }
    } finally {
      await runtime.stop();
    }
  });

  after(async () => {
    await Promise.all(agents.map((a) => a.process.stop('SIGTERM', 10_000)));
    await controlPlane?.stop('SIGTERM', 10_000);
    await proxy?.stop();
    await broker?.stop('SIGTERM', 10_000);
    if (dir && existsSync(dir)) await rm(dir, { recursive: true, force: true });
  });

  it('completes a job undisturbed (the reference output)', async () => {
    const { jobId, creditedBefore } = await submit();
    await assertCompletedOnce(jobId, creditedBefore);
  });

  it('survives the control plane being SIGKILLed mid-job, three times', async () => {
    const { jobId, creditedBefore } = await submit();
    let killedMidJob = 0;
    for (const threshold of [3, 9, 15]) {
      if ((await reach(jobId, threshold)) !== 'running') break;
      await controlPlane!.kill();
      killedMidJob++;
      await startControlPlane();
    }
    assert.ok(killedMidJob >= 2, `the control plane died mid-job ${killedMidJob} times`);
    await assertCompletedOnce(jobId, creditedBefore);
  });

  it('survives the broker being SIGKILLed and restarted mid-job', async () => {
    const { jobId, creditedBefore } = await submit();
    assert.equal(await reach(jobId, 4), 'running');
    await broker!.kill();
    await startBroker();
    await assertCompletedOnce(jobId, creditedBefore);
  });

  it('survives agents SIGKILLed mid-shard and restarted', async () => {
    const { jobId, creditedBefore } = await submit();
    let killed = 0;
    for (const threshold of [2, 8]) {
      if ((await reach(jobId, threshold)) !== 'running') break;
      // A node holding a lease right now: it is mid-shard (or about to start it).
      const holder = await until('a node holding a lease', async () => {
        const status = await api.job(jobId).catch(() => undefined);
        const leased = status?.shards.find((s) => s.state === 'leased' && agents.some((a) => a.nodeId === s.nodeId));
        return leased ? agents.find((a) => a.nodeId === leased.nodeId) : status?.job.state !== 'running' ? null : undefined;
      });
      if (!holder) break;
      await holder.process.kill();
      killed++;
      const restarted = await startAgent(holder.name);
      assert.equal(restarted.nodeId, holder.nodeId, 'same identity after the restart');
    }
    assert.ok(killed >= 1, 'an agent died mid-shard');
    await assertCompletedOnce(jobId, creditedBefore);
  });

  it('survives every agent connection being cut, repeatedly', async () => {
    const { jobId, creditedBefore } = await submit();
    let cuts = 0;
    for (const threshold of [2, 7, 12]) {
      if ((await reach(jobId, threshold)) !== 'running') break;
      cuts += proxy!.cut();
    }
    assert.ok(cuts >= 3, `connections cut mid-job: ${cuts}`);
    await assertCompletedOnce(jobId, creditedBefore);
    assert.ok(proxy!.accepted > agents.length, 'the agents reconnected through the relay');
  });

  it('cancels a job mid-way with `meshchain cancel`: running shards stop on the agents, nothing more is counted', async () => {
    await onlineWorkers(3);
    // Long enough that it is still running when the CLI (a new process) gets to it.
    const { jobId } = await submit([...PROMPTS, ...PROMPTS, ...PROMPTS, ...PROMPTS, ...PROMPTS]);
    assert.equal(await reach(jobId, 2), 'running');
    const cli = await runMeshchain(['--api', `http://127.0.0.1:${apiPort}`, 'cancel', jobId, '--reason', 'fault test', '--json']);
    assert.equal(cli.code, 0, cli.stderr);
    const report = JSON.parse(cli.stdout) as { job: { state: string }; revokedLeases: number; progress: { shards: { completed: number } } };
    assert.equal(report.job.state, 'cancelled');
    const completedAtCancel = report.progress.shards.completed;

    if (report.revokedLeases > 0) {
      await until('an agent to drop the cancelled work', () => agents.some((a) => a.process.logs().some((l) => l.includes('work cancelled by the control plane'))));
    }
    // Every agent settles: nothing of the job pending or running, every result it still sent answered.
    let busy: unknown[] = [];
    await until('the agents to settle', () => {
      busy = agents.flatMap((a) => {
        const db = new Database(join(a.dataDir, 'agent.db'), { readonly: true });
        try {
          return db
            .prepare(
              `SELECT ? AS agent, 'outbox' AS what, shard_id AS shard FROM outbox UNION ALL
               SELECT ?, 'assignment ' || state, shard_id FROM assignments WHERE state IN ('pending', 'running')`,
            )
            .all(a.name, a.name);
        } finally {
          db.close();
        }
      });
      return busy.length === 0;
    }).catch((error: unknown) => {
      const logs = agents.map((a) => `${a.name}:\n${a.process.logs().filter((l) => !l.includes('"assignment"') && !l.includes('shard computed')).slice(-40).join('\n')}`);
      throw new Error(`${String(error)}: ${JSON.stringify(busy)}\n${logs.join('\n')}`);
    });
    if (report.revokedLeases > 0) {
      const dropped = agents.flatMap((a) => {
        const db = new Database(join(a.dataDir, 'agent.db'), { readonly: true });
        try {
          return db.prepare(`SELECT lease_id FROM assignments WHERE job_id = ? AND state = 'failed' AND error LIKE 'cancelled:%'`).all(jobId);
        } finally {
          db.close();
        }
      });
      assert.ok(dropped.length > 0, 'the agents dropped the revoked work as cancelled');
    }
    const status = await api.job(jobId);
    assert.equal(status.job.state, 'cancelled');
    assert.equal(status.progress.shards.completed, completedAtCancel, 'no shard completed after the cancel');
    const db = cpDb();
    try {
      const live = db.prepare(`SELECT COUNT(*) AS n FROM leases l JOIN shards s ON s.id = l.shard_id WHERE s.job_id = ? AND l.state = 'active'`).get(jobId) as { n: number };
      assert.equal(live.n, 0);
    } finally {
      db.close();
    }
    const again = await runMeshchain(['--api', `http://127.0.0.1:${apiPort}`, 'cancel', jobId]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /already cancelled/);
  });
});
