import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiClient } from '@meshchain/control-plane';
import { MESHCHAIN_CLI, MESHNODE_CLI, startProcess, type ManagedProcess } from './processes.ts';

export interface ReadyInfo {
  controlPlaneId: string;
  apiUrl: string;
  mqttUrl: string;
}

export interface LocalNetwork {
  controlPlane: ManagedProcess;
  info: ReadyInfo;
  api: ApiClient;
  nodes: LocalNode[];
  startNode(name: string, env?: NodeJS.ProcessEnv): Promise<LocalNode>;
  restartControlPlane(): Promise<void>;
  waitForOnlineNodes(count: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface LocalNode {
  process: ManagedProcess;
  nodeId: string;
  dataDir: string;
  /** The agent's local web page (on loopback), when enabled. */
  webUrl: string | null;
}

export interface LocalNetworkOptions {
  dir: string;
  nodes: number;
  logLevel?: string;
  /** Extra environment for every agent. */
  nodeEnv?: NodeJS.ProcessEnv;
  controlPlaneEnv?: NodeJS.ProcessEnv;
  /** Extra `node` options for the control plane (e.g. `--cpu-prof`). */
  controlPlaneNodeArgs?: readonly string[];
}

/**
 * A whole MeshChain network on this machine, every part a real process:
 * `meshchain serve` (API + embedded broker) and N `meshnode start` agents,
 * each with its own identity and data directory.
 */
export async function startLocalNetwork(options: LocalNetworkOptions): Promise<LocalNetwork> {
  const logLevel = options.logLevel ?? 'info';
  const cpDir = join(options.dir, 'control-plane');
  await mkdir(cpDir, { recursive: true });
  let mqttPort = '0';
  let apiPort = '0';

  const launchControlPlane = async (): Promise<{ process: ManagedProcess; info: ReadyInfo }> => {
    const proc = startProcess(
      'control-plane',
      MESHCHAIN_CLI,
      ['serve', '--json', '--data-dir', cpDir, '--api-port', apiPort, '--mqtt-port', mqttPort],
      { MESHCHAIN_LOG_LEVEL: logLevel, ...options.controlPlaneEnv },
      options.controlPlaneNodeArgs,
    );
    const info = await proc.waitForEvent<ReadyInfo>('ready', 60_000);
    // A restart must come back on the same ports: agents and assignments know them.
    mqttPort = new URL(info.mqttUrl).port;
    apiPort = new URL(info.apiUrl).port;
    return { process: proc, info };
  };

  const first = await launchControlPlane();
  const network: LocalNetwork = {
    controlPlane: first.process,
    info: first.info,
    api: new ApiClient(first.info.apiUrl),
    nodes: [],
    async startNode(name, env = {}) {
      const dataDir = join(options.dir, name);
      const proc = startProcess('node ' + name, MESHNODE_CLI, ['start'], {
        MESHNODE_DATA_DIR: dataDir,
        MESHNODE_MQTT_URL: network.info.mqttUrl,
        MESHNODE_CONTROL_PLANE_ID: network.info.controlPlaneId,
        MESHNODE_THREADS: '1',
        MESHNODE_LOG_LEVEL: logLevel,
        // Every agent's page on its own free port, on loopback only.
        MESHNODE_WEB_HOST: '127.0.0.1',
        MESHNODE_WEB_PORT: '0',
        ...options.nodeEnv,
        ...env,
      });
      const started = await proc.waitForEvent<{ nodeId: string; webUrl: string | null }>('started', 60_000);
      const node: LocalNode = { process: proc, nodeId: started.nodeId, dataDir, webUrl: started.webUrl };
      network.nodes.push(node);
      return node;
    },
    async restartControlPlane() {
      await network.controlPlane.stop();
      const next = await launchControlPlane();
      network.controlPlane = next.process;
      network.info = next.info;
    },
    async waitForOnlineNodes(count, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const nodes = await network.api.nodes();
        const ready = nodes.filter((n) => n.presence === 'online' && n.capabilities);
        if (ready.length >= count) return;
        if (Date.now() > deadline) throw new Error(`only ${ready.length} of ${count} nodes came online`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async stop() {
      await Promise.all(network.nodes.map((n) => n.process.stop()));
      await network.controlPlane.stop();
    },
  };
  for (let i = 1; i <= options.nodes; i++) await network.startNode(`node${i}`);
  return network;
}
