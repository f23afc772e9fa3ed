/**
 * web-events: what one change of the box's state costs the local web page's
 * live event stream (`GET /api/events`): bytes each open page receives per
 * change and the agent's CPU per change, for 1, 4 and 16 open pages, with
 * full snapshots on every change (`/api/events`, what the page used before
 * patches) and with patches (`/api/events?format=patch`, what it uses now).
 *
 * The server side (a `LocalWebServer` over a `WebStatusStore` in a realistic
 * state) runs in a child process of this same file, so its CPU is its own;
 * the pages are plain HTTP readers in this process.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalWebServer, WebStatusStore, type WebSnapshot } from '../../../device-agent/src/web/index.ts';
import { applyJsonPatch, type JsonPatchOperation } from '../../../device-agent/src/web/json-patch.ts';
import { ledOf, sampleSnapshot, telemetryHistory, workingShard } from '../../../device-agent/test/web/fixtures.ts';
import { measureRate, summarize, withTimeout, type Benchmark, type Reporter } from './harness.ts';

const CHILD_FLAG = '--web-events-server';

type ToChild = { kind: 'change'; i: number } | { kind: 'cpu' } | { kind: 'snapshot' } | { kind: 'stop' };
type FromChild =
  | { kind: 'ready'; port: number; snapshotBytes: number }
  | { kind: 'changed'; i: number }
  | { kind: 'cpu'; ms: number }
  | { kind: 'snapshot'; json: string };

/** What one change does to the store, like a working box: shard progress every second, a log line every 5 s, a telemetry sample every 10 s. */
function changeKind(i: number): 'progress' | 'progress + log' | 'progress + telemetry' {
  if (i % 10 === 9) return 'progress + telemetry';
  if (i % 5 === 4) return 'progress + log';
  return 'progress';
}

/** A box an hour into its day: working, an hour of telemetry (360 samples), 100 log lines. */
function realisticStore(now: number): WebStatusStore {
  const base = sampleSnapshot({ state: 'working', led: ledOf('working'), current: { ...workingShard(now), inputs: 1000, done: 0 } }, now);
  const logs = Array.from({ length: 100 }, (_, k) => ({
    ts: now - (100 - k) * 30_000,
    level: k % 17 === 0 ? 'warn' : 'info',
    msg: `shard sh_${(0x7f3a + k).toString(16)} (job jb_19c2) done: 8 inputs, ${900 + k} tokens in ${(30 + (k % 13)).toFixed(1)} s`,
  }));
  return new WebStatusStore({ ...base, logs });
}

function applyChange(store: WebStatusStore, i: number, now: number): void {
  const current = store.snapshot().current;
  if (current) store.update({ current: { ...current, done: (i + 1) % 1000, tokensPerSecond: 20 + (i % 7) + 0.1 } });
  const kind = changeKind(i);
  if (kind === 'progress + log') store.log({ ts: now, level: 'info', msg: `shard progress ${i}: ${(i + 1) % 1000} of 1000 inputs` });
  if (kind === 'progress + telemetry') {
    const { history } = store.snapshot().telemetry;
    const sample = telemetryHistory(now, 1)[0];
    if (sample) store.update({ telemetry: { latest: sample, history: [...history.slice(1), sample] } });
  }
}

// ------------------------------------------------------------------ the agent side (child process)

async function serve(): Promise<void> {
  const send = (message: FromChild): void => void process.send?.(message);
  const dir = await mkdtemp(join(tmpdir(), 'meshnode-bench-events-'));
  let now = Date.now();
  const store = realisticStore(now);
  const server = new LocalWebServer({
    host: '127.0.0.1',
    port: 0,
    source: store,
    actions: { bindOwner: async () => {}, identify: async () => {}, restart: async () => {} },
    passwordFile: join(dir, 'web-password.json'),
    password: 'the bench password',
    // One event per change: the benchmark paces the changes itself.
    limits: { eventMinIntervalMs: 0, maxEventClients: 16, maxEventClientsPerIp: 16, heartbeatMs: 3_600_000 },
  });
  await server.start();
  const stop = async (): Promise<void> => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('message', (message: ToChild) => {
    if (message.kind === 'change') {
      now += 1000;
      applyChange(store, message.i, now);
      send({ kind: 'changed', i: message.i });
    } else if (message.kind === 'cpu') {
      const used = process.cpuUsage();
      send({ kind: 'cpu', ms: (used.user + used.system) / 1000 });
    } else if (message.kind === 'snapshot') {
      send({ kind: 'snapshot', json: JSON.stringify(store.snapshot()) });
    } else void stop();
  });
  process.on('disconnect', () => void stop());
  send({ kind: 'ready', port: server.port, snapshotBytes: Buffer.byteLength(JSON.stringify(store.snapshot())) });
}

