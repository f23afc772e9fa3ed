/**
 * The agent's local web page and its JSON API, on plain `node:http`.
 *
 * Why node:http and not fastify (which the control plane uses): the API is
 * ten routes on a Pi that also runs the model, and each piece that matters
 * here (body limits, password rate limits, SSE backpressure, CSRF and host
 * checks) is a few lines to write and test directly, where a framework would
 * want a plugin for each. So the agent loads no web framework at all.
 *
 * Everything a handler touches is in memory; the only slow work, password
 * hashing, runs one at a time off the event loop behind rate limits, so a
 * flood of requests does not slow the job runner.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bindingBodySchema } from '@meshchain/protocol';
import { CLEAR_SESSION_COOKIE, WebAuth, sessionCookie } from './auth.ts';
import { WebError, messageOf, secondsText } from './errors.ts';
import { EVENT_FORMATS, EventStream, type EventFormat, type EventScheduler } from './event-stream.ts';
import { BASE_HEADERS, acceptsGzip, clientIp, readJsonObject, sendBody, sendError, sendJson } from './http.ts';
import { isAllowedHost, isSameOrigin } from './origin.ts';
import { type LoadedPage, loadPage } from './page.ts';
import { PasswordStore, type ScryptParams } from './password-store.ts';
import type { RateLimit } from './rate-limiter.ts';
import { SnapshotCache } from './snapshot-cache.ts';
import type { WebActions, WebLogger, WebStatusSource } from './types.ts';

export { SESSION_COOKIE } from './auth.ts';
export const DEFAULT_WEB_PORT = 8080;
export const IDENTIFY_MAX_SECONDS = 600;

export interface WebLimits {
  /** Largest accepted request body (413 past it). */
  maxBodyBytes: number;
  /** Wrong passwords per client address (login and Bearer alike); see auth.ts. */
  passwordFailuresPerIp: RateLimit;
  /** Password checks of all clients together: bounds the CPU spent on scrypt. */
  passwordChecksGlobal: RateLimit;
  maxEventClients: number;
  maxEventClientsPerIp: number;
  /** Changes are coalesced: at most one `status` or `patch` event per this many ms (4/s). */
  eventMinIntervalMs: number;
  heartbeatMs: number;
  sessionTtlMs: number;
  maxSessions: number;
  /** An action the agent has not answered after this long fails with 503. */
  actionTimeoutMs: number;
  /** Open sockets; past it new connections are dropped. */
  maxConnections: number;
}

export const DEFAULT_WEB_LIMITS: Readonly<WebLimits> = {
  maxBodyBytes: 16 * 1024,
  passwordFailuresPerIp: { limit: 5, windowMs: 60_000 },
  passwordChecksGlobal: { limit: 12, windowMs: 60_000 },
  maxEventClients: 16,
  maxEventClientsPerIp: 4,
  eventMinIntervalMs: 250,
  heartbeatMs: 15_000,
  sessionTtlMs: 12 * 60 * 60_000,
  maxSessions: 32,
  actionTimeoutMs: 30_000,
  maxConnections: 512,
};

export interface LocalWebServerOptions {
  source: WebStatusSource;
  actions: WebActions;
  /** Where the password hash is kept, e.g. `<dataDir>/web-password.json`. */
  passwordFile: string;
  /** A password from the agent's config; the page then cannot set one. */
  password?: string | undefined;
  /** Default `0.0.0.0` (the whole LAN); tests use 127.0.0.1. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Host names served besides IPs, localhost, single labels and home suffixes (see origin.ts). */
  allowedHosts?: readonly string[];
  logger?: WebLogger;
  limits?: Partial<WebLimits>;
  /** Default: 2^15, 8, 1. Tests pass a cheaper cost. */
  scrypt?: ScryptParams;
  /** ms since epoch, for rate limits and sessions; default `Date.now`. */
  now?: () => number;
  /** The clock and timers that coalesce live events; default the real ones. Tests drive their own. */
  eventScheduler?: EventScheduler;
}

const silentLogger: WebLogger = { info: () => {}, warn: () => {}, error: () => {} };

interface Running {
  server: Server;
  page: LoadedPage;
  auth: WebAuth;
  events: EventStream;
  cache: SnapshotCache;
  unsubscribe: () => void;
}

