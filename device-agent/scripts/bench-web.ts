/**
 * What the local web page costs the agent: CPU and RSS of a process that
 * plays the agent (a `WebStatusStore` updated like a working box: shard
 * progress every second, a telemetry sample every 10 s, a log line every
 * 5 s, an hour of history) with and without the server, with one page open
 * in headless Chromium, and under 300 requests/s. Also the event-loop delay
 * there, which is what the agent's link and job runner would feel.
 *
 *   npx tsx device-agent/scripts/bench-web.ts [--seconds 20]
 *
 * The agent process is a child; the load generator and Chromium run outside
 * it, so its figures are the server's alone. Not a test: figures vary with
 * the machine and its load.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { LocalWebServer, WebStatusStore } from '../src/web/index.ts';
import { loadPage } from '../src/web/page.ts';
import { ledOf, sampleSnapshot, telemetryHistory, workingShard } from '../test/web/fixtures.ts';

interface Mark {
  cpuPercent: number;
  rssMiB: number;
  heapMiB: number;
  eldP50: number;
  eldP99: number;
  eldMax: number;
}

type ToChild = { kind: 'start-server' } | { kind: 'mark' } | { kind: 'exit' };
type FromChild = { kind: 'ready' } | { kind: 'listening'; port: number } | { kind: 'mark'; mark: Mark; snapshotBytes: number };

// ---------------------------------------------------------------- the agent
async function child(): Promise<void> {
  const send = (message: FromChild) => process.send?.(message);
  const now = Date.now();
  const store = new WebStatusStore(
    sampleSnapshot({ state: 'working', led: ledOf('working'), current: { ...workingShard(now), inputs: 1000, done: 0 } }, now),
  );
  let done = 0;
  const progress = setInterval(() => {
    const current = store.snapshot().current;
    if (current) store.update({ current: { ...current, done: ++done % 1000, tokensPerSecond: 20 + (done % 7) } });
  }, 1000);
  const telemetry = setInterval(() => {
    const history = store.snapshot().telemetry.history;
    const next = telemetryHistory(Date.now(), 1)[0];
    if (next) store.update({ telemetry: { latest: next, history: [...history.slice(1), next] } });
  }, 10_000);
  const logs = setInterval(() => store.log({ ts: Date.now(), level: 'info', msg: `shard progress ${done}` }), 5000);

  const dir = await mkdtemp(join(tmpdir(), 'meshnode-bench-'));
  const server = new LocalWebServer({
    host: '127.0.0.1',
    port: 0,
    source: store,
    actions: { bindOwner: async () => {}, identify: async () => {}, restart: async () => {} },
    passwordFile: join(dir, 'web-password.json'),
    password: 'the bench password',
  });
  const eld = monitorEventLoopDelay({ resolution: 2 });
  eld.enable();
  let cpu = process.cpuUsage();
  let wall = performance.now();
  process.on('message', (message: ToChild) => {
    if (message.kind === 'start-server') {
      void server.start().then(() => send({ kind: 'listening', port: server.port }));
    } else if (message.kind === 'mark') {
      const used = process.cpuUsage(cpu);
      const elapsed = performance.now() - wall;
      // Collect first so RSS compares live memory, not GC timing (counted after the CPU figure).
      (globalThis as { gc?: () => void }).gc?.();
      const mem = process.memoryUsage();
      send({
        kind: 'mark',
        snapshotBytes: Buffer.byteLength(JSON.stringify(store.snapshot())),
        mark: {
          cpuPercent: ((used.user + used.system) / 1000 / elapsed) * 100,
          rssMiB: mem.rss / 2 ** 20,
          heapMiB: mem.heapUsed / 2 ** 20,
          eldP50: eld.percentile(50) / 1e6,
          eldP99: eld.percentile(99) / 1e6,
          eldMax: eld.max / 1e6,
        },
      });
      eld.reset();
      cpu = process.cpuUsage();
      wall = performance.now();
    } else {
      clearInterval(progress);
      clearInterval(telemetry);
      clearInterval(logs);
      void server
        .stop()
        .then(() => rm(dir, { recursive: true, force: true }))
        .then(() => process.exit(0));
    }
  });
  send({ kind: 'ready' });
}

// ---------------------------------------------------------------- the load
interface Load {
  sent: number;
  statuses: Map<number, number>;
  latencies: number[];
  bytes: number;
}

/** `rate` requests/s for `seconds`, paced every 10 ms, over keep-alive sockets. */
async function load(port: number, rate: number, seconds: number, make: () => { path: string; method?: string; headers?: Record<string, string>; body?: string }): Promise<Load> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const result: Load = { sent: 0, statuses: new Map(), latencies: [], bytes: 0 };
  const inFlight = new Set<Promise<void>>();
  const fire = () => {
    const spec = make();
    const started = performance.now();
    result.sent++;
    const p = new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port, agent, path: spec.path, method: spec.method ?? 'GET', headers: spec.headers }, (res) => {
        res.on('data', (chunk: Buffer) => (result.bytes += chunk.length));
        res.on('end', () => {
          result.statuses.set(res.statusCode ?? 0, (result.statuses.get(res.statusCode ?? 0) ?? 0) + 1);
          result.latencies.push(performance.now() - started);
          resolve();
        });
      });
      req.on('error', () => {
        result.statuses.set(-1, (result.statuses.get(-1) ?? 0) + 1);
        resolve();
      });
      req.end(spec.body);
    });
    inFlight.add(p);
    void p.then(() => inFlight.delete(p));
  };
  const perTick = rate / 100;
  let owed = 0;
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      // Catch up on ticks the timer missed, so the rate holds.
      const due = Math.floor(((performance.now() - started) / 1000) * rate) - result.sent;
      owed = Math.max(perTick, due);
      for (let i = 0; i < owed; i++) fire();
      if (performance.now() - started >= seconds * 1000) {
        clearInterval(timer);
        resolve();
      }
    }, 10);
  });
  await Promise.all(inFlight);
  agent.destroy();
  return result;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

