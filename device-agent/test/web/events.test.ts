/**
 * The live event stream in the page's format (`?format=patch`): a full
 * snapshot first, then JSON Patches, coalesced. The coalescing timer runs on
 * a scheduler the test drives by hand, so event counts are exact.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { FULL_DIFF_EVERY, type EventScheduler, type WebSnapshot } from '../../src/web/index.ts';
import { ledOf, telemetryHistory, workingShard } from './fixtures.ts';
import { request, startHarness, type Harness } from './harness.ts';
import { SseClient } from './sse-client.ts';

/** Timers that fire only when the test advances the clock. */
class ManualScheduler implements EventScheduler {
  t = 0;
  #timers: { due: number; run: () => void; seq: number }[] = [];
  #seq = 0;
  now = (): number => this.t;
  setTimeout = (run: () => void, ms: number): unknown => {
    const timer = { due: this.t + ms, run, seq: this.#seq++ };
    this.#timers.push(timer);
    return timer;
  };
  clearTimeout = (handle: unknown): void => {
    this.#timers = this.#timers.filter((t) => t !== handle);
  };
  /** Moves the clock on and runs every timer that is due, in order. */
  advance(ms: number): void {
    this.t += ms;
    for (;;) {
      const due = this.#timers.filter((t) => t.due <= this.t).sort((a, b) => a.due - b.due || a.seq - b.seq)[0];
      if (!due) return;
      this.#timers = this.#timers.filter((t) => t !== due);
      due.run();
    }
  }
}

const INTERVAL = 250;

async function startScheduled(t: Parameters<typeof startHarness>[0]): Promise<{ h: Harness; clock: ManualScheduler }> {
  const clock = new ManualScheduler();
  const h = await startHarness(t, { eventScheduler: clock, limits: { eventMinIntervalMs: INTERVAL, maxEventClientsPerIp: 16 } });
  return { h, clock };
}

const fresh = (h: Harness): unknown => JSON.parse(JSON.stringify(h.store.snapshot()));

/** Waits until the client holds what a fresh load shows. */
async function inStep(h: Harness, client: SseClient): Promise<void> {
  const expected = fresh(h);
  try {
    await client.waitFor((c) => c.patchError !== null || isDeepStrictEqual(c.state, expected), 5000);
  } catch {
    // fall through: the assertion below says how they differ
  }
  assert.equal(client.patchError, null);
  assert.deepEqual(client.state, fresh(h));
}

describe('web API: live events as patches', () => {
  it('a client applying the events holds exactly a fresh snapshot after varied changes', async (t) => {
    const { h, clock } = await startScheduled(t);
    const sse = await SseClient.openPatches(h.port);
    t.after(() => sse.close());
    assert.equal(sse.status, 200);
    await sse.waitFor((c) => c.count('status') === 1);
    assert.ok(sse.events[0]?.event === 'clock', 'the box clock comes first');
    assert.deepEqual(sse.state, fresh(h));

    const now = 1_800_000_000_000;
    const history = h.store.snapshot().telemetry.history;
    const next = telemetryHistory(now + 3_600_000, 1)[0];
    assert.ok(next);
    const steps: [string, () => void][] = [
      ['null → object, a string changes', () => h.store.update({ state: 'working', led: ledOf('working'), current: workingShard(now) })],
      ['a nested number changes', () => h.store.update({ current: { ...workingShard(now), done: 6, tokensPerSecond: null } })],
      ['object → null, a value → null', () => h.store.update({ current: null, owner: null, connectivity: { connected: false, broker: 'mqtts://b', since: null } })],
      ['null → object with a null inside', () => h.store.update({ earnings: { units: 12, mcp: null } })],
      ['a key goes away', () => h.store.update({ earnings: undefined as unknown as null })],
      ['the key comes back', () => h.store.update({ earnings: { units: 13, mcp: '1000000000000000000001' } })],
      ['one log line', () => h.store.log({ ts: now, level: 'warn', msg: 'a / path ~ with "quotes" and ünïcode' })],
      ['a telemetry sample slides the window', () => h.store.update({ telemetry: { latest: next, history: [...history.slice(1), next] } })],
      ['the history shrinks', () => h.store.update({ telemetry: { latest: next, history: history.slice(-10) } })],
      ['a history item is edited', () => {
        const short = h.store.snapshot().telemetry.history;
        const first = short[0];
        assert.ok(first);
        h.store.update({ telemetry: { latest: next, history: [{ ...first, gpu: { name: 'Jetson', utilizationPercent: null, temperatureC: 51, memoryUsedBytes: null, memoryTotalBytes: null } }, ...short.slice(1)] } });
      }],
      ['the history empties', () => h.store.update({ telemetry: { latest: null, history: [] } })],
      ['the LED pattern gets shorter', () => h.store.update({ state: 'booting', led: ledOf('booting') })],
      ['the update fails, with detail', () => h.store.update({ update: { status: 'failed', version: '0.2.0', detail: 'hash mismatch' } })],
      ['several changes at once', () => {
        for (let i = 0; i < 120; i++) h.store.log({ ts: now + i, level: 'info', msg: `line ${i}` }); // past the 100 kept
        h.store.update({ owner: '0x52908400098527886E0F7030069857D2E4169EE7', work: { shards: 1, tokens: 2, rejected: 0 } });
      }],
      ['nothing really changes', () => h.store.update({ work: { shards: 1, tokens: 2, rejected: 0 } })],
    ];
    for (const [name, change] of steps) {
      const before = sse.events.length;
      change();
      clock.advance(INTERVAL);
      await t.test(name, () => inStep(h, sse));
      assert.ok(sse.events.slice(before).every((e) => e.event === 'patch'), `${name}: only patches after the first snapshot`);
    }
    assert.equal(sse.count('status'), 1, 'one full snapshot in all');
    const sizes = sse.events.filter((e) => e.event === 'patch').map((e) => e.data.length);
    const full = sse.events.find((e) => e.event === 'status')?.data.length ?? 0;
    assert.ok(sizes.every((s) => s < full / 4), `patches of ${sizes.join(', ')} bytes where the snapshot is ${full}`);
  });

  it('a burst of changes yields at most one event per interval', async (t) => {
    const { h, clock } = await startScheduled(t);
    const patches = await SseClient.openPatches(h.port);
    const full = await SseClient.open(h.port);
    t.after(() => [patches, full].forEach((c) => c.close()));
    await patches.waitFor((c) => c.count('status') === 1);
    await full.waitFor((c) => c.count('status') === 1);

    // 1,000 changes over one second of the scheduler's clock, one every millisecond.
    for (let done = 0; done < 1000; done++) {
      h.store.update({ current: { ...workingShard(), inputs: 1000, done } });
      clock.advance(1);
    }
    clock.advance(INTERVAL); // the last coalesced event
    await inStep(h, patches);
    await full.waitFor((c) => (c.statuses<WebSnapshot>().at(-1)?.current?.done ?? -1) === 999);
    // The first change goes out at once, then one event per 250 ms: at 1, 251, 501, 751 and 1001 ms.
    assert.equal(patches.count('patch'), 5);
    // A full client gets at most as many; fewer when its socket was full and it skipped to the latest.
    assert.ok(full.count('status') <= 1 + 5, `${full.count('status')} status events`);
    assert.ok(patches.count('patch') <= Math.ceil(1000 / INTERVAL) + 1);

    // Quiet again: nothing more is sent, however long it waits.
    clock.advance(10 * INTERVAL);
    assert.equal((await request(h, '/api/status')).status, 200);
    assert.equal(patches.count('patch'), 5);
  });

  it('a client that reconnects gets a full snapshot first, whatever Last-Event-ID it sends', async (t) => {
    const { h, clock } = await startScheduled(t);
    const first = await SseClient.openPatches(h.port);
    await first.waitFor((c) => c.count('status') === 1);
    h.store.update({ state: 'working', current: workingShard() });
    clock.advance(INTERVAL);
    await inStep(h, first);
    assert.equal(first.count('patch'), 1);
    first.close();

    h.store.update({ current: { ...workingShard(), done: 7 } });
    h.store.log({ ts: 1, level: 'info', msg: 'while away' });
    clock.advance(INTERVAL);
    for (const headers of [{}, { 'last-event-id': '3' }, { 'last-event-id': 'garbage' }] as Record<string, string>[]) {
      const again = await SseClient.openPatches(h.port, { headers });
      t.after(() => again.close());
      await again.waitFor((c) => c.count('status') === 1);
      assert.deepEqual(
        again.events.map((e) => e.event),
        ['clock', 'status'],
        `${JSON.stringify(headers)}: the full snapshot first`,
      );
      assert.deepEqual(again.state, fresh(h));
      again.close();
    }
  });

  it('a client that joins while a change is pending catches up with the others', async (t) => {
    const { h, clock } = await startScheduled(t);
    const early = await SseClient.openPatches(h.port);
    t.after(() => early.close());
    await early.waitFor((c) => c.count('status') === 1);
    h.store.update({ current: workingShard() });
    clock.advance(1); // sent at once
    await inStep(h, early);
    h.store.update({ current: { ...workingShard(), done: 7 } }); // pending: within 250 ms of the last event
    h.store.log({ ts: 2, level: 'info', msg: 'pending too' });

    const late = await SseClient.openPatches(h.port, { localAddress: '127.0.0.2' });
    t.after(() => late.close());
    await late.waitFor((c) => c.count('status') === 1);
    clock.advance(INTERVAL);
    await inStep(h, early);
    await inStep(h, late);
    assert.equal(late.count('status'), 1);
  });

  it('a client that fell behind gets a full snapshot when it drains, then patches again', async (t) => {
    const { h, clock } = await startScheduled(t);
    const slow = await SseClient.openPatches(h.port);
    t.after(() => slow.close());
    await slow.waitFor((c) => c.count('status') === 1);
    slow.response?.pause();
    // Large changes (a whole new hour of telemetry each) until far more is queued than sockets buffer.
    const start = 1_900_000_000_000;
    for (let i = 1; i <= 120; i++) {
      const history = telemetryHistory(start + i * 3_600_000);
      h.store.update({ telemetry: { latest: history.at(-1) ?? null, history } });
      clock.advance(INTERVAL);
    }
    slow.response?.resume();
    await inStep(h, slow);
    assert.ok(slow.count('patch') < 120, `events were skipped while it was blocked (${slow.count('patch')} patches)`);
    assert.equal(slow.count('status'), 2, 'one resynchronising snapshot');

    h.store.update({ owner: '0x52908400098527886E0F7030069857D2E4169EE7' });
    clock.advance(INTERVAL);
    await inStep(h, slow);
    assert.equal(slow.events.at(-1)?.event, 'patch', slow.events.map((e) => `${e.event}:${e.data.length}`).join(' '));
  });

  it('catches up with a change made in place within FULL_DIFF_EVERY events', async (t) => {
    const { h, clock } = await startScheduled(t);
    const sse = await SseClient.openPatches(h.port);
    t.after(() => sse.close());
    await sse.waitFor((c) => c.count('status') === 1);
    // Against the store's contract: the same object, changed in place, announced as a change.
    const work = h.store.snapshot().work;
    work.shards += 1000;
    h.store.update({ work });
    let events = 0;
    for (let i = 0; i < FULL_DIFF_EVERY && !isDeepStrictEqual(sse.state, fresh(h)); i++) {
      h.store.update({ current: { ...workingShard(), done: i % 8 } });
      clock.advance(INTERVAL);
      await sse.waitFor((c) => c.count('patch') > events);
      events = sse.count('patch');
    }
    await inStep(h, sse);
    assert.ok(events <= FULL_DIFF_EVERY, `${events} events`);
  });

  it('refuses a bad stream request with the same clear errors as before', async (t) => {
    const { h } = await startScheduled(t);
    const rebound = await request(h, '/api/events?format=patch', { headers: { host: 'rebind.attacker.example' } });
    assert.equal(rebound.status, 403);
    assert.equal(rebound.errorCode, 'host-not-allowed');
    assert.match(rebound.errorMessage ?? '', /does not answer to the name "rebind.attacker.example"/);
    const rebindFull = await request(h, '/api/events', { headers: { host: 'rebind.attacker.example' } });
    assert.equal(rebindFull.errorMessage, rebound.errorMessage, 'the same message with or without the format');

    const post = await request(h, '/api/events?format=patch', { body: {} });
    assert.equal(post.status, 405);
    assert.equal(post.errorCode, 'method-not-allowed');
    assert.equal(post.headers.allow, 'GET, HEAD');

    for (const format of ['json', 'PATCH', 'patch%00', '<script>']) {
      const bad = await request(h, `/api/events?format=${format}`);
      assert.equal(bad.status, 400, format);
      assert.equal(bad.errorCode, 'invalid-input');
      assert.match(bad.errorMessage ?? '', /Unknown event format ".*": use format=patch, or leave it out/);
      assert.match(String(bad.headers['content-type']), /^application\/json/, 'an error, not a stream');
    }
    const unknownParameter = await SseClient.open(h.port, { path: '/api/events?format=patch&x=1' });
    t.after(() => unknownParameter.close());
    assert.equal(unknownParameter.status, 200, 'other parameters are ignored');
  });

  it('counts patch clients in the same limits as full ones', async (t) => {
    const h = await startHarness(t, { limits: { maxEventClients: 3, maxEventClientsPerIp: 2 } });
    const clients = [await SseClient.openPatches(h.port), await SseClient.open(h.port)];
    t.after(() => clients.forEach((c) => c.close()));
    const third = await request(h, '/api/events?format=patch');
    assert.equal(third.status, 503);
    assert.equal(third.errorCode, 'too-many-clients');
    assert.match(third.errorMessage ?? '', /your device/);
  });
});