type Handler = (req: IncomingMessage, res: ServerResponse, r: Running) => Promise<void> | void;
type Method = 'GET' | 'POST' | 'DELETE';

export class LocalWebServer {
  readonly #o: LocalWebServerOptions;
  readonly #limits: WebLimits;
  readonly #log: WebLogger;
  readonly #now: () => number;
  #running: Running | null = null;
  #starting: Promise<void> | null = null;
  /** Path → method → handler. HEAD is served as GET. */
  readonly #routes: Readonly<Record<string, Partial<Record<Method, Handler>>>> = {
    '/': { GET: (q, s, r) => this.#page(q, s, r) },
    '/index.html': { GET: (q, s, r) => this.#page(q, s, r) },
    '/api/status': { GET: (q, s, r) => this.#status(q, s, r) },
    '/api/events': { GET: (q, s, r) => this.#events(q, s, r) },
    '/api/session': {
      GET: (q, s, r) => this.#session(q, s, r),
      POST: (q, s, r) => this.#logIn(q, s, r),
      DELETE: (q, s, r) => this.#logOut(q, s, r),
    },
    '/api/password': { POST: (q, s, r) => this.#setPassword(q, s, r) },
    '/api/actions/bind': { POST: (q, s, r) => this.#bind(q, s, r) },
    '/api/actions/identify': { POST: (q, s, r) => this.#identify(q, s, r) },
    '/api/actions/restart': { POST: (q, s, r) => this.#restart(q, s, r) },
  };

  constructor(options: LocalWebServerOptions) {
    this.#o = options;
    this.#limits = { ...DEFAULT_WEB_LIMITS, ...options.limits };
    this.#log = options.logger ?? silentLogger;
    this.#now = options.now ?? Date.now;
  }

  /** The port it listens on (after `start()`). */
  get port(): number {
    const address = this.#running?.server.address();
    if (!address || typeof address === 'string') throw new WebError('the web server is not started', { code: 'unavailable' });
    return (address as AddressInfo).port;
  }

  /** e.g. http://127.0.0.1:8080 (the bound address; 0.0.0.0 means every interface). */
  get url(): string {
    const host = this.#o.host ?? '0.0.0.0';
    return `http://${host.includes(':') ? `[${host}]` : host}:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.#running) return;
    this.#starting ??= this.#start().finally(() => {
      this.#starting = null;
    });
    return this.#starting;
  }

  async #start(): Promise<void> {
    const limits = this.#limits;
    const [page, passwords] = await Promise.all([
      loadPage(),
      (async () => {
        const store = new PasswordStore({
          path: this.#o.passwordFile,
          preset: this.#o.password,
          logger: this.#log,
          now: this.#now,
          ...(this.#o.scrypt ? { scrypt: this.#o.scrypt } : {}),
        });
        await store.load();
        return store;
      })(),
    ]);
    const cache = new SnapshotCache(this.#o.source);
    const events = new EventStream({
      maxClients: limits.maxEventClients,
      maxClientsPerIp: limits.maxEventClientsPerIp,
      minIntervalMs: limits.eventMinIntervalMs,
      heartbeatMs: limits.heartbeatMs,
      snapshot: () => cache.current().json,
      snapshotValue: () => this.#o.source.snapshot(),
      version: () => cache.version,
      ...(this.#o.eventScheduler ? { scheduler: this.#o.eventScheduler } : {}),
    });
    const unsubscribe = this.#o.source.subscribe(() => {
      cache.invalidate();
      events.changed();
    });
    const server = createServer({ requestTimeout: 15_000, headersTimeout: 10_000, keepAliveTimeout: 5_000 });
    server.maxConnections = limits.maxConnections;
    server.maxRequestsPerSocket = 1000;
    const running: Running = {
      server,
      page,
      auth: new WebAuth({
        passwords,
        sessionTtlMs: limits.sessionTtlMs,
        maxSessions: limits.maxSessions,
        failuresPerIp: limits.passwordFailuresPerIp,
        checksGlobal: limits.passwordChecksGlobal,
        logger: this.#log,
        now: this.#now,
      }),
      events,
      cache,
      unsubscribe,
    };
    server.on('request', (req, res) => void this.#handle(req, res, running));
    server.on('clientError', (_error, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.#o.port ?? DEFAULT_WEB_PORT, this.#o.host ?? '0.0.0.0', () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      unsubscribe();
      events.close();
      throw new WebError(`the web page cannot listen on ${this.#o.host ?? '0.0.0.0'}:${this.#o.port ?? DEFAULT_WEB_PORT}`, {
        code: 'invalid-config',
        details: `${messageOf(error)}; choose another port or stop what uses it`,
        cause: error,
      });
    }
    this.#running = running;
    this.#log.info(
      { url: this.url, passwordSet: passwords.state === 'set', pageBytes: page.body.length },
      'local web page listening',
    );
  }

  /** Ends event streams and open connections, then closes the listener. */
  async stop(): Promise<void> {
    await this.#starting?.catch(() => undefined);
    const running = this.#running;
    if (!running) return;
    this.#running = null;
    running.unsubscribe();
    running.events.close();
    running.auth.clear();
    const closed = new Promise<void>((resolve) => running.server.close(() => resolve()));
    running.server.closeAllConnections();
    await closed;
  }

  async #handle(req: IncomingMessage, res: ServerResponse, r: Running): Promise<void> {
    try {
      if (!isAllowedHost(req.headers.host, this.#o.allowedHosts)) {
        const name = (req.headers.host ?? '').slice(0, 100);
        throw new WebError(`This box does not answer to the name "${name}". Open it by its IP address or its .local name.`, {
          code: 'host-not-allowed',
        });
      }
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const route = Object.hasOwn(this.#routes, path) ? this.#routes[path] : undefined;
      const method = req.method === 'HEAD' ? 'GET' : req.method;
      const handler = route && (method === 'GET' || method === 'POST' || method === 'DELETE') ? route[method] : undefined;
      if (!route) throw new WebError(`Nothing at ${path}.`, { code: 'not-found' });
      if (!handler) {
        throw new WebError(`${req.method ?? ''} is not allowed on ${path}.`, {
          code: 'method-not-allowed',
          details: Object.keys(route).map((m) => (m === 'GET' ? 'GET, HEAD' : m)).join(', '),
        });
      }
      if (method !== 'GET' && !isSameOrigin(req.headers.origin, req.headers.host)) {
        throw new WebError('Refused a request from another web site.', { code: 'forbidden-origin' });
      }
      await handler(req, res, r);
    } catch (error) {
      const webError =
        error instanceof WebError ? error : new WebError('Something went wrong on the box.', { code: 'internal', cause: error });
      if (webError.status >= 500) {
        this.#log.error({ url: req.url, method: req.method, error: messageOf(error) }, 'web request failed');
      }
      if (res.headersSent) res.destroy();
      else sendError(res, webError, this.#now());
    }
  }

  // --- read-only, for everyone on the LAN ---

  #page(req: IncomingMessage, res: ServerResponse, r: Running): void {
    const { page } = r;
    const headers: Record<string, string> = {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-cache',
      'content-security-policy': page.csp,
      etag: page.etag,
      vary: 'accept-encoding',
    };
    if (req.headers['if-none-match'] === page.etag) {
      res.writeHead(304, { ...BASE_HEADERS, ...headers });
      res.end();
      return;
    }
    const gz = acceptsGzip(req);
    sendBody(res, 200, gz ? page.gzipped : page.body, gz ? { ...headers, 'content-encoding': 'gzip' } : headers);
  }

  async #status(req: IncomingMessage, res: ServerResponse, r: Running): Promise<void> {
    const headers = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', vary: 'accept-encoding' };
    if (acceptsGzip(req)) {
      const body = await r.cache.gzipped();
      sendBody(res, 200, body, { ...headers, 'content-encoding': 'gzip' });
    } else {
      sendBody(res, 200, r.cache.current().body, headers);
    }
  }

  #events(req: IncomingMessage, res: ServerResponse, r: Running): void {
    r.events.add(res, clientIp(req), eventFormatOf(req));
  }

  #session(req: IncomingMessage, res: ServerResponse, r: Running): void {
    sendJson(res, 200, r.auth.status(req));
  }

  // --- password and login ---

  async #setPassword(req: IncomingMessage, res: ServerResponse, r: Running): Promise<void> {
    const body = await readJsonObject(req, this.#limits.maxBodyBytes);
    const session = await r.auth.setPassword(req, body.password);
    sendJson(res, 201, { ok: true, expiresAt: session.expiresAt }, { 'set-cookie': sessionCookie(session, this.#limits.sessionTtlMs) });
  }

  async #logIn(req: IncomingMessage, res: ServerResponse, r: Running): Promise<void> {
    const body = await readJsonObject(req, this.#limits.maxBodyBytes);
    if (typeof body.password !== 'string' || body.password === '') {
      throw new WebError('Type the device password.', { code: 'invalid-input' });
    }
    const session = await r.auth.logIn(req, body.password);
    sendJson(res, 200, { ok: true, expiresAt: session.expiresAt }, { 'set-cookie': sessionCookie(session, this.#limits.sessionTtlMs) });
  }

  #logOut(req: IncomingMessage, res: ServerResponse, r: Running): void {
    r.auth.logOut(req);
    sendJson(res, 200, { ok: true }, { 'set-cookie': CLEAR_SESSION_COOKIE });
  }

  // --- actions: need a session or the password ---

  async #bind(req: IncomingMessage, res: ServerResponse, r: Running): Promise<void> {
    const body = await readJsonObject(req, this.#limits.maxBodyBytes);
    await r.auth.authorize(req);
    const parsed = bindingBodySchema.shape.owner.safeParse(body.owner);
    if (!parsed.success) {
      throw new WebError(
        `That is not a valid owner address: ${parsed.error.issues[0]?.message ?? 'give a 0x… address'}.`,
        { code: 'invalid-input' },
      );
    }
    await this.#act('bind', req, () => this.#o.actions.bindOwner(parsed.data));
    sendJson(res, 200, { ok: true, owner: parsed.data });
  }

  async #identify(req: IncomingMessage, res: ServerResponse, r: Running): Promise<void> {
    const body = await readJsonObject(req, this.#limits.maxBodyBytes);
    await r.auth.authorize(req);
    const secs = body.seconds;
    if (typeof secs !== 'number' || !Number.isInteger(secs) || secs < 1 || secs > IDENTIFY_MAX_SECONDS) {
      throw new WebError(`Give a whole number of seconds from 1 to ${IDENTIFY_MAX_SECONDS}.`, { code: 'invalid-input' });
    }
    await this.#act('identify', req, () => this.#o.actions.identify(secs));
    sendJson(res, 200, { ok: true, seconds: secs });
  }

  async #restart(req: IncomingMessage, res: ServerResponse, r: Running): Promise<void> {
    await readJsonObject(req, this.#limits.maxBodyBytes);
    await r.auth.authorize(req);
    await this.#act('restart', req, () => this.#o.actions.restart());
    sendJson(res, 202, { ok: true });
  }

  async #act(name: string, req: IncomingMessage, run: () => Promise<void>): Promise<void> {
    const ip = clientIp(req);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new WebError(`The agent did not answer in ${secondsText(this.#limits.actionTimeoutMs)}.`, { code: 'unavailable' })),
        this.#limits.actionTimeoutMs,
      );
    });
    try {
      await Promise.race([run(), timeout]);
      this.#log.info({ action: name, ip }, 'web action done');
    } catch (error) {
      this.#log.warn({ action: name, ip, error: messageOf(error) }, 'web action failed');
      if (error instanceof WebError) throw error;
      throw new WebError(`Could not ${name}: ${messageOf(error)}`, { code: 'action-failed', cause: error });
    } finally {
      clearTimeout(timer);
    }
  }
}

/** `?format=full` (the default) or `?format=patch`; anything else is a 400 that says what to send. */
function eventFormatOf(req: IncomingMessage): EventFormat {
  const query = (req.url ?? '').split('?')[1];
  const format = new URLSearchParams(query ?? '').get('format');
  if (format === null || format === '') return 'full';
  if ((EVENT_FORMATS as readonly string[]).includes(format)) return format as EventFormat;
  throw new WebError(`Unknown event format "${format.slice(0, 40)}": use format=patch, or leave it out for full snapshots.`, {
    code: 'invalid-input',
  });
}
