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
   * Called for every verified message. Its PUBACK is queued when this
   * returns, but does not leave before `onTurnEnd` has run: a handler may
   * apply the message at once or leave it for the end of the turn.
   */
  onMessage: (message: OpenedMessage) => void;
  /**
   * Called once at the end of every turn of the event loop in which messages
   * arrived, before their PUBACKs leave the process: work the handlers left
   * for the end of the turn (the orchestrator's group commit of results) is
   * done here, so the broker forgets no message before it is durable. What
   * it publishes leaves in the same socket write as the PUBACKs. If it
   * throws, the error is logged and the PUBACKs leave all the same.
   */
  onTurnEnd?: () => void;
}

/** Every kind a node sends (the topic table's `up` kinds), so a new kind is heard without touching the link. */
const FLEET_KINDS = MESSAGE_KINDS.filter((kind): kind is UpKind => TOPICS[kind].direction === 'up');

/**
 * The control plane's MQTT connection: a persistent session (clean: false)
 * so that messages sent while it is down wait in the broker, and a PUBACK
 * only after the message was handled and the turn's end-of-turn work (the
 * group commit of results) has run, so a crash loses nothing.
 */
export class ControlLink {
  readonly #options: ControlLinkOptions;
  readonly #id: string;
  #client: MqttClient | null = null;
  #rejected = 0;
  /** The streams held in the current turn (one, unless the client reconnected within it); null: no turn open. */
  #turn: Set<MqttClient['stream']> | null = null;

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
      this.#holdWrites(client.stream);
      this.#receive(packet.topic, packet.payload as Buffer);
      // Queues the PUBACK on the held stream: it leaves when the turn ends.
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
    // A turn still open ends now, while the connection can carry its PUBACKs and acks.
    this.#endTurn();
    const client = this.#client;
    this.#client = null;
    if (client) await client.endAsync();
  }

  /**
   * Holds the socket's writes until the end of this turn of the event loop
   * (the first message of a turn opens it): the PUBACKs of every message
   * received in it wait for the end-of-turn work, and leave in one write
   * with the acks it publishes instead of one write each.
   */
  #holdWrites(stream: MqttClient['stream']): void {
    if (!this.#turn) {
      this.#turn = new Set();
      setImmediate(() => this.#endTurn());
    }
    // After a reconnect within the turn the new stream is held as well.
    if (this.#turn.has(stream)) return;
    stream.cork();
    this.#turn.add(stream);
  }

  /** Runs the end-of-turn work, then lets the turn's writes go. */
  #endTurn(): void {
    const held = this.#turn;
    if (!held) return;
    this.#turn = null;
    try {
      this.#options.onTurnEnd?.();
    } catch (error) {
      // Whatever it left undone is the handler's to redo; the messages are acknowledged as for a failing onMessage.
      this.#options.logger.error({ err: error }, 'end-of-turn handler failed');
    } finally {
      for (const stream of held) stream.uncork();
    }
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
