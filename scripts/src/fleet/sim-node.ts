import mqtt, { type MqttClient } from 'mqtt';
import {
  createAuthToken,
  deriveNodeId,
  encodeMessage,
  generateSeed,
  NodeCryptoSigner,
  openMessage,
  ReplayGuard,
  sealMessage,
  topicFor,
  TOPICS,
  type AckBody,
  type AssignmentBody,
  type BodyOf,
  type CapabilitiesBody,
  type Envelope,
  type UpKind,
} from '@meshchain/protocol';
import { runSyntheticShard, SYNTHETIC_ENGINE } from '../../../device-agent/src/runtimes/synthetic/index.ts';

export const SIM_AGENT_VERSION = '0.1.0';

export interface SimNodeOptions {
  url: string;
  controlPlaneId: string;
  /** The node's key seed (32 bytes); a fresh one when absent. */
  seed?: Uint8Array;
  /** Shards the node declares it can run at once. */
  slots?: number;
  /** Extra delay before a result is sent, in ms (a slow box or link); 0 when absent. */
  resultLatencyMs?: () => number;
  /** Clock skew tolerated on received messages. */
  maxSkewMs?: number;
  /** Called for every assignment taken and every ack received. */
  onEvent?: (event: SimNodeEvent) => void;
}

export type SimNodeEvent =
  | { type: 'assignment'; nodeId: string; body: AssignmentBody; sealedAt: number; at: number }
  | { type: 'ack'; nodeId: string; body: AckBody; at: number; /** When the control plane sealed the assignment of this lease (its clock). */ assignedAt: number | null }
  | { type: 'rejected-message'; nodeId: string; reason: string };

export interface SimNodeStats {
  assignments: number;
  results: number;
  resends: number;
  acks: Record<AckBody['status'], number>;
  handbacks: number;
  connects: number;
}

/**
 * One simulated MeshNode: its own ed25519 identity, its own MQTT connection
 * with a broker token, a persistent session, a signed offline presence as
 * its will, retained presence and capabilities, and signed results for
 * synthetic shards (echo after the requested sleep). Results stay in an
 * in-memory outbox until acknowledged and are re-sent after a reconnect, as
 * the real agent does with its SQLite outbox. Lightweight enough to run
 * thousands in one process; it runs only the `synthetic` workload and hands
 * any other back as unsupported.
 */
export class SimNode {
  readonly signer: NodeCryptoSigner;
  readonly id: string;
  readonly stats: SimNodeStats = { assignments: 0, results: 0, resends: 0, acks: { accepted: 0, duplicate: 0, rejected: 0 }, handbacks: 0, connects: 0 };
  readonly #o: SimNodeOptions;
  readonly #replay: ReplayGuard;
  readonly #trusted: Set<string>;
  /** Unacknowledged results by lease id. */
  readonly #outbox = new Map<string, Envelope<'result'>>();
  /** When the control plane sealed each running or unacknowledged lease's assignment. */
  readonly #assignedAt = new Map<string, number>();
  readonly #running = new Set<AbortController>();
  #client: MqttClient | null = null;
  #session = Date.now();
  #stopped = false;

  constructor(options: SimNodeOptions) {
    this.#o = options;
    this.signer = new NodeCryptoSigner(options.seed ?? generateSeed());
    this.id = deriveNodeId(this.signer.publicKey);
    this.#replay = new ReplayGuard({ windowMs: options.maxSkewMs ?? 60_000 });
    this.#trusted = new Set([options.controlPlaneId]);
  }

  get connected(): boolean {
    return this.#client?.connected ?? false;
  }

  /** Results not yet acknowledged. */
  get unacknowledged(): number {
    return this.#outbox.size;
  }

  capabilities(): CapabilitiesBody {
    return {
      agentVersion: SIM_AGENT_VERSION,
      roles: ['worker'],
      runtimes: [{ workload: 'synthetic', engine: SYNTHETIC_ENGINE, version: SIM_AGENT_VERSION }],
      hardware: { arch: 'arm64', platform: 'linux', cpuModel: 'simulated', cpus: 4, memoryBytes: 4 * 2 ** 30, gpu: null },
      models: [],
      maxConcurrentShards: this.#o.slots ?? 1,
    };
  }