// ------------------------------------------------------------------ the pages (this process)

interface ServerProcess {
  port: number;
  snapshotBytes: number;
  call<K extends FromChild['kind']>(message: ToChild, answer: K): Promise<Extract<FromChild, { kind: K }>>;
  stop(): Promise<void>;
}

async function startServer(): Promise<ServerProcess> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [CHILD_FLAG], {
    execArgv: ['--import', import.meta.resolve('tsx')],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const next = <K extends FromChild['kind']>(kind: K): Promise<Extract<FromChild, { kind: K }>> =>
    new Promise((resolve, reject) => {
      const onMessage = (message: FromChild): void => {
        if (message.kind !== kind) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(message as Extract<FromChild, { kind: K }>);
      };
      const onExit = (): void => {
        child.off('message', onMessage);
        reject(new Error(`the web server process exited while waiting for "${kind}"`));
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const ready = await withTimeout(next('ready'), 60_000, 'the web server process start');
  return {
    port: ready.port,
    snapshotBytes: ready.snapshotBytes,
    call: (message, answer) => {
      const reply = next(answer);
      child.send(message);
      return withTimeout(reply, 30_000, `the web server's "${answer}"`);
    },
    stop: async () => {
      if (child.exitCode === null) child.send({ kind: 'stop' } satisfies ToChild);
      await withTimeout(exited, 10_000, 'the web server process exit').catch(() => child.kill('SIGKILL'));
    },
  };
}

/** One open page: reads the stream, counts events and their bytes on the wire, and (for patches) keeps the state. */
class Page {
  events = 0;
  bytes = 0;
  /** Bytes of each event after the first full snapshot, in order. */
  readonly eventBytes: number[] = [];
  state: unknown = null;
  #res: IncomingMessage | null = null;
  #buffer = '';
  #pendingBytes = 0;
  #waiters = new Set<() => void>();

  static open(port: number, path: string): Promise<Page> {
    const page = new Page();
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`${path} answered ${res.statusCode}`));
          res.resume();
          return;
        }
        page.#res = res;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => page.#feed(chunk));
        resolve(page);
      });
      req.on('error', reject);
      req.end();
    });
  }

  waitForEvents(count: number): Promise<void> {
    if (this.events >= count) return Promise.resolve();
    return withTimeout(
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (this.events < count) return;
          this.#waiters.delete(check);
          resolve();
        };
        this.#waiters.add(check);
      }),
      30_000,
      `event ${count}`,
    );
  }

  close(): void {
    this.#res?.destroy();
  }

  #feed(chunk: string): void {
    this.#buffer += chunk;
    this.#pendingBytes += Buffer.byteLength(chunk);
    let end: number;
    while ((end = this.#buffer.indexOf('\n\n')) !== -1) {
      const block = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if ((event !== 'status' && event !== 'patch') || data === undefined) continue;
      // Bytes on the wire since the previous event (its framing included; the clock event and comments count with the first).
      const bytes = this.#pendingBytes - Buffer.byteLength(this.#buffer);
      this.#pendingBytes = Buffer.byteLength(this.#buffer);
      this.bytes += bytes;
      if (this.events > 0) this.eventBytes.push(bytes);
      this.events++;
      if (event === 'status') this.state = JSON.parse(data) as unknown;
      else this.state = applyJsonPatch(this.state, JSON.parse(data) as JsonPatchOperation[]);
    }
    for (const waiter of [...this.#waiters]) waiter();
  }
}

interface Mode {
  label: string;
  path: string;
}

const MODES: readonly Mode[] = [
  { label: 'full snapshot per change', path: '/api/events' },
  { label: 'patches', path: '/api/events?format=patch' },
];

async function measureMode(report: Reporter, mode: Mode, pages: readonly number[], changes: number, signal: AbortSignal): Promise<void> {
  const server = await startServer();
  try {
    report.note(`${mode.label} (${mode.path}); snapshot ${(server.snapshotBytes / 1000).toFixed(1)} KB`);
    let i = 0;
    const change = async (open: readonly Page[]): Promise<void> => {
      const target = open.map((p) => p.events + 1);
      await server.call({ kind: 'change', i: i++ }, 'changed');
      await Promise.all(open.map((p, k) => p.waitForEvents(target[k] ?? 0)));
    };
    for (const count of pages) {
      if (signal.aborted) return;
      const open: Page[] = [];
      try {
        for (let k = 0; k < count; k++) open.push(await Page.open(server.port, mode.path));
        await Promise.all(open.map((p) => p.waitForEvents(1)));
        for (let w = 0; w < 10; w++) await change(open); // warm-up
        const firstIndex = open[0]?.eventBytes.length ?? 0;
        const before = await server.call({ kind: 'cpu' }, 'cpu');
        for (let c = 0; c < changes && !signal.aborted; c++) await change(open);
        const after = await server.call({ kind: 'cpu' }, 'cpu');
        const perChange = (after.ms - before.ms) / changes;
        const sizes = open[0]?.eventBytes.slice(firstIndex) ?? [];
        if (count === pages[0]) {
          const byKind = new Map<string, number[]>();
          sizes.forEach((bytes, k) => {
            const kind = changeKind(10 + k); // the warm-up took indices 0–9
            byKind.set(kind, [...(byKind.get(kind) ?? []), bytes]);
          });
          report.figure(`${mode.label}: bytes per event, all changes`, 'B', sizes);
          for (const [kind, values] of byKind) report.figure(`${mode.label}: bytes per event, ${kind}`, 'B', values);
          const total = sizes.reduce((a, b) => a + b, 0);
          report.figure(`${mode.label}: bytes per page per minute (1 change/s)`, 'KB', [(total / sizes.length) * 60 / 1000]);
        }
        report.figure(`${mode.label}: agent CPU per change, ${count} page${count === 1 ? '' : 's'} open`, 'ms', [perChange], `mean over ${changes} changes`);
        // Every page must hold what a fresh load shows.
        const fresh = JSON.parse((await server.call({ kind: 'snapshot' }, 'snapshot')).json) as WebSnapshot;
        const wrong = open.filter((p) => JSON.stringify(p.state) !== JSON.stringify(fresh)).length;
        if (wrong > 0) throw new Error(`${wrong} of ${open.length} pages differ from a fresh snapshot`);
      } finally {
        for (const p of open) p.close();
      }
    }
    // The baseline: the same changes with nobody watching.
    const before = await server.call({ kind: 'cpu' }, 'cpu');
    for (let c = 0; c < changes && !signal.aborted; c++) await server.call({ kind: 'change', i: i++ }, 'changed');
    const after = await server.call({ kind: 'cpu' }, 'cpu');
    report.figure(`${mode.label}: agent CPU per change, no page open (baseline)`, 'ms', [(after.ms - before.ms) / changes]);
  } finally {
    await server.stop();
  }
}

/** What the page does with one event: parse a full snapshot, or parse a patch and apply it. */
function measureClient(report: Reporter, quick: boolean): void {
  const now = Date.now();
  const store = realisticStore(now);
  const fullText = JSON.stringify(store.snapshot());
  const state = JSON.parse(fullText) as unknown;
  const patchText = JSON.stringify([
    { op: 'replace', path: '/current/done', value: 2 },
    { op: 'replace', path: '/current/tokensPerSecond', value: 21.1 },
  ]);
  const rate = quick ? { reps: 3, repMs: 100, warmupMs: 50 } : { reps: 5, repMs: 250, warmupMs: 200 };
  const full = summarize(measureRate(() => void JSON.parse(fullText), rate));
  report.figure('page side: JSON.parse of a full snapshot', 'ms', { ...full, median: 1000 / full.median, min: 1000 / full.max, max: 1000 / full.min });
  const patch = summarize(measureRate(() => void applyJsonPatch(state, JSON.parse(patchText) as JsonPatchOperation[]), rate));
  report.figure('page side: parse + apply a progress patch', 'ms', { ...patch, median: 1000 / patch.median, min: 1000 / patch.max, max: 1000 / patch.min });
}

export const webEventsBenchmark: Benchmark = {
  name: 'web-events',
  title: "the local web page's live events: bytes and agent CPU per change",
  async run(options, report): Promise<void> {
    const changes = options.quick ? 40 : 200;
    const pages = [1, 4, 16];
    report.method(
      'a LocalWebServer over a WebStatusStore in a realistic state (working, an hour of telemetry = 360 samples, 100 log lines) in a child process; ' +
        'pages are HTTP stream readers in the benchmark process, each on its own connection',
    );
    report.method(
      `${changes} changes per case, each like one second of a working box (shard progress; every 5th also a log line, every 10th also a telemetry sample), ` +
        'sent one at a time: the next change starts once every page has its event (coalescing off, so one change = one event)',
    );
    report.method(
      'bytes = what a page reads per event, SSE framing included; CPU = user + system time of the server process per change (process.cpuUsage over the changes, divided by their number), ' +
        'which includes the IPC message that triggers the change (see the baseline with no page open); after each case every page is checked against a fresh snapshot',
    );
    for (const mode of MODES) {
      if (options.signal.aborted) return;
      await measureMode(report, mode, pages, changes, options.signal);
    }
    measureClient(report, options.quick);
  },
};

if (process.argv.includes(CHILD_FLAG)) await serve();
