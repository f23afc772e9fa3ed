/**
 * Server-Sent Events for the page. Every stream starts with `retry: 3000`, a
 * `clock` event giving the box's wall clock (the one the snapshot's
 * timestamps use, so the page can show "3 min ago" right even when the
 * phone's clock is off) and a `status` event with the full snapshot. After
 * that, changes are coalesced to at most one event per `minIntervalMs`, in
 * one of two formats the client picks when it connects:
 *
 * - `patch` (`/api/events?format=patch`, what the page uses): a `patch`
 *   event with a JSON Patch (RFC 6902) from the previous state, typically a
 *   few hundred bytes where the snapshot is ~200 KB. The stream keeps one
 *   copy of what every patch client holds (`#held`) and computes each patch
 *   once for all of them.
 * - `full` (the default, for scripts and pages from older agents): a
 *   `status` event with the whole snapshot every time.
 *
 * A comment line every `heartbeatMs` keeps proxies and phones connected. A
 * slow client never buffers much: while its socket is full, a full client
 * skips events and gets the latest snapshot when it drains; a patch client
 * has its patches queued up to `MAX_QUEUED_PATCH_BYTES`, and past that skips
 * them and gets a full `status` event (which it then patches from) when it
 * drains. Events carry no `id`: a client that
 * reconnects always starts again from a full snapshot, and a `Last-Event-ID`
 * header is ignored.
 */
import type { ServerResponse } from 'node:http';
import { BASE_HEADERS } from './http.ts';
import { WebError } from './errors.ts';
import { applyJsonPatch, diffJson, type JsonPatchOperation } from './json-patch.ts';

export type EventFormat = 'full' | 'patch';
/**
 * Patches are computed by comparing only the parts of the snapshot that are
 * new objects since the last one (see json-patch.ts); every this many
 * patches everything is compared, so a source that changed something in
 * place rather than replacing it is still caught up within that many events.
 */
export const FULL_DIFF_EVERY = 20;
/** Patches queued for a patch client whose socket is full; past this it gets a full snapshot when it drains. */
export const MAX_QUEUED_PATCH_BYTES = 64 * 1024;
export const EVENT_FORMATS: readonly EventFormat[] = ['full', 'patch'];

