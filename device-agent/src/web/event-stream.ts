/**
 * Server-Sent Events for the page: a `status` event with the full snapshot
 * when a client connects and after every change, coalesced to at most one
 * per `minIntervalMs`, and a comment line every `heartbeatMs` so proxies and
 * phones keep the connection. A slow client never buffers more than one
 * event: while its socket is full it skips events and gets the latest one
 * when it drains. A `clock` event first gives the box's wall clock, the one
 * the snapshot's timestamps use, so the page can show "3 min ago" right even
 * when the phone's clock is off.
 */
import type { ServerResponse } from 'node:http';
import { BASE_HEADERS } from './http.ts';
import { WebError } from './errors.ts';

export interface EventStreamOptions {
  maxClients: number;
  maxClientsPerIp: number;
  minIntervalMs: number;
  heartbeatMs: number;
  /** The current snapshot as JSON text (a single line). */
  snapshot: () => string;
}

interface Client {
  res: ServerResponse;
  ip: string;
  /** The socket buffer is full; events wait for `drain`. */
  blocked: boolean;
  /** An event was skipped while blocked. */
  stale: boolean;
}

export class EventStream {
  readonly #o: EventStreamOptions;
  readonly #clients = new Set<Client>();
  #pending: NodeJS.Timeout | null = null;
  #heartbeat: NodeJS.Timeout | null = null;
  #lastSent = Number.NEGATIVE_INFINITY;
  #closed = false;

  constructor(options: EventStreamOptions) {
    this.#o = options;
  }

  get size(): number {
    return this.#clients.size;
  }

  /** Takes over the response as an event stream; throws `too-many-clients` when full. */
  add(res: ServerResponse, ip: string): void {
    if (this.#closed) throw new WebError('The box is shutting down.', { code: 'unavailable' });
    if (this.#clients.size >= this.#o.maxClients) {
      throw new WebError('Too many pages are open on this box. Close one and reload.', { code: 'too-many-clients' });
    }
    let fromIp = 0;
    for (const client of this.#clients) if (client.ip === ip) fromIp++;
    if (fromIp >= this.#o.maxClientsPerIp) {
      throw new WebError('Too many pages of this box are open on your device. Close one and reload.', {
        code: 'too-many-clients',
      });
    }
    const snapshot = this.#o.snapshot(); // before the headers, so a failure can still be an error response
    res.writeHead(200, {
      ...BASE_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    const client: Client = { res, ip, blocked: false, stale: false };
    this.#clients.add(client);
    res.on('close', () => this.#remove(client));
    res.on('drain', () => {
      client.blocked = false;
      if (client.stale) this.#send(client, statusEvent(this.#o.snapshot()));
    });
    this.#send(client, `retry: 3000\n\nevent: clock\ndata: ${JSON.stringify({ now: Date.now() })}\n\n${statusEvent(snapshot)}`);
    this.#startHeartbeat();
  }

  /** The snapshot changed: send it to everyone, at most once per `minIntervalMs`. */
  changed(): void {
    if (this.#closed || this.#pending !== null || this.#clients.size === 0) return;
    const wait = Math.max(0, this.#lastSent + this.#o.minIntervalMs - Date.now());
    this.#pending = setTimeout(() => this.#broadcast(), wait);
  }

  /** Ends every stream; later `add` calls are refused. */
  close(): void {
    this.#closed = true;
    if (this.#pending) clearTimeout(this.#pending);
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#pending = null;
    this.#heartbeat = null;
    for (const client of this.#clients) client.res.end();
    this.#clients.clear();
  }

  #broadcast(): void {
    this.#pending = null;
    this.#lastSent = Date.now();
    if (this.#clients.size === 0) return;
    let event: string;
    try {
      event = statusEvent(this.#o.snapshot());
    } catch {
      return; // the next change tries again; GET /api/status reports the error
    }
    for (const client of this.#clients) this.#send(client, event);
  }

  #send(client: Client, text: string): void {
    if (client.blocked) {
      client.stale = true;
      return;
    }
    client.stale = false;
    if (!client.res.write(text)) client.blocked = true;
  }

  #startHeartbeat(): void {
    if (this.#heartbeat !== null) return;
    this.#heartbeat = setInterval(() => {
      for (const client of this.#clients) if (!client.blocked) client.res.write(': keep-alive\n\n');
    }, this.#o.heartbeatMs);
    this.#heartbeat.unref();
  }

  #remove(client: Client): void {
    this.#clients.delete(client);
    if (this.#clients.size === 0 && this.#heartbeat !== null) {
      clearInterval(this.#heartbeat);
      this.#heartbeat = null;
    }
  }
}

function statusEvent(json: string): string {
  // JSON.stringify never emits raw newlines, so the snapshot is one data line.
  return `event: status\ndata: ${json}\n\n`;
}