// ---------------------------------------------------------------- the parent
async function parent(): Promise<void> {
  const argIndex = process.argv.indexOf('--seconds');
  const seconds = argIndex > 0 ? Number(process.argv[argIndex + 1]) : 20;
  const page = await loadPage();
  const agentProcess: ChildProcess = fork(fileURLToPath(import.meta.url), ['--child'], { execArgv: ['--import', 'tsx', '--expose-gc'] });
  const messages: FromChild[] = [];
  let wake: (() => void) | null = null;
  agentProcess.on('message', (m: FromChild) => {
    messages.push(m);
    wake?.();
  });
  const next = async <K extends FromChild['kind']>(kind: K): Promise<Extract<FromChild, { kind: K }>> => {
    for (;;) {
      const i = messages.findIndex((m) => m.kind === kind);
      if (i >= 0) return messages.splice(i, 1)[0] as Extract<FromChild, { kind: K }>;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  };
  const tell = (m: ToChild) => agentProcess.send(m);
  const idle = (s: number) => new Promise((resolve) => setTimeout(resolve, s * 1000));
  const rows: Array<{ phase: string; mark: Mark; extra?: string }> = [];
  const measure = async (phase: string, during: () => Promise<string | undefined>) => {
    tell({ kind: 'mark' });
    await next('mark');
    const extra = await during();
    tell({ kind: 'mark' });
    const { mark, snapshotBytes } = await next('mark');
    rows.push({ phase, mark, ...(extra ? { extra } : {}) });
    console.error(`${phase}: cpu ${mark.cpuPercent.toFixed(1)} %, rss ${mark.rssMiB.toFixed(1)} MiB (snapshot ${snapshotBytes} B) ${extra ?? ''}`);
    return snapshotBytes;
  };
  const describeLoad = (l: Load) =>
    `${l.sent} requests, ${[...l.statuses].map(([s, n]) => `${n}× ${s}`).join(', ')}, latency p50 ${percentile(l.latencies, 50).toFixed(1)} ms p99 ${percentile(l.latencies, 99).toFixed(1)} ms, ${(l.bytes / seconds / 1e6).toFixed(1)} MB/s`;

  let browser: Browser | undefined;
  try {
    await next('ready');
    await idle(2); // let start-up settle
    await measure('agent alone (no web server)', () => idle(seconds).then(() => undefined));
    tell({ kind: 'start-server' });
    const { port } = await next('listening');
    const base = `http://127.0.0.1:${port}`;
    await measure('web server, nobody watching', () => idle(seconds).then(() => undefined));

    // Imported here so the agent process does not load playwright-core.
    const { launchChromium } = await import('../test/web/browser.ts');
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const tab = await context.newPage();
    await tab.goto(`${base}/`);
    await tab.waitForSelector('#live.on');
    const snapshotBytes = await measure('one page open (live, 1 change/s)', () => idle(seconds).then(() => undefined));
    await context.close();
    await browser.close();
    browser = undefined;

    await measure('300 req/s GET /api/status', async () => describeLoad(await load(port, 300, seconds, () => ({ path: '/api/status' }))));
    await measure('300 req/s GET /api/status, gzip', async () =>
      describeLoad(await load(port, 300, seconds, () => ({ path: '/api/status', headers: { 'accept-encoding': 'gzip' } }))),
    );
    await measure('300 req/s GET / (the page, gzip)', async () =>
      describeLoad(await load(port, 300, seconds, () => ({ path: '/', headers: { 'accept-encoding': 'gzip' } }))),
    );
    await measure('300 req/s wrong passwords', async () =>
      describeLoad(
        await load(port, 300, seconds, () => ({
          path: '/api/session',
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ password: 'a wrong password' }),
        })),
      ),
    );

    const base0 = rows[0]?.mark;
    console.log(`\nMeasured on ${cpus().length}× ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ${seconds} s per phase.`);
    console.log(`Page: ${page.body.length} bytes (${page.gzipped.length} gzipped). Snapshot with an hour of telemetry: ${snapshotBytes} bytes.\n`);
    console.log('| phase | CPU (% of one core) | RSS MiB (after GC) | extra RSS MiB | JS heap MiB | event-loop delay p99 / max ms (2 ms timer) | load |');
    console.log('| --- | --- | --- | --- | --- | --- | --- |');
    for (const { phase, mark, extra } of rows) {
      const extraRss = base0 ? (mark.rssMiB - base0.rssMiB).toFixed(1) : '';
      console.log(`| ${phase} | ${mark.cpuPercent.toFixed(1)} | ${mark.rssMiB.toFixed(1)} | ${extraRss} | ${mark.heapMiB.toFixed(1)} | ${mark.eldP99.toFixed(1)} / ${mark.eldMax.toFixed(1)} | ${extra ?? ''} |`);
    }
  } finally {
    await browser?.close();
    tell({ kind: 'exit' });
    await new Promise((resolve) => agentProcess.once('exit', resolve));
  }
}

if (process.argv.includes('--child')) await child();
else await parent();
