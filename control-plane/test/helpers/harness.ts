import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import mqtt, { type MqttClient } from 'mqtt';
import { pino, type Logger } from 'pino';
import {
  createAuthToken,
  deriveNodeId,
  encodeMessage,
  generateSeed,
  NodeCryptoSigner,
  openMessage,
  sealMessage,
  topicFor,
  type BodyOf,
  type CapabilitiesBody,
  type Envelope,
  type OpenedMessage,
  type UpKind,
} from '@meshchain/protocol';
import { ControlPlane, loadControlPlaneConfig, type ControlPlaneConfigInput, type ControlPlaneInfo } from '../../src/index.ts';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A pino logger that keeps every line in memory, so tests can assert on logged reasons. */
export function capturingLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

export interface RunningControlPlane {
  controlPlane: ControlPlane;
  info: ControlPlaneInfo;
  lines: LogLine[];
  dir: string;
  stop(): Promise<void>;
}

/** A real control plane in this process: embedded aedes on an ephemeral port, SQLite in a temp dir. */
export async function startControlPlane(overrides: ControlPlaneConfigInput = {}): Promise<RunningControlPlane> {
  const dir = await mkdtemp(join(tmpdir(), 'meshchain-cp-'));
  const config = loadControlPlaneConfig({ env: {}, overrides: { dataDir: dir, apiPort: 0, mqttPort: 0, tickMs: 50, ...overrides } });
  const { logger, lines } = capturingLogger();
  const controlPlane = new ControlPlane(config, logger);
  const info = await controlPlane.start();
  return {
    controlPlane,
    info,
    lines,
    dir,
    async stop() {
      await controlPlane.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export const CAPABILITIES: CapabilitiesBody = {
  agentVersion: '0.1.0',
  roles: ['worker'],
  runtimes: [{ workload: 'infer', engine: 'test', version: '0' }],
  hardware: { arch: 'arm64', platform: 'linux', cpuModel: 'test', cpus: 4, memoryBytes: 4 * 2 ** 30, gpu: null },
  models: [],
  maxConcurrentShards: 1,
};

/**
 * A node under the test's full control: a real key, a real MQTT connection,
 * and the ability to send anything, honest or not.
 */
export class ScriptedNode {
  readonly signer = new NodeCryptoSigner(generateSeed());
  readonly id = deriveNodeId(this.signer.publicKey);
  readonly received: OpenedMessage[] = [];
  #client: MqttClient | null = null;
  #waiters: { kind: string; resolve: (m: OpenedMessage) => void }[] = [];
  #controlPlaneId: string;

  constructor(controlPlaneId: string) {
    this.#controlPlaneId = controlPlaneId;
  }

  async connect(url: string): Promise<void> {
    this.#client = await mqtt.connectAsync(url, {
      clientId: this.id,
      username: this.id,
      password: createAuthToken(this.signer, 'node'),
      clean: false,
      reconnectPeriod: 0,
    });
    this.#client.on('error', () => {});
    this.#client.on('message', (topic, payload) => {
      const message = openMessage(topic, payload, { trustedControlPlanes: new Set([this.#controlPlaneId]) });
      this.received.push(message);
      const waiter = this.#waiters.find((w) => w.kind === message.kind);
      if (waiter) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve(message);
      }
    });
    await this.#client.subscribeAsync([topicFor('assignment', this.id), topicFor('ack', this.id), topicFor('command', this.id), topicFor('updateOffer', this.id)], { qos: 1 });
  }

  /** Resolves with the next message of a kind not yet taken. */
  next<K extends OpenedMessage['kind']>(kind: K, timeoutMs = 20_000): Promise<Extract<OpenedMessage, { kind: K }>> {
    const index = this.received.findIndex((m) => m.kind === kind);
    if (index >= 0) return Promise.resolve(this.received.splice(index, 1)[0] as Extract<OpenedMessage, { kind: K }>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.id}: no ${kind} within ${timeoutMs} ms`)), timeoutMs);
      this.#waiters.push({
        kind,
        resolve: (m) => {
          clearTimeout(timer);
          this.received.splice(this.received.indexOf(m), 1);
          resolve(m as Extract<OpenedMessage, { kind: K }>);
        },
      });
    });
  }

  seal<K extends UpKind>(kind: K, body: BodyOf<K>): Envelope<K> {
    return sealMessage(kind, body, this.signer);
  }

  async send<K extends UpKind>(kind: K, body: BodyOf<K>): Promise<void> {
    await this.sendRaw(topicFor(kind, this.id), encodeMessage(this.seal(kind, body)), kind === 'presence' || kind === 'capabilities');
  }

  async sendRaw(topic: string, payload: Buffer, retain = false): Promise<void> {
    if (!this.#client) throw new Error('not connected');
    await this.#client.publishAsync(topic, payload, { qos: 1, retain });
  }

  async announce(): Promise<void> {
    await this.send('presence', { state: 'online', since: Date.now() });
    await this.send('capabilities', CAPABILITIES);
  }

  async close(): Promise<void> {
    await this.#client?.endAsync();
    this.#client = null;
  }
}
