import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A TCP relay on 127.0.0.1 that can cut every connection through it at
 * will: a Wi-Fi drop or a home router reboot between agents and the broker.
 */
export class TcpProxy {
  readonly #target: { host: string; port: number };
  readonly #pairs = new Set<[Socket, Socket]>();
  #server: Server | null = null;
  #port = 0;
  /** Connections relayed so far (a reconnect makes a new one). */
  accepted = 0;

  constructor(target: { host: string; port: number }) {
    this.#target = target;
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.#port}`;
  }

  /** Connections open now. */
  get open(): number {
    return this.#pairs.size;
  }

  async start(port = 0): Promise<void> {
    const server = createServer((client) => {
      this.accepted++;
      const upstream = connect(this.#target.port, this.#target.host);
      const pair: [Socket, Socket] = [client, upstream];
      this.#pairs.add(pair);
      const close = (): void => {
        this.#pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
  }

  /** Drops every relayed connection abruptly (no FIN to the broker's MQTT session: its will fires). */
  cut(): number {
    const pairs = [...this.#pairs];
    for (const [client, upstream] of pairs) {
      client.resetAndDestroy();
      upstream.resetAndDestroy();
    }
    this.#pairs.clear();
    return pairs.length;
  }

  async stop(): Promise<void> {
    this.cut();
    const server = this.#server;
    this.#server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
