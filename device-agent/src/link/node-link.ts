import mqtt, { type MqttClient } from 'mqtt';
import {
  createAuthToken,
  encodeMessage,
  isProtocolError,
  openMessage,
  ReplayGuard,
  sealMessage,
  topicFor,
  TOPICS,
  type BodyOf,
  type Envelope,
  type OpenedMessage,
  type UpKind,
} from '@meshchain/protocol';
import type { Logger } from 'pino';
import type { NodeIdentity } from '../identity/identity.ts';
import { backoffDelay, type BackoffPolicy } from './backoff.ts';

export interface NodeLinkOptions {
  url: string;
  identity: NodeIdentity;
  controlPlaneId: string;
  logger: Logger;
  backoff: BackoffPolicy;
  maxSkewMs: number;
  /** Called for each verified message before it is acknowledged to the broker. */
  onMessage: (message: OpenedMessage) => void;
  /** Called after every (re)connection, once subscriptions are in place. */
  onConnect: () => void;
  /** Called when the connection drops. */
  onDisconnect?: () => void;
}

/**
 * The node's MQTT connection: persistent session, a signed offline
 * presence as its will, a fresh short-lived token and will on every
 * reconnect, and reconnects spaced by capped exponential backoff with jitter.
 */
export class NodeLink {
  readonly #o: NodeLinkOptions;
  readonly #replay: ReplayGuard;
  #client: MqttClient | null = null;
  #attempt = 0;
  #reconnectTimer: NodeJS.Timeout | null = null;
  #stopping = false;
  #rejected = 0;
  /**
   * Start of the current connection session. The will, the online presence
   * and a graceful goodbye all carry it as `since`: a later session wins, and
   * within one session offline wins, so a will can never lose to the online
   * message it was registered with.
   */
  #session = Date.now();

  constructor(options: NodeLinkOptions) {
    this.#o = options;
    // Ids must be remembered for as long as a timestamp can pass the skew check.
    this.#replay = new ReplayGuard({ windowMs: options.maxSkewMs });
  }

  get connected(): boolean {
    return this.#client?.connected ?? false;
  }

  get rejectedMessages(): number {
    return this.#rejected;
  }

  /** Starts connecting; resolves at once (the agent works offline and catches up). */
  start(): void {
    const { identity, logger } = this.#o;
    const client = mqtt.connect(this.#o.url, {
      clientId: identity.nodeId,
      username: identity.nodeId,
      password: createAuthToken(identity.signer, 'node'),
      clean: false,
      protocolVersion: 4,
      keepalive: 30,
      connectTimeout: 15_000,
      // Reconnects are scheduled here with backoff and jitter, not at mqtt.js' fixed period.
      reconnectPeriod: 0,
      will: this.#will(),
    });
    this.#client = client;
    client.handleMessage = (packet, done) => {
      this.#receive(packet.topic, packet.payload as Buffer);
      done();
    };
    client.on('connect', () => {
      this.#attempt = 0;
      logger.info({ url: this.#o.url }, 'connected');
      client.subscribe([topicFor('assignment', identity.nodeId), topicFor('ack', identity.nodeId), topicFor('command', identity.nodeId), topicFor('updateOffer', identity.nodeId)], { qos: 1 }, (error) => {
        if (error) {
          logger.error({ err: error.message }, 'subscription refused');
          return;
        }
        this.#publishState();
        this.#o.onConnect();
      });
    });
    client.on('error', (error) => logger.warn({ err: error.message }, 'mqtt error'));
    client.on('close', () => {
      this.#o.onDisconnect?.();
      this.#scheduleReconnect();
    });
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    const client = this.#client;
    if (!client) return;
    if (client.connected) {
      // A graceful goodbye: the will only fires on an abrupt drop.
      await this.publish('presence', { state: 'offline', since: this.#session }).catch((error: unknown) =>
        this.#o.logger.warn({ err: error }, 'offline presence not sent; the control plane will see the node offline when its leases expire'),
      );
    }
    this.#client = null;
    await client.endAsync();
  }

  async publish<K extends UpKind>(kind: K, body: BodyOf<K>): Promise<void> {
    await this.publishEnvelope(sealMessage(kind, body, this.#o.identity.signer));
  }

  async publishEnvelope(envelope: Envelope<UpKind>): Promise<void> {
    const client = this.#client;
    if (!client) throw new Error('link is stopped');
    await client.publishAsync(topicFor(envelope.kind, this.#o.identity.nodeId), encodeMessage(envelope), {
      qos: 1,
      retain: TOPICS[envelope.kind].retain,
    });
  }

  #publishState(): void {
    this.publish('presence', { state: 'online', since: this.#session }).catch((error: unknown) =>
      this.#o.logger.warn({ err: error }, 'presence publish failed'),
    );
  }

  #will(): mqtt.IClientOptions['will'] {
    const envelope = sealMessage('presence', { state: 'offline', since: this.#session }, this.#o.identity.signer);
    return { topic: topicFor('presence', this.#o.identity.nodeId), payload: encodeMessage(envelope), qos: 1, retain: true };
  }

  #scheduleReconnect(): void {
    const client = this.#client;
    if (this.#stopping || !client || this.#reconnectTimer) return;
    this.#attempt++;
    const delay = backoffDelay(this.#o.backoff, this.#attempt);
    this.#o.logger.warn({ attempt: this.#attempt, delayMs: delay }, 'disconnected; reconnecting');
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      if (this.#stopping) return;
      client.options.password = createAuthToken(this.#o.identity.signer, 'node');
      this.#session = Math.max(Date.now(), this.#session + 1);
      const will = this.#will();
      if (will) client.options.will = will;
      client.reconnect();
    }, delay);
  }

  #receive(topic: string, payload: Buffer): void {
    let message: OpenedMessage;
    try {
      message = openMessage(topic, payload, {
        trustedControlPlanes: new Set([this.#o.controlPlaneId]),
        maxSkewMs: this.#o.maxSkewMs,
        replay: this.#replay,
      });
    } catch (error) {
      this.#rejected++;
      if (!isProtocolError(error)) throw error;
      this.#o.logger.warn({ topic, reason: error.shortMessage, details: error.details, kind: error.name }, 'message refused');
      return;
    }
    try {
      this.#o.onMessage(message);
    } catch (error) {
      this.#o.logger.error({ err: error, kind: message.kind }, 'message handler failed');
    }
  }
}
