import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { PASSWORD, request, startHarness } from './harness.ts';
import { SseClient } from './sse-client.ts';
import type { WebSnapshot } from '../../src/web/index.ts';
import { workingShard } from './fixtures.ts';

describe('web API: reading', () => {
  it('GET /api/status returns the snapshot as JSON, plain or gzipped', async (t) => {
    const h = await startHarness(t);
    const plain = await request(h, '/api/status');
    assert.equal(plain.status, 200);
    assert.match(String(plain.headers['content-type']), /^application\/json/);
    assert.equal(plain.headers['cache-control'], 'no-store');
    assert.deepEqual(plain.json(), JSON.parse(JSON.stringify(h.store.snapshot())));

    const zipped = await request(h, '/api/status', { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(zipped.headers['content-encoding'], 'gzip');
    assert.ok(Number(zipped.headers['content-length']) < plain.text.length / 3, 'gzip shrinks the hour of telemetry');

    h.store.update({ state: 'working', current: workingShard() });
    const after = (await request(h, '/api/status')).json() as WebSnapshot;
    assert.equal(after.state, 'working', 'a change is visible at once');
    assert.equal(after.current?.done, 5);
  });

  it('gzipped status decodes to the same snapshot', async (t) => {
    const h = await startHarness(t);
    const { request: raw } = await import('node:http');
    const body = await new Promise<Buffer>((resolve, reject) => {
      raw({ host: '127.0.0.1', port: h.port, path: '/api/status', headers: { 'accept-encoding': 'gzip' }, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks)));
      })
        .on('error', reject)
        .end();
    });
    assert.deepEqual(JSON.parse(gunzipSync(body).toString('utf8')), JSON.parse(JSON.stringify(h.store.snapshot())));
  });

  it('GET / serves the page with a strict CSP, and 304 for a cached copy', async (t) => {
    const h = await startHarness(t);
    const page = await request(h, '/');
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(page.text, /<title>MeshNode<\/title>/);
    assert.doesNotMatch(page.text, /https?:\/\/(?!www\.w3\.org)/, 'no external assets');
    const csp = String(page.headers['content-security-policy']);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'sha256-[A-Za-z0-9+/=]+'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    const etag = String(page.headers.etag);
    const again = await request(h, '/', { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
    assert.equal(again.text, '');
  });

  it('answers unknown paths with 404 and wrong methods with 405, as JSON errors', async (t) => {
    const h = await startHarness(t);
    const missing = await request(h, '/nope');
    assert.equal(missing.status, 404);
    assert.equal(missing.errorCode, 'not-found');
    const wrong = await request(h, '/api/status', { method: 'DELETE' });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.errorCode, 'method-not-allowed');
    assert.equal(wrong.headers.allow, 'GET, HEAD');
    const proto = await request(h, '/__proto__');
    assert.equal(proto.status, 404);
  });

  it('serves only home-network host names (DNS rebinding)', async (t) => {
    const h = await startHarness(t, { allowedHosts: ['mesh.example.org'] });
    for (const host of ['127.0.0.1:8080', 'meshnode-4f2a.local', 'meshnode', '[::1]:8080', 'box.home.arpa', 'mesh.example.org']) {
      const ok = await request(h, '/api/status', { headers: { host } });
      assert.equal(ok.status, 200, host);
    }
    const evil = await request(h, '/api/status', { headers: { host: 'rebind.attacker.example' } });
    assert.equal(evil.status, 403);
    assert.equal(evil.errorCode, 'host-not-allowed');
    const set = await request(h, '/api/password', { headers: { host: 'rebind.attacker.example' }, body: { password: PASSWORD } });
    assert.equal(set.status, 403, 'a rebinding site cannot set the first-visit password');
  });

  it('answers 300 parallel GET /api/status', async (t) => {
    const h = await startHarness(t);
    const replies = await Promise.all(Array.from({ length: 300 }, () => request(h, '/api/status')));
    assert.equal(replies.filter((r) => r.status === 200).length, 300);
    assert.ok(replies.every((r) => (JSON.parse(r.text) as WebSnapshot).nodeId === h.store.snapshot().nodeId));
  });
});

/** Opens and closes an event stream; true if it was accepted. */
async function tryEvents(port: number, localAddress: string): Promise<boolean> {
  const client = await SseClient.open(port, { localAddress });
  client.close();
  return client.status === 200;
}

async function waitUntil(test: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('web API: live events', () => {
  it('sends the snapshot on connect and a change as it happens', async (t) => {
    const h = await startHarness(t);
    const sse = await SseClient.open(h.port);
    t.after(() => sse.close());
    assert.equal(sse.status, 200);
    await sse.waitFor((c) => c.statuses().length === 1);
    assert.ok(sse.events.some((e) => e.event === 'clock'), 'the box clock comes first');
    assert.equal(sse.statuses<WebSnapshot>()[0]?.state, 'unclaimed');

    h.store.update({ state: 'working', current: workingShard() });
    await sse.waitFor((c) => c.statuses<WebSnapshot>().some((s) => s.state === 'working'));
    const last = sse.statuses<WebSnapshot>().at(-1);
    assert.equal(last?.current?.shardId, 'sh_8b41d0');
  });

  it('coalesces a burst of changes into one event carrying the last state', async (t) => {
    const h = await startHarness(t);
    const sse = await SseClient.open(h.port);
    t.after(() => sse.close());
    await sse.waitFor((c) => c.statuses().length === 1);
    for (let done = 0; done <= 100; done++) h.store.update({ current: { ...workingShard(), inputs: 100, done } });
    await sse.waitFor((c) => c.statuses<WebSnapshot>().some((s) => s.current?.done === 100));
    assert.equal(sse.statuses().length, 2, '101 changes in one tick make one event');
  });

  it('sends heartbeat comments', async (t) => {
    const h = await startHarness(t, { limits: { heartbeatMs: 20 } });
    const sse = await SseClient.open(h.port);
    t.after(() => sse.close());
    await sse.waitFor((c) => c.comments >= 2);
  });

  it('bounds the number of event clients, per address and in all', async (t) => {
    const h = await startHarness(t, { limits: { maxEventClients: 3, maxEventClientsPerIp: 2 } });
    const clients: SseClient[] = [];
    t.after(() => clients.forEach((c) => c.close()));
    for (let i = 0; i < 2; i++) clients.push(await SseClient.open(h.port));
    const third = await request(h, '/api/events');
    assert.equal(third.status, 503);
    assert.equal(third.errorCode, 'too-many-clients');
    assert.match(third.errorMessage ?? '', /your device/);
    // another address still gets one, until the total is reached
    const other = await SseClient.open(h.port, { localAddress: '127.0.0.2' });
    clients.push(other);
    assert.equal(other.status, 200);
    const full = await request(h, '/api/events', { localAddress: '127.0.0.3' });
    assert.equal(full.status, 503);
    assert.match(full.errorMessage ?? '', /on this box/);
    // a closed stream frees its place
    clients[0]?.close();
    await waitUntil(async () => (await request(h, '/api/status')).status === 200 && (await tryEvents(h.port, '127.0.0.3')));
  });

  it('ends the streams on stop', async (t) => {
    const h = await startHarness(t);
    const sse = await SseClient.open(h.port);
    t.after(() => sse.close());
    await sse.waitFor((c) => c.statuses().length === 1);
    await h.server.stop();
    await sse.waitFor((c) => c.ended);
  });
});
