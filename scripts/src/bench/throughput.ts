/**
 * throughput: shard round trips per second through the real control plane
 * with a simulated fleet, and assign-to-ack latency.
 */
import { FleetSimulator } from '../fleet/simulator.ts';
import { runSyntheticJob } from '../fleet/synthetic-job.ts';
import { cpuMsOf, rssOf, startBenchControlPlane } from './fleet-common.ts';
import type { Benchmark } from './harness.ts';

const NODES = 200;

export const throughputBenchmark: Benchmark = {
  name: 'throughput',
  title: `shard round trips per second with ${NODES} simulated nodes (control plane + broker in their own process, then each in its own)`,
  async run(options, report): Promise<void> {
    const shards = options.quick ? 2_000 : 10_000;
    const reps = options.quick ? 1 : 3;
    const slots = Number(process.env.MESHCHAIN_BENCH_SLOTS ?? 1);
    report.method(
      `\`meshchain serve --no-chain\` (API, embedded aedes broker, SQLite WAL, spot checks on) as one child process; ${NODES} simulated nodes (scripts/src/fleet) in the benchmark's process, ` +
        `each with its own ed25519 key, MQTT connection, broker token, will, presence and capabilities, ${slots} slot(s) each`,
    );
    report.method(
      `per repetition: submit one synthetic job of ${shards.toLocaleString('en-US')} one-item shards (no sleep) and run it to completion. Each shard: lease + signed assignment → node verifies, ` +
        'echoes, signs the result → control plane verifies signature and schema, judges (lease, input hash, echo recomputed), records result, shard, node counters and check in one SQLite transaction → signed ack',
    );
    report.method('rate = distinct shards acknowledged / (first assignment sealed → last accepted ack received); latency per shard = ack received − assignment sealed (one clock); one warm-up job first');
    report.method(
      'twice: with the broker embedded in the control plane (the default deployment), then with the broker as its own process (`meshchain broker`, the control plane connected through MESHCHAIN_BROKER_URL); figures of the second run say "broker alone"',
    );
    for (const broker of ['embedded', 'process'] as const) {
      if (options.signal.aborted) break;
      const suffix = broker === 'process' ? ' (broker alone)' : '';
      const cp = await startBenchControlPlane({ broker });
      const fleet = new FleetSimulator({ url: cp.network.info.mqttUrl, controlPlaneId: cp.network.info.controlPlaneId, nodes: NODES, slots, seed: 'bench-throughput' });
      try {
        await fleet.start();
        await runSyntheticJob(cp.network.api, fleet, { shards: Math.min(1000, shards), itemsPerShard: 1, sleepMs: 0 });
        const rates: number[] = [];
        const p50: number[] = [];
        const p99: number[] = [];
        const cpuPerShard: number[] = [];
        const brokerCpuPerShard: number[] = [];
        const fleetCpuPerShard: number[] = [];
        for (let rep = 0; rep < reps && !options.signal.aborted; rep++) {
          const cpuBefore = cpuMsOf(cp.pid);
          const brokerBefore = cp.brokerPid === null ? 0 : cpuMsOf(cp.brokerPid);
          const fleetBefore = process.cpuUsage();
          const figures = await runSyntheticJob(cp.network.api, fleet, { shards, itemsPerShard: 1, sleepMs: 0 });
          if (figures.state !== 'completed') throw new Error(`job ${figures.jobId} ended ${figures.state}`);
          cpuPerShard.push((cpuMsOf(cp.pid) - cpuBefore) / shards);
          if (cp.brokerPid !== null) brokerCpuPerShard.push((cpuMsOf(cp.brokerPid) - brokerBefore) / shards);
          const fleetCpu = process.cpuUsage(fleetBefore);
          fleetCpuPerShard.push((fleetCpu.user + fleetCpu.system) / 1000 / shards);
          rates.push(figures.shardsPerSecond);
          p50.push(figures.latencyMs.p50);
          p99.push(figures.latencyMs.p99);
        }
        report.figure(`shard round trips${suffix}`, 'shards/s', rates, 'goal ≥ 2,000');
        report.figure(`assign-to-ack latency p50${suffix}`, 'ms', p50);
        report.figure(`assign-to-ack latency p99${suffix}`, 'ms', p99, 'goal < 100');
        report.figure(`control-plane CPU per shard${suffix}`, 'ms', cpuPerShard, 'user + system of the control-plane process');
        if (brokerCpuPerShard.length > 0) report.figure(`broker CPU per shard${suffix}`, 'ms', brokerCpuPerShard, 'user + system of the broker process');
        report.figure(`simulated fleet CPU per shard${suffix}`, 'ms', fleetCpuPerShard, 'the benchmark process: 200 nodes verifying, echoing, signing');
        report.figure(`control-plane RSS after the run${suffix}`, 'MB', [rssOf(cp.pid) / 1e6]);
      } finally {
        await fleet.stop();
        await cp.stop();
      }
    }
  },
};