/** The coalescing timer's clock and timers; tests pass one they drive by hand. */
export interface EventScheduler {
  now(): number;
  setTimeout(run: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realScheduler: EventScheduler = {
  now: () => Date.now(),
  setTimeout: (run, ms) => setTimeout(run, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface EventStreamOptions {
  maxClients: number;
  maxClientsPerIp: number;
  minIntervalMs: number;
  heartbeatMs: number;
  /** The current snapshot as JSON text (a single line), cached per change. */
  snapshot: () => string;
  /** The current snapshot itself, which patches are computed against (treated as read-only). */
  snapshotValue: () => unknown;
  /** Counts the source's changes: a new number means `snapshot()` may differ. */
  version: () => number;
  scheduler?: EventScheduler;
}

interface Client {
  res: ServerResponse;
  ip: string;
  format: EventFormat;
  /** The socket buffer is full; events wait for `drain`. */
  blocked: boolean;
  /** An event was skipped while blocked. */
  stale: boolean;
  /** Patches waiting for `drain` (patch clients only), and their size. */
  queue: Buffer[];
  queuedBytes: number;
}

export class EventStream {
  readonly #o: EventStreamOptions;
  readonly #scheduler: EventScheduler;
  readonly #clients = new Set<Client>();
  #pending: unknown = null;
  #heartbeat: NodeJS.Timeout | null = null;
  #lastSent = Number.NEGATIVE_INFINITY;
  #closed = false;
  /** What every patch client holds (plain JSON), the version it stands for, and its `status` event once encoded. */
  #held: unknown = null;
  #heldVersion = -1;
  /** The live snapshot `#held` was last brought in line with, and patches since everything was compared. */
  #heldFrom: object | null = null;
  #patchesSinceFullDiff = 0;
  #heldEvent: Buffer | null = null;

  constructor(options: EventStreamOptions) {
    this.#o = options;
    this.#scheduler = options.scheduler ?? realScheduler;
  }

  get size(): number {
    return this.#clients.size;
  }

  /** Takes over the response as an event stream; throws `too-many-clients` when full. */
  add(res: ServerResponse, ip: string, format: EventFormat = 'full'): void {
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
    // Before the headers, so a failure can still be an error response.
    const first = format === 'patch' ? this.#heldStatusEvent() : statusEvent(this.#o.snapshot());
    res.writeHead(200, {
      ...BASE_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    const client: Client = { res, ip, format, blocked: false, stale: false, queue: [], queuedBytes: 0 };
    this.#clients.add(client);
    res.on('close', () => this.#remove(client));
    res.on('drain', () => {
      client.blocked = false;
      const queued = client.queue;
      client.queue = [];
      client.queuedBytes = 0;
      if (!client.stale) {
        if (queued.length > 0) this.#send(client, Buffer.concat(queued));
        return;
      }
      try {
        this.#send(client, client.format === 'patch' ? this.#heldStatusEvent() : statusEvent(this.#o.snapshot()));
      } catch {
        res.destroy(); // the snapshot cannot be read: the page reconnects and gets an error it can show
      }
    });
    this.#send(client, Buffer.concat([Buffer.from(`retry: 3000\n\nevent: clock\ndata: ${JSON.stringify({ now: Date.now() })}\n\n`), first]));
    this.#startHeartbeat();
  }

  /** The snapshot changed: tell everyone, at most once per `minIntervalMs`. */
  changed(): void {
    if (this.#closed || this.#pending !== null || this.#clients.size === 0) return;
    const wait = Math.max(0, this.#lastSent + this.#o.minIntervalMs - this.#scheduler.now());
    this.#pending = this.#scheduler.setTimeout(() => this.#broadcast(), wait);
  }

  /** Ends every stream; later `add` calls are refused. */
  close(): void {
    this.#closed = true;
    if (this.#pending !== null) this.#scheduler.clearTimeout(this.#pending);
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#pending = null;
    this.#heartbeat = null;
    for (const client of this.#clients) client.res.end();
    this.#clients.clear();
    this.#held = null;
    this.#heldFrom = null;
    this.#heldEvent = null;
  }

  /**
   * The `status` event a new or resynchronising patch client starts from: the
   * held state, which patch clients follow. With none connected it is simply
   * the current snapshot; otherwise it may be one pending change behind,
   * which the next `patch` event brings forward.
   */
  #heldStatusEvent(): Buffer {
    let hasPatchClients = false;
    for (const client of this.#clients) if (client.format === 'patch') hasPatchClients = true;
    if (!hasPatchClients || this.#held === null) {
      const version = this.#o.version();
      const json = this.#o.snapshot();
      this.#held = JSON.parse(json) as unknown;
      this.#heldFrom = objectOrNull(this.#o.snapshotValue());
      this.#heldVersion = version;
      this.#heldEvent = statusEvent(json);
    }
    this.#heldEvent ??= statusEvent(JSON.stringify(this.#held));
    return this.#heldEvent;
  }

  #broadcast(): void {
    this.#pending = null;
    this.#lastSent = this.#scheduler.now();
    let patch: Buffer | null = null;
    let full: Buffer | null = null;
    for (const client of this.#clients) {
      try {
        if (client.format === 'patch') patch ??= this.#nextPatch() ?? Buffer.alloc(0);
        else full ??= statusEvent(this.#o.snapshot());
      } catch {
        return; // the next change tries again; GET /api/status reports the error
      }
    }
    for (const client of this.#clients) {
      const event = client.format === 'patch' ? patch : full;
      if (event !== null && event.length > 0) this.#send(client, event);
    }
  }

  /** The `patch` event from the held state to the current snapshot (null when nothing changed), and the held state moved on. */
  #nextPatch(): Buffer | null {
    const version = this.#o.version();
    if (this.#held === null || version === this.#heldVersion) return null;
    const live = this.#o.snapshotValue();
    const fullDiff = this.#heldFrom === null || ++this.#patchesSinceFullDiff >= FULL_DIFF_EVERY;
    const ops = diffJson(this.#held, live, fullDiff ? undefined : (this.#heldFrom ?? undefined));
    if (fullDiff) this.#patchesSinceFullDiff = 0;
    this.#heldFrom = objectOrNull(live);
    this.#heldVersion = version;
    if (ops.length === 0) return null;
    const text = JSON.stringify(ops);
    this.#heldEvent = null;
    try {
      // Apply the patch as sent (parsed back), so the held copy is exactly what clients hold.
      this.#held = applyJsonPatch(this.#held, JSON.parse(text) as JsonPatchOperation[]);
    } catch {
      // Cannot happen unless diff and apply disagree; if it does, start every patch client again from a full snapshot.
      this.#held = null;
      this.#heldFrom = null;
      for (const client of this.#clients) if (client.format === 'patch') client.res.end();
      return null;
    }
    return Buffer.from(`event: patch\ndata: ${text}\n\n`);
  }

  #send(client: Client, event: Buffer): void {
    if (client.blocked) {
      if (client.format === 'patch' && !client.stale && client.queuedBytes + event.length <= MAX_QUEUED_PATCH_BYTES) {
        client.queue.push(event);
        client.queuedBytes += event.length;
        return;
      }
      client.stale = true;
      client.queue = [];
      client.queuedBytes = 0;
      return;
    }
    client.stale = false;
    if (!client.res.write(event)) client.blocked = true;
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

function objectOrNull(value: unknown): object | null {
  return typeof value === 'object' && value !== null ? value : null;
}

function statusEvent(json: string): Buffer {
  // JSON.stringify never emits raw newlines, so the snapshot is one data line.
  return Buffer.from(`event: status\ndata: ${json}\n\n`);
}
