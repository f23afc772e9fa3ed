import mqtt, { type MqttClient } from 'mqtt';
import {
  createAuthToken,
  deriveId,
  encodeMessage,
  fleetSubscription,
  isProtocolError,
  MESSAGE_KINDS,
  openMessage,
  sealMessage,
  topicFor,
  TOPICS,
  type BodyOf,
  type DownKind,
  type OpenedMessage,
  type Signer,
  type UpKind,
} from '@meshchain/protocol';
import type { Logger } from 'pino';

export interface ControlLinkOptions {
  url: string;
  signer: Signer;
  logger: Logger;
  /** Largest accepted |now − ts| of event messages. */
  maxSkewMs: number;
  /**
   * Called for every verified message before it is acknowledged to the
   * broker: when it returns, the message may be PUBACKed. Results are then
   * queued for the orchestrator's next group commit (within the same turn of
   * the event loop), not yet durable: what makes a result safe is the node's
   * outbox, which keeps and re-sends it until the signed ack, sent only after
   * the commit.
   */
  onMessage: (message: OpenedMessage) => void;
}

/** Every kind a node sends (the topic table's `up` kinds), so a new kind is heard without touching the link. */
const FLEET_KINDS = MESSAGE_KINDS.filter((kind): kind is UpKind => TOPICS[kind].direction === 'up');

/**
 * The control plane's MQTT connection: a persistent session (clean: false)
 * so that messages sent while it is down wait in the broker, and a PUBACK
 * only after the message was handled (for a result: queued for its group
 * commit; the node's outbox covers the turn between the two), so a crash
 * loses nothing.
 */
export class ControlLink {
  readonly #options: ControlLinkOptions;
  readonly #id: string;
  #client: MqttClient | null = null;
  #rejected = 0;
  #held = false;

  constructor(options: ControlLinkOptions) {
    this.#options = options;
    this.#id = deriveId(options.signer.publicKey, 'cp');
  }

  get rejectedMessages(): number {
    return this.#rejected;
  }

  get connected(): boolean {
    return this.#client?.connected ?? false;
  }

  async start(): Promise<void> {
    const { signer, logger } = this.#options;
    const client = mqtt.connect(this.#options.url, {
      clientId: this.#id,
      username: this.#id,
      password: createAuthToken(signer, 'cp'),
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      keepalive: 30,
    });
    // A fresh token for every reconnect: tokens are short-lived.
    client.on('reconnect', () => {
      client.options.password = createAuthToken(signer, 'cp');
    });
    client.on('error', (error) => logger.warn({ err: error.message }, 'mqtt error'));
    client.on('offline', () => logger.warn('mqtt offline'));
    client.handleMessage = (packet, done) => {
      this.#holdWrites(client);
      this.#receive(packet.topic, packet.payload as Buffer);
      done();
    };
    this.#client = client;
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    await client.subscribeAsync(
      FLEET_KINDS.map((kind) => fleetSubscription(kind)),
      { qos: 1 },
    );
    client.on('connect', () => logger.info('mqtt reconnected'));
    logger.info({ url: this.#options.url, id: this.#id }, 'mqtt link up');
  }

  async publish<K extends DownKind>(kind: K, nodeId: string, body: BodyOf<K>): Promise<void> {
    const client = this.#client;
    if (!client) throw new Error('control link is not started');
    const envelope = sealMessage(kind, body, this.#options.signer);
    await client.publishAsync(topicFor(kind, nodeId), encodeMessage(envelope), { qos: 1, retain: TOPICS[kind].retain });
  }

  async stop(): Promise<void> {
    const client = this.#client;
    this.#client = null;
    if (client) await client.endAsync();
  }

  /**
   * Holds the socket's writes until the end of this turn of the event loop:
   * the PUBACKs of every message received in it, and the acks and
   * assignments they lead to, leave in one write instead of one each.
   */
  #holdWrites(client: MqttClient): void {
    if (this.#held) return;
    const stream = client.stream as MqttClient['stream'] & { cork?: () => void; uncork?: () => void };
    if (typeof stream.cork !== 'function' || typeof stream.uncork !== 'function') return;
    stream.cork();
    this.#held = true;
    setImmediate(() => {
      this.#held = false;
      stream.uncork?.();
    });
  }

  #receive(topic: string, payload: Buffer): void {
    const { logger } = this.#options;
    let message: OpenedMessage;
    try {
      message = openMessage(topic, payload, {
        trustedControlPlanes: new Set([this.#id]),
        maxSkewMs: this.#options.maxSkewMs,
      });
    } catch (error) {
      this.#rejected++;
      if (!isProtocolError(error)) throw error;
      logger.warn({ topic, bytes: payload.length, reason: error.shortMessage, details: error.details, kind: error.name }, 'message rejected');
      return;
    }
    try {
      this.#options.onMessage(message);
    } catch (error) {
      // A handler bug must not take the fleet down; the message is logged and acknowledged.
      logger.error({ err: error, topic, kind: message.kind, id: message.envelope.id }, 'message handler failed');
    }
  }
}
