/**
 * idle: memory of broker + control plane with many connected, idle nodes.
 */
import { FleetSimulator } from '../fleet/simulator.ts';
import { cpuMsOf, rssOf, startBenchControlPlane } from './fleet-common.ts';
import { settle, type Benchmark } from './harness.ts';

export const idleBenchmark: Benchmark = {
  name: 'idle',
  title: 'RSS of broker + control plane with 10,000 connected idle nodes',
  async run(options, report): Promise<void> {
    const nodes = options.quick ? 2_000 : 10_000;
    report.method(
      `\`meshchain serve --no-chain\` (API, embedded aedes broker, SQLite) as one child process; ${nodes.toLocaleString('en-US')} simulated nodes in the benchmark's process connect ` +
        '(each: broker token checked, persistent session, signed will, subscriptions to its 3 topics, retained presence and capabilities verified and recorded by the control plane), then stay idle',
    );
    report.method('RSS = VmRSS of the control-plane process (broker included), read from /proc before the fleet connects and after every node is online and the process has settled 5 s');
    const cp = await startBenchControlPlane();
    const fleet = new FleetSimulator({ url: cp.network.info.mqttUrl, controlPlaneId: cp.network.info.controlPlaneId, nodes, seed: 'bench-idle', connectConcurrency: 100 });
    try {
      await settle(2000);
      const before = rssOf(cp.pid);
      const cpuBefore = cpuMsOf(cp.pid);
      const started = performance.now();
      await fleet.start();
      const connectMs = performance.now() - started;
      // Every node's presence and capabilities recorded: the control plane has done its share of the connect work.
      const deadline = Date.now() + 300_000;
      let online = 0;
      while (online < nodes) {
        if (Date.now() > deadline || options.signal.aborted) throw new Error(`only ${online} of ${nodes} nodes online`);
        online = (await cp.network.api.nodes()).filter((n) => n.presence === 'online' && n.capabilities).length;
        if (online < nodes) await settle(1000);
      }
      await settle(5000);
      const after = rssOf(cp.pid);
      report.figure('control plane + broker RSS, no nodes', 'MB', [before / 1e6]);
      report.figure(`control plane + broker RSS, ${nodes.toLocaleString('en-US')} idle nodes`, 'MB', [after / 1e6], 'goal < 500 MB at 10,000');
      report.figure('RSS per connected node', 'KB', [(after - before) / nodes / 1e3]);
      report.figure('fleet connect time (all nodes connected and announced)', 's', [connectMs / 1000]);
      report.figure('control-plane CPU per node connect', 'ms', [(cpuMsOf(cp.pid) - cpuBefore) / nodes]);
    } finally {
      await fleet.stop();
      await cp.stop();
    }
  },
};
