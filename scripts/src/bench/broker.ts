/**
 * broker: a real MeshBroker (aedes, token auth, per-node ACLs) in its own
 * process on 127.0.0.1, and real mqtt.js clients with real tokens in this
 * one: QoS 1 messages from nodes to a control-plane subscriber (rate and
 * latency), the connect rate of a reconnecting fleet, and memory per client.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import {
  createAuthToken,
  deriveId,
  encodeMessage,
  fleetSubscription,
  generateSeed,
  NodeCryptoSigner,
  sealMessage,
  topicFor,
  type Signer,
} from '@meshchain/protocol';
import type { BrokerProcessMessage, BrokerProcessRequest } from './broker-process.ts';
import { percentile, settle, sortedCopy, withTimeout, type BenchOptions, type Benchmark, type Reporter } from './harness.ts';

interface Memory {
  rss: number;
  heapUsed: number;
  connectedClients: number;
}

interface BrokerProcess {
  url: string;
  memory(): Promise<Memory>;
  stop(): Promise<void>;
}

/** Forks broker-process.ts and waits for its URL. */
async function startBrokerProcess(controlPlaneId: string): Promise<BrokerProcess> {
  const modulePath = fileURLToPath(new URL('./broker-process.ts', import.meta.url));
  const child: ChildProcess = fork(modulePath, [controlPlaneId], {
    execArgv: ['--import', import.meta.resolve('tsx'), '--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const next = (kind: BrokerProcessMessage['kind']): Promise<BrokerProcessMessage> =>
    new Promise((resolve, reject) => {
      const onMessage = (message: BrokerProcessMessage): void => {
        if (message.kind !== kind) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(message);
      };
      const onExit = (): void => {
        child.off('message', onMessage);
        reject(new Error(`the broker process exited while waiting for "${kind}"`));
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const request = (message: BrokerProcessRequest): void => void child.send(message);

  let ready: BrokerProcessMessage;
  try {
    ready = await withTimeout(next('ready'), 30_000, 'broker process start');
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  if (ready.kind !== 'ready') throw new Error('unexpected broker message');
  return {
    url: ready.url,
    async memory() {
      const reply = next('memory');
      request({ kind: 'memory' });
      const message = await withTimeout(reply, 10_000, 'broker memory reading');
      if (message.kind !== 'memory') throw new Error('unexpected broker message');
      return message;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      request({ kind: 'stop' });
      try {
        await withTimeout(exited, 10_000, 'broker process stop');
      } catch {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

interface NodeClient {
  id: string;
  client: MqttClient;
}

/** Connects like a MeshNode's link: persistent session, signed presence will, then its two inbox subscriptions. */
async function connectNode(url: string, signer: Signer): Promise<NodeClient & { connackMs: number }> {
  const id = deriveId(signer.publicKey, 'node');
  const will = encodeMessage(sealMessage('presence', { state: 'offline', since: Date.now() }, signer));
  const started = performance.now();
  const client = mqtt.connect(url, {
    clientId: id,
    username: id,
    password: createAuthToken(signer, 'node'),
    clean: false,
    protocolVersion: 4,
    keepalive: 60,
    connectTimeout: 30_000,
    reconnectPeriod: 0,
    will: { topic: topicFor('presence', id), payload: will, qos: 1, retain: true },
  });
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
      client.once('close', () => reject(new Error(`${id} closed before CONNACK`)));
    });
  } catch (error) {
    client.end(true);
    throw error;
  }
  const connackMs = performance.now() - started;
  client.on('error', () => {});
  await client.subscribeAsync([topicFor('assignment', id), topicFor('ack', id)], { qos: 1 });
  return { id, client, connackMs };
}

async function connectControlPlane(url: string, signer: Signer): Promise<MqttClient> {
  const id = deriveId(signer.publicKey, 'cp');
  const client = mqtt.connect(url, {
    clientId: id,
    username: id,
    password: createAuthToken(signer, 'cp'),
    clean: false,
    protocolVersion: 4,
    keepalive: 60,
    reconnectPeriod: 0,
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  client.on('error', () => {});
  await client.subscribeAsync(fleetSubscription('result'), { qos: 1 });
  return client;
}

async function endAll(clients: readonly MqttClient[]): Promise<void> {
  // Graceful DISCONNECT: no wills fire, as when agents stop on purpose.
  await Promise.all(clients.map((c) => c.endAsync().catch(() => undefined)));
}

/** Runs `tasks` with at most `limit` in flight; resolves with their results in order. */
async function pool<T>(count: number, limit: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array<T>(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  return results;
}

interface FlowResult {
  perSecond: number;
  p50: number;
  p99: number;
  max: number;
}

/**
 * `total` QoS 1 publishes of `bytes` bytes from `nodes`, each node keeping
 * `window` publishes in flight (awaiting the PUBACK); latency is publish call →
 * delivery at the control-plane subscriber, both in this process.
 */
async function flow(nodes: readonly NodeClient[], subscriber: MqttClient, bytes: number, total: number, window: number): Promise<FlowResult> {
  const sentAt = new Float64Array(total);
  const latency = new Float64Array(total);
  let received = 0;
  let started = 0;
  let lastAt = 0;
  const done = new Promise<void>((resolve) => {
    const onMessage = (_topic: string, payload: Buffer): void => {
      const seq = payload.readUInt32BE(0);
      if (seq >= total || latency[seq] !== 0) return;
      lastAt = performance.now();
      latency[seq] = lastAt - (sentAt[seq] ?? lastAt);
      if (++received === total) {
        subscriber.off('message', onMessage);
        resolve();
      }
    };
    subscriber.on('message', onMessage);
  });
  const template = Buffer.alloc(bytes, 0x61);
  let next = 0;
  const sender = async (node: NodeClient): Promise<void> => {
    const topic = topicFor('result', node.id);
    while (next < total) {
      const seq = next++;
      const payload = Buffer.from(template);
      payload.writeUInt32BE(seq, 0);
      sentAt[seq] = performance.now();
      await node.client.publishAsync(topic, payload, { qos: 1 });
    }
  };
  started = performance.now();
  const senders = nodes.flatMap((node) => Array.from({ length: window }, () => sender(node)));
  await withTimeout(Promise.all([...senders, done]), 120_000, `${total} messages of ${bytes} B`);
  const sorted = sortedCopy(latency);
  return {
    perSecond: total / ((lastAt - started) / 1000),
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

const MiB = 1024 * 1024;

async function run(options: BenchOptions, report: Reporter): Promise<void> {
  const quick = options.quick;
  const reps = quick ? 2 : 5;
  const publishers = 20;
  const window = 64;
  const unloadedCount = quick ? 30 : 60;
  const unloadedReps = quick ? 1 : 3;
  const sizes = [
    { bytes: 200, total: quick ? 4_000 : 20_000 },
    { bytes: 20 * 1024, total: quick ? 800 : 4_000 },
  ];
  const fleetSize = quick ? 200 : 500;
  const connectReps = quick ? 1 : 3;
  const connectConcurrency = 50;

  report.method(
    'MeshBroker (aedes 1.2, in-memory persistence, token auth + ACLs) alone in a child process on 127.0.0.1:0; every client is mqtt.js 5 (MQTT 3.1.1, clean: false like the real links) in this process; tokens signed by each client\'s own node:crypto key',
  );
  report.method(
    `messages: ${publishers} node clients publish QoS 1 on their own results topic, ${window} publishes in flight per node (await PUBACK), to one control-plane client subscribed to nodes/+/results at QoS 1; per size ${reps} repetitions of ${sizes.map((s) => `${s.total.toLocaleString('en-US')} × ${s.bytes.toLocaleString('en-US')} B`).join(' / ')} after one untimed 10% warm-up; rate = messages / (first publish → last delivery); latency = publish call → delivery at the subscriber; unloaded latency: 1 node, 1 in flight, ${unloadedReps} × ${unloadedCount} messages after 5 untimed`,
  );
  report.method(
    `connects: ${fleetSize} fresh node identities per repetition connect ${connectConcurrency} at a time, each with a signed presence will, then subscribe to its 2 inbox topics (what a MeshNode does); ${connectReps} repetitions; memory: broker process RSS (first repetition only) and V8 heap after gc, before vs after the ${fleetSize} clients are connected, divided by ${fleetSize}; heap kept = after they disconnect gracefully vs before they connected`,
  );

  const cpSigner = new NodeCryptoSigner(generateSeed());
  const broker = await startBrokerProcess(deriveId(cpSigner.publicKey, 'cp'));
  const open: MqttClient[] = [];
  try {
    const subscriber = await connectControlPlane(broker.url, cpSigner);
    open.push(subscriber);

    // Connect rate and memory per client, on a broker that has seen nothing else yet.
    const rates: number[] = [];
    const connackP50: number[] = [];
    const connackP99: number[] = [];
    const rssPerClient: number[] = [];
    const heapPerClient: number[] = [];
    const heapPerOfflineSession: number[] = [];
    let before = await broker.memory();
    for (let rep = 0; rep < connectReps; rep++) {
      options.signal.throwIfAborted();
      const signers = Array.from({ length: fleetSize }, () => new NodeCryptoSigner(generateSeed()));
      const started = performance.now();
      const connected = await pool(fleetSize, connectConcurrency, async (i) => {
        const node = await connectNode(broker.url, signers[i] as Signer);
        open.push(node.client);
        return node;
      });
      const elapsed = performance.now() - started;
      rates.push(fleetSize / (elapsed / 1000));
      const connack = sortedCopy(connected.map((c) => c.connackMs));
      connackP50.push(percentile(connack, 50));
      connackP99.push(percentile(connack, 99));

      await settle(500);
      const after = await broker.memory();
      if (after.connectedClients !== fleetSize + 1) throw new Error(`broker counts ${after.connectedClients} clients, expected ${fleetSize + 1}`);
      // RSS seldom shrinks after a disconnect, so later repetitions reuse pages: only a fresh broker's reading counts.
      if (rep === 0) rssPerClient.push((after.rss - before.rss) / fleetSize / 1024);
      heapPerClient.push((after.heapUsed - before.heapUsed) / fleetSize / 1024);

      await endAll(connected.map((c) => c.client));
      open.splice(1);
      await settle(500);
      const afterDisconnect = await broker.memory();
      heapPerOfflineSession.push((afterDisconnect.heapUsed - before.heapUsed) / fleetSize / 1024);
      before = afterDisconnect;
    }
    report.figure(`connect + subscribe, ${fleetSize} clients, ${connectConcurrency} at a time`, 'clients/s', rates);
    report.figure('  CONNECT → CONNACK latency p50 under that load', 'ms', connackP50);
    report.figure('  CONNECT → CONNACK latency p99 under that load', 'ms', connackP99);
    report.figure(`broker RSS per connected node client (first ${fleetSize}, fresh broker)`, 'KiB', rssPerClient);
    report.figure('broker V8 heap per connected node client', 'KiB', heapPerClient);
    report.figure('broker V8 heap kept per disconnected persistent session', 'KiB', heapPerOfflineSession);

    // Message flow.
    const nodes = await pool(publishers, publishers, async () => {
      const node = await connectNode(broker.url, new NodeCryptoSigner(generateSeed()));
      open.push(node.client);
      return node;
    });
    for (const size of sizes) {
      options.signal.throwIfAborted();
      await flow(nodes, subscriber, size.bytes, Math.round(size.total / 10), window);
      const results: FlowResult[] = [];
      for (let rep = 0; rep < reps; rep++) {
        options.signal.throwIfAborted();
        results.push(await flow(nodes, subscriber, size.bytes, size.total, window));
      }
      const label = `${size.bytes.toLocaleString('en-US')} B`;
      report.figure(`QoS 1 node → control plane, ${label}, ${publishers}×${window} in flight`, 'msg/s', results.map((r) => r.perSecond));
      report.figure(`  throughput`, 'MiB/s', results.map((r) => (r.perSecond * size.bytes) / MiB));
      report.figure(`  latency p50 at that load`, 'ms', results.map((r) => r.p50));
      report.figure(`  latency p99 at that load`, 'ms', results.map((r) => r.p99));
      const single = nodes.slice(0, 1);
      await flow(single, subscriber, size.bytes, 5, 1);
      const unloaded: FlowResult[] = [];
      for (let rep = 0; rep < unloadedReps; rep++) unloaded.push(await flow(single, subscriber, size.bytes, unloadedCount, 1));
      report.figure(`  unloaded latency p50 (1 node, 1 in flight)`, 'ms', unloaded.map((r) => r.p50));
      report.figure(`  unloaded latency max (1 node, 1 in flight)`, 'ms', unloaded.map((r) => r.max));
    }
  } finally {
    await endAll(open);
    await broker.stop();
  }
}

export const brokerBenchmark: Benchmark = {
  name: 'broker',
  title: 'MQTT broker: QoS 1 flow, latency, connect rate, memory per client',
  run,
};