  /** Connects (a new session), subscribes, announces presence and capabilities, and re-sends unacknowledged results. */
  async connect(): Promise<void> {
    if (this.#client) throw new Error(`${this.id} is already connected`);
    this.#session = Date.now();
    const will = sealMessage('presence', { state: 'offline', since: this.#session }, this.signer);
    const client = await mqtt.connectAsync(this.#o.url, {
      clientId: this.id,
      username: this.id,
      password: createAuthToken(this.signer, 'node'),
      clean: false,
      protocolVersion: 4,
      keepalive: 60,
      reconnectPeriod: 0,
      connectTimeout: 30_000,
      will: { topic: topicFor('presence', this.id), payload: encodeMessage(will), qos: 1, retain: true },
    });
    this.#client = client;
    this.stats.connects++;
    client.on('error', () => {});
    client.on('close', () => {
      if (this.#client !== client) return; // dropped or stopped on purpose
      // The broker went away (a restart): come back with jitter, as the agent does.
      this.#client = null;
      this.#scheduleReconnect();
    });
    client.handleMessage = (packet, done) => {
      this.#receive(packet.topic, packet.payload as Buffer);
      done();
    };
    await client.subscribeAsync([topicFor('assignment', this.id), topicFor('ack', this.id), topicFor('command', this.id)], { qos: 1 });
    await this.#publish('presence', { state: 'online', since: this.#session });
    await this.#publish('capabilities', this.capabilities());
    for (const envelope of this.#outbox.values()) {
      this.stats.resends++;
      this.#publishEnvelope(envelope);
    }
  }

  #scheduleReconnect(delayMs = 500 + Math.random() * 1000): void {
    if (this.#stopped) return;
    const timer = setTimeout(() => {
      if (this.#stopped || this.#client) return;
      this.connect().catch(() => this.#scheduleReconnect(Math.min(delayMs * 2, 10_000)));
    }, delayMs);
    timer.unref();
  }

  /** An abrupt drop (no DISCONNECT): the broker publishes the will, and running shards keep going into the outbox. */
  drop(): void {
    const client = this.#client;
    this.#client = null;
    client?.stream.destroy();
    client?.end(true);
  }

  /** A graceful stop: running shards are abandoned (their leases expire), offline presence is sent, the connection closed. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const abort of this.#running) abort.abort();
    const client = this.#client;
    this.#client = null;
    if (!client) return;
    if (client.connected) {
      await client
        .publishAsync(topicFor('presence', this.id), encodeMessage(sealMessage('presence', { state: 'offline', since: this.#session }, this.signer)), { qos: 1, retain: true })
        .catch(() => undefined);
    }
    await client.endAsync().catch(() => undefined);
  }

  #receive(topic: string, payload: Buffer): void {
    let message;
    try {
      message = openMessage(topic, payload, { trustedControlPlanes: this.#trusted, maxSkewMs: this.#o.maxSkewMs ?? 60_000, replay: this.#replay });
    } catch (error) {
      this.#o.onEvent?.({ type: 'rejected-message', nodeId: this.id, reason: error instanceof Error ? error.message : String(error) });
      return;
    }
    const now = Date.now();
    if (message.kind === 'assignment') {
      this.stats.assignments++;
      this.#assignedAt.set(message.body.leaseId, message.envelope.ts);
      this.#o.onEvent?.({ type: 'assignment', nodeId: this.id, body: message.body, sealedAt: message.envelope.ts, at: now });
      void this.#run(message.body);
    } else if (message.kind === 'ack') {
      this.stats.acks[message.body.status]++;
      const assignedAt = this.#assignedAt.get(message.body.leaseId) ?? null;
      const pending = this.#outbox.get(message.body.leaseId);
      if (pending && pending.id === message.body.resultId) {
        this.#outbox.delete(message.body.leaseId);
        this.#assignedAt.delete(message.body.leaseId);
      }
      this.#o.onEvent?.({ type: 'ack', nodeId: this.id, body: message.body, at: now, assignedAt });
    }
  }

  async #run(assignment: AssignmentBody): Promise<void> {
    if (assignment.workload !== 'synthetic') {
      this.stats.handbacks++;
      await this.#publish('handback', { shardId: assignment.shardId, leaseId: assignment.leaseId, reason: 'unsupported', detail: 'a simulated node runs only synthetic shards' }).catch(() => undefined);
      return;
    }
    if (this.#outbox.has(assignment.leaseId)) return; // a redelivery of a shard already computed
    const abort = new AbortController();
    this.#running.add(abort);
    try {
      const { result } = await runSyntheticShard(assignment, { signal: abort.signal, onOutput: () => {} });
      const latency = this.#o.resultLatencyMs?.() ?? 0;
      if (latency > 0) await new Promise((resolve) => setTimeout(resolve, latency));
      const envelope = sealMessage('result', result, this.signer);
      this.#outbox.set(assignment.leaseId, envelope);
      this.stats.results++;
      this.#publishEnvelope(envelope);
    } catch {
      // Aborted by stop(): the lease expires and the shard goes elsewhere.
    } finally {
      this.#running.delete(abort);
    }
  }

  async #publish<K extends UpKind>(kind: K, body: BodyOf<K>): Promise<void> {
    const client = this.#client;
    if (!client) return;
    await client.publishAsync(topicFor(kind, this.id), encodeMessage(sealMessage(kind, body, this.signer)), { qos: 1, retain: TOPICS[kind].retain });
  }

  /** Fire and forget: an unacknowledged result is re-sent on the next connect. */
  #publishEnvelope(envelope: Envelope<'result'>): void {
    const client = this.#client;
    if (!client?.connected) return;
    client.publish(topicFor('result', this.id), encodeMessage(envelope), { qos: 1 }, () => {});
  }
}
