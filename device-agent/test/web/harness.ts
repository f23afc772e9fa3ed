/**
 * Starts a real `LocalWebServer` on 127.0.0.1 with a `WebStatusStore`, a
 * recording `WebActions`, a temp data dir and a fake clock; cleans all of it
 * up when the test ends. Requests go through node:http so tests control
 * every header (Host, Origin, Content-Type, the source address).
 */
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import {
  LocalWebServer,
  WebStatusStore,
  type LocalWebServerOptions,
  type WebActions,
  type WebSnapshot,
} from '../../src/web/index.ts';
import { sampleSnapshot } from './fixtures.ts';

export const PASSWORD = 'correct horse battery';

export class FakeClock {
  t = 1_800_000_000_000;
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

export type ActionCall = ['bindOwner', string] | ['identify', number] | ['restart'];

/** Records what the page asked; binding an owner updates the store, as the agent would. */
export class RecordingActions implements WebActions {
  readonly calls: ActionCall[] = [];
  failWith: Error | null = null;
  readonly #store: WebStatusStore;
  constructor(store: WebStatusStore) {
    this.#store = store;
  }

  async bindOwner(address: string): Promise<void> {
    this.#fail();
    this.calls.push(['bindOwner', address]);
    this.#store.update({ owner: address });
  }
  async identify(seconds: number): Promise<void> {
    this.#fail();
    this.calls.push(['identify', seconds]);
  }
  async restart(): Promise<void> {
    this.#fail();
    this.calls.push(['restart']);
  }
  #fail(): void {
    if (this.failWith) throw this.failWith;
  }
}

export interface Harness {
  server: LocalWebServer;
  store: WebStatusStore;
  actions: RecordingActions;
  clock: FakeClock;
  dir: string;
  passwordFile: string;
  base: string;
  port: number;
}

export interface HarnessOptions extends Partial<Omit<LocalWebServerOptions, 'source' | 'actions' | 'passwordFile'>> {
  snapshot?: WebSnapshot;
  /** Reuse a data dir (e.g. across a restart); it is then not removed. */
  dir?: string;
}

export async function startHarness(t: TestContext, options: HarnessOptions = {}): Promise<Harness> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'meshnode-web-')));
  if (ownDir) t.after(() => rm(dir, { recursive: true, force: true }));
  const clock = new FakeClock();
  const store = new WebStatusStore(options.snapshot ?? sampleSnapshot({ owner: null, state: 'unclaimed' }));
  const actions = new RecordingActions(store);
  const passwordFile = join(dir, 'web-password.json');
  const { snapshot: _snapshot, dir: _dir, ...rest } = options;
  const server = new LocalWebServer({
    host: '127.0.0.1',
    port: 0,
    now: clock.now,
    scrypt: { N: 1024, r: 8, p: 1 }, // cheap in tests; the default costs ~90 ms per check
    ...rest,
    source: store,
    actions,
    passwordFile,
  });
  await server.start();
  t.after(() => server.stop());
  return { server, store, actions, clock, dir, passwordFile, base: `http://127.0.0.1:${server.port}`, port: server.port };
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json: () => unknown;
  /** `error.code` of a JSON error body, or undefined. */
  errorCode: string | undefined;
  errorMessage: string | undefined;
  /** The session cookie's `name=value`, if the reply set one. */
  cookie: string | undefined;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** Sent as JSON (with its Content-Type unless headers say otherwise); a string or Buffer is sent as is. */
  body?: unknown;
  cookie?: string;
  /** Source address, e.g. 127.0.0.2 to act as another client. */
  localAddress?: string;
  /** Send the body chunked (no Content-Length). */
  chunked?: boolean;
}

export function request(h: Pick<Harness, 'port'>, path: string, options: RequestOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  let payload: Buffer | undefined;
  if (options.body !== undefined) {
    if (typeof options.body === 'string' || Buffer.isBuffer(options.body)) payload = Buffer.from(options.body);
    else {
      payload = Buffer.from(JSON.stringify(options.body));
      headers['content-type'] ??= 'application/json';
    }
    if (!options.chunked) headers['content-length'] = String(payload.length);
  }
  if (options.cookie) headers.cookie = options.cookie;
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port: h.port,
        path,
        method: options.method ?? (payload ? 'POST' : 'GET'),
        headers,
        agent: false,
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
          const setCookie = res.headers['set-cookie']?.[0];
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            json: () => JSON.parse(text) as unknown,
            errorCode: error?.code,
            errorMessage: error?.message,
            cookie: setCookie?.split(';')[0],
          });
        });
      },
    );
    req.on('error', reject);
    if (payload) req.end(payload);
    else req.end();
  });
}

/** Sets the first-visit password and returns the session cookie. */
export async function setPassword(h: Harness, password = PASSWORD): Promise<string> {
  const reply = await request(h, '/api/password', { body: { password } });
  if (reply.status !== 201 || !reply.cookie) throw new Error(`setting the password failed: ${reply.status} ${reply.text}`);
  return reply.cookie;
}
