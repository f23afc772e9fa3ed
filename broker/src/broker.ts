import { Aedes, type AedesOptions, type AuthenticateError, type Client } from 'aedes';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { LIMITS } from '@meshchain/protocol';
import { pino, type Logger } from 'pino';
import { canPublish, canSetWill, canSubscribe, type Identity } from './acl.ts';
import { authenticateClient, CONNACK, type AuthPolicy } from './authenticate.ts';
import { PacketSizeScanner } from './packet-guard.ts';
import { memoryPersistenceWithRetainedIndex } from './retained-index.ts';

export interface BrokerOptions extends AuthPolicy {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Largest MQTT packet accepted: its remaining length (variable header, topic and payload). */
  maxPacketBytes?: number;
  logger?: Logger;
  /** Shared state for several brokers (e.g. aedes-persistence-redis + mqemitter-redis). */
  persistence?: AedesOptions['persistence'];
  mq?: AedesOptions['mq'];
}

export interface BrokerStats {
  connectedClients: number;
  refusedConnections: number;
  refusedPublishes: number;
  refusedSubscriptions: number;
}

/**
 * The MeshChain MQTT broker: aedes (MQTT 3.1.1) with token authentication,
 * per-node topic ACLs, a packet size limit and presence wills restricted to
 * the client's own presence topic. Embeddable (`start()`/`stop()`) or standalone.
 */
export class MeshBroker {
  readonly #options: BrokerOptions;
  readonly #log: Logger;
  readonly #identities = new WeakMap<Client, Identity>();
  readonly #wills = new WeakMap<Client, { topic: string; retain: boolean }>();
  readonly #stats: BrokerStats = { connectedClients: 0, refusedConnections: 0, refusedPublishes: 0, refusedSubscriptions: 0 };
  #aedes: Aedes | null = null;
  #server: Server | null = null;
  #sockets = new Set<Socket>();

  constructor(options: BrokerOptions) {
    this.#options = options;
    this.#log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'broker' });
  }

  get url(): string {
    const address = this.#server?.address() as AddressInfo | null;
    if (!address) throw new Error('broker is not started');
    return `mqtt://${address.address}:${address.port}`;
  }

  get stats(): BrokerStats {
    return { ...this.#stats, connectedClients: this.#aedes?.connectedClients ?? 0 };
  }

  async start(): Promise<{ url: string }> {
    const maxPacketBytes = this.#options.maxPacketBytes ?? LIMITS.maxPayloadBytes + 4096;
    const aedes = await Aedes.createBroker({
      id: 'meshchain-broker',
      maxClientsIdLength: 64,
      persistence: this.#options.persistence ?? memoryPersistenceWithRetainedIndex(),
      mq: this.#options.mq,
      // A refusal in preConnect leaves the client without a CONNACK, so the will
      // is only noted here and judged in authenticate, which can answer.
      preConnect: (client, packet, done) => {
        if (packet.will) this.#wills.set(client, { topic: packet.will.topic, retain: packet.will.retain ?? false });
        done(null, true);
      },
      authenticate: (client, username, password, done) => {
        authenticateClient(client.id, username, password, this.#options).then(
          (outcome) => {
            const will = this.#wills.get(client);
            if (outcome.ok && will && outcome.identity.role === 'node') {
              const decision = canSetWill(client.id, will.topic, will.retain);
              if (!decision.allowed) outcome = { ok: false, code: CONNACK.notAuthorized, reason: decision.reason };
            }
            if (outcome.ok) {
              this.#identities.set(client, outcome.identity);
              return done(null, true);
            }
            this.#refuseConnection(client.id, outcome.reason);
            done(Object.assign(new Error(outcome.reason), { returnCode: outcome.code }) as AuthenticateError, false);
          },
          (error: unknown) => {
            this.#log.error({ err: error, clientId: client.id }, 'authentication failed unexpectedly');
            done(Object.assign(new Error('server unavailable'), { returnCode: 3 }) as AuthenticateError, false);
          },
        );
      },
      authorizePublish: (client, packet, done) => {
        // client is null for messages the broker publishes itself (e.g. stored wills).
        if (!client) return done(null);
        const identity = this.#identities.get(client);
        const decision = identity
          ? canPublish(identity, packet.topic, packet.retain)
          : ({ allowed: false, reason: 'not authenticated' } as const);
        if (!decision.allowed) {
          this.#stats.refusedPublishes++;
          this.#log.warn({ clientId: client.id, topic: packet.topic, reason: decision.reason }, 'publish refused');
          // MQTT 3.1.1 has no negative PUBACK: aedes closes the connection.
          return done(new Error(decision.reason));
        }
        done(null);
      },
      authorizeSubscribe: (client, subscription, done) => {
        const identity = this.#identities.get(client);
        const decision = identity
          ? canSubscribe(identity, subscription.topic)
          : ({ allowed: false, reason: 'not authenticated' } as const);
        if (!decision.allowed) {
          this.#stats.refusedSubscriptions++;
          this.#log.warn({ clientId: client.id, filter: subscription.topic, reason: decision.reason }, 'subscription refused');
          return done(null, null); // SUBACK 0x80 for this filter
        }
        done(null, subscription);
      },
    });
    aedes.on('clientError', (client, error) => {
      this.#log.info({ clientId: client.id, err: error.message }, 'client error');
    });
    aedes.on('connectionError', (client, error) => {
      this.#log.info({ clientId: client.id, err: error.message }, 'connection error');
    });
    aedes.on('client', (client) => this.#log.debug({ clientId: client.id }, 'client connected'));
    aedes.on('clientDisconnect', (client) => this.#log.debug({ clientId: client.id }, 'client disconnected'));
    this.#aedes = aedes;

    const server = createServer((socket) => this.#accept(socket, maxPacketBytes));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#options.port ?? 1883, this.#options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#log.info({ url: this.url, enrollment: this.#options.enrollment }, 'broker listening');
    return { url: this.url };
  }

  async stop(): Promise<void> {
    const server = this.#server;
    const aedes = this.#aedes;
    this.#server = null;
    this.#aedes = null;
    for (const socket of this.#sockets) socket.destroy();
    await Promise.all([
      server ? new Promise<void>((resolve) => server.close(() => resolve())) : undefined,
      aedes ? new Promise<void>((resolve) => aedes.close(() => resolve())) : undefined,
    ]);
  }

  #accept(socket: Socket, maxPacketBytes: number): void {
    const aedes = this.#aedes;
    if (!aedes) return void socket.destroy();
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    // MQTT is request/response at the packet level: with Nagle on, each lone
    // PUBACK or delivery waited ~40 ms for a delayed TCP ACK.
    socket.setNoDelay(true);
    // The size guard reads every chunk aedes takes from the socket (aedes reads with
    // `read()` on 'readable'), so an oversized packet is refused from its header.
    // Wrapping the socket in guard and duplex streams instead cost ~8 KB per connection.
    const scanner = new PacketSizeScanner(maxPacketBytes);
    const read = socket.read.bind(socket);
    socket.read = (size?: number): Buffer | null => {
      const chunk = read(size) as Buffer | null;
      const error = chunk ? scanner.scan(chunk) : null;
      if (!error) return chunk;
      this.#stats.refusedPublishes++;
      this.#log.warn({ remote: socket.remoteAddress, reason: error.message }, 'connection closed: packet too large');
      socket.destroy();
      return null;
    };
    socket.on('error', () => socket.destroy());
    aedes.handle(socket);
  }

  #refuseConnection(clientId: string, reason: string): void {
    this.#stats.refusedConnections++;
    this.#log.warn({ clientId, reason }, 'connection refused');
  }
}

export { CONNACK };
