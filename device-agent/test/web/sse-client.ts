/**
 * A minimal Server-Sent Events reader over node:http, for tests. It also
 * keeps `state` the way the page does: a `status` event replaces it, a
 * `patch` event is applied to it.
 */
import { request, type IncomingMessage } from 'node:http';
import { applyJsonPatch, type JsonPatchOperation } from '../../src/web/index.ts';

export interface SseEvent {
  event: string;
  data: string;
}

export class SseClient {
  readonly events: SseEvent[] = [];
  status = 0;
  ended = false;
  comments = 0;
  /** The snapshot as applied from the events so far (null before the first `status`). */
  state: unknown = null;
  /** Why a patch could not be applied, if one could not. */
  patchError: Error | null = null;
  #res: IncomingMessage | null = null;
  #buffer = '';
  #waiters = new Set<() => void>();
  #destroy: () => void = () => {};

  static open(
    port: number,
    options: { headers?: Record<string, string>; localAddress?: string; path?: string } = {},
  ): Promise<SseClient> {
    const client = new SseClient();
    const { headers = {}, localAddress, path = '/api/events' } = options;
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, headers, agent: false, ...(localAddress ? { localAddress } : {}) }, (res) => {
        client.status = res.statusCode ?? 0;
        client.#res = res;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => client.#feed(chunk));
        res.on('end', () => {
          client.ended = true;
          client.#wake();
        });
        res.on('error', () => {
          client.ended = true;
          client.#wake();
        });
        resolve(client);
      });
      client.#destroy = () => req.destroy();
      req.on('error', reject);
      req.end();
    });
  }

  /** Opens a stream in the page's format: a full snapshot, then patches. */
  static openPatches(port: number, options: { headers?: Record<string, string>; localAddress?: string } = {}): Promise<SseClient> {
    return SseClient.open(port, { ...options, path: '/api/events?format=patch' });
  }

  /** The raw response, e.g. to pause reading. */
  get response(): IncomingMessage | null {
    return this.#res;
  }

  /** How many events of this name arrived. */
  count(event: string): number {
    return this.events.filter((e) => e.event === event).length;
  }

  /** Status events' data, parsed. */
  statuses<T = unknown>(): T[] {
    return this.events.filter((e) => e.event === 'status').map((e) => JSON.parse(e.data) as T);
  }

  /** Resolves once `test` holds (checked after every chunk); rejects after `timeoutMs`. */
  waitFor(test: (client: SseClient) => boolean, timeoutMs = 5000): Promise<void> {
    if (test(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (test(this)) {
          clearTimeout(timer);
          this.#waiters.delete(check);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`SSE condition not met in ${timeoutMs} ms; got ${this.events.length} events`));
      }, timeoutMs);
      this.#waiters.add(check);
    });
  }

  close(): void {
    this.#res?.destroy();
    this.#destroy();
  }

  #feed(chunk: string): void {
    this.#buffer += chunk;
    let end: number;
    while ((end = this.#buffer.indexOf('\n\n')) !== -1) {
      const block = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      let comment = false;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) comment = true;
        else if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length > 0) {
        const text = data.join('\n');
        this.events.push({ event, data: text });
        if (event === 'status') this.state = JSON.parse(text) as unknown;
        else if (event === 'patch' && this.patchError === null) {
          try {
            this.state = applyJsonPatch(this.state, JSON.parse(text) as JsonPatchOperation[]);
          } catch (error) {
            this.patchError = error as Error;
          }
        }
      }
      else if (comment) this.comments++;
    }
    this.#wake();
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}
