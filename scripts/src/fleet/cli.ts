/**
 * `npm run fleet-sim -- --nodes N [options]`: N simulated MeshNodes in this
 * process against a control plane: one started for the run (`meshchain
 * serve --no-chain` as its own process, the default) or an existing one
 * (`--broker <url> --control-plane-id <id> [--api <url>]`). With `--shards`
 * it submits a synthetic job, waits for it and prints the figures;
 * otherwise it runs until Ctrl-C, printing the fleet's counters.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ApiClient } from '@meshchain/control-plane';
import { startLocalNetwork, type LocalNetwork } from './network.ts';
import { runSyntheticJob } from './synthetic-job.ts';
import { FleetSimulator } from './simulator.ts';

const USAGE = `usage: npm run fleet-sim -- --nodes <n> [options]

  --nodes <n>               simulated nodes (required)
  --broker <url>            an existing broker (default: start meshchain serve --no-chain for this run)
  --control-plane-id <id>   with --broker: the control plane the nodes trust
  --api <url>               with --broker: the control plane's API (for --shards)
  --slots <n>               shards each node runs at once (default 1)
  --latency-ms <a[-b]>      extra delay before each result, fixed or uniform in [a, b]
  --churn <drops/s>         abrupt disconnects per second across the fleet (default 0)
  --down-ms <ms>            how long a dropped node stays away (default 2000)
  --seed <text>             node identities derive from it (default: fresh)
  --shards <n>              submit a synthetic job of n shards, wait for it, print figures, exit
  --items-per-shard <n>     items per shard (default 1)
  --sleep-ms <ms>           sleep per item on the node (default 0)`;

function int(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} must be a non-negative integer, got "${value}"`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string' },
      broker: { type: 'string' },
      'control-plane-id': { type: 'string' },
      api: { type: 'string' },
      slots: { type: 'string' },
      'latency-ms': { type: 'string' },
      churn: { type: 'string' },
      'down-ms': { type: 'string' },
      seed: { type: 'string' },
      shards: { type: 'string' },
      'items-per-shard': { type: 'string' },
      'sleep-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || !values.nodes) {
    process.stderr.write(`${USAGE}\n`);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const nodes = int(values.nodes, '--nodes', 0);
  if (nodes < 1) throw new Error('--nodes must be at least 1');
  if (values.broker && !values['control-plane-id']) throw new Error('--broker needs --control-plane-id');
  const latency = values['latency-ms']?.split('-').map((v) => int(v, '--latency-ms', 0));

  let network: LocalNetwork | null = null;
  let dir: string | null = null;
  let url = values.broker ?? '';
  let controlPlaneId = values['control-plane-id'] ?? '';
  let api: ApiClient | null = values.api ? new ApiClient(values.api) : null;
  if (!values.broker) {
    dir = await mkdtemp(join(tmpdir(), 'meshchain-fleet-'));
    network = await startLocalNetwork({ dir, nodes: 0, logLevel: 'warn', controlPlaneEnv: { MESHCHAIN_CHAIN_ENABLED: 'false' } });
    ({ mqttUrl: url, controlPlaneId } = network.info);
    api = network.api;
    process.stderr.write(`control plane ${controlPlaneId} (pid ${network.controlPlane.child.pid}): api ${network.info.apiUrl}, mqtt ${url}\n`);
  }

  const fleet = new FleetSimulator({
    url,
    controlPlaneId,
    nodes,
    ...(values.seed ? { seed: values.seed } : {}),
    slots: Math.max(1, int(values.slots, '--slots', 1)),
    ...(latency ? { resultLatencyMs: latency.length > 1 ? ([latency[0] ?? 0, latency[1] ?? 0] as const) : (latency[0] ?? 0) } : {}),
    churn: { dropsPerSecond: Number(values.churn ?? 0), downMs: int(values['down-ms'], '--down-ms', 2000) },
  });
  const stop = async (): Promise<void> => {
    await fleet.stop();
    await network?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  };
  try {
    const started = performance.now();
    await fleet.start();
    process.stderr.write(`${nodes} simulated nodes connected in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    if (values.shards) {
      if (!api) throw new Error('--shards needs --api with --broker');
      const figures = await runSyntheticJob(api, fleet, {
        shards: int(values.shards, '--shards', 0),
        itemsPerShard: Math.max(1, int(values['items-per-shard'], '--items-per-shard', 1)),
        sleepMs: int(values['sleep-ms'], '--sleep-ms', 0),
      });
      process.stdout.write(`${JSON.stringify({ event: 'job-done', ...figures, fleet: fleet.stats() })}\n`);
      return;
    }
    const timer = setInterval(() => process.stdout.write(`${JSON.stringify({ event: 'fleet', ...fleet.stats() })}\n`), 5000);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    clearInterval(timer);
  } finally {
    await stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`fleet-sim: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
