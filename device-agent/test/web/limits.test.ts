import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PASSWORD, request, setPassword, startHarness } from './harness.ts';

describe('web API: bad input', () => {
  it('answers malformed JSON and non-object bodies with 400', async (t) => {
    const h = await startHarness(t);
    const json = { 'content-type': 'application/json' };
    for (const body of ['{"password": ', '', '[1,2]', 'null', '"text"']) {
      const reply = await request(h, '/api/session', { body, headers: json });
      assert.equal(reply.status, 400, JSON.stringify(body));
      assert.equal(reply.errorCode, 'bad-json');
      assert.ok(reply.errorMessage, 'says what was wrong');
    }
  });

  it('answers an oversized body with 413, declared or chunked', async (t) => {
    const h = await startHarness(t);
    const big = { password: 'x'.repeat(20 * 1024) };
    const declared = await request(h, '/api/session', { body: big });
    assert.equal(declared.status, 413);
    assert.equal(declared.errorCode, 'payload-too-large');
    assert.match(declared.errorMessage ?? '', /16384 bytes/);
    const chunked = await request(h, '/api/session', { body: big, chunked: true });
    assert.equal(chunked.status, 413);
    assert.equal((await request(h, '/api/status')).status, 200, 'the server carries on');
  });

  it('answers a body that is not JSON with 415', async (t) => {
    const h = await startHarness(t);
    const form = await request(h, '/api/session', {
      body: `password=${encodeURIComponent(PASSWORD)}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(form.status, 415);
    assert.equal(form.errorCode, 'unsupported-media-type');
    const none = await request(h, '/api/actions/restart', { method: 'POST' });
    assert.equal(none.status, 415);
    const withCharset = await request(h, '/api/session', {
      body: JSON.stringify({ password: 'wrong password!' }),
      headers: { 'content-type': 'application/json; charset=utf-8' },
    });
    assert.equal(withCharset.status, 401, 'a charset parameter is fine');
  });

  it('refuses a state-changing request from another origin, even with a session', async (t) => {
    const h = await startHarness(t);
    const cookie = await setPassword(h);
    for (const origin of ['http://evil.example', 'null', `http://127.0.0.1:${h.port + 1}`, `ftp://127.0.0.1:${h.port}`]) {
      const reply = await request(h, '/api/actions/identify', { body: { seconds: 5 }, cookie, headers: { origin } });
      assert.equal(reply.status, 403, origin);
      assert.equal(reply.errorCode, 'forbidden-origin');
    }
    const same = await request(h, '/api/actions/identify', {
      body: { seconds: 5 },
      cookie,
      headers: { origin: `http://127.0.0.1:${h.port}` },
    });
    assert.equal(same.status, 200);
    const viaName = await request(h, '/api/actions/identify', {
      body: { seconds: 7 },
      cookie,
      headers: { origin: 'http://meshnode-4f2a.local:8080', host: 'meshnode-4f2a.local:8080' },
    });
    assert.equal(viaName.status, 200);
    assert.deepEqual(h.actions.calls, [['identify', 5], ['identify', 7]]);
  });
});

describe('web API: password rate limits', () => {
  it('locks a client out after 5 wrong passwords a minute, says when to retry, and lets it in after the window', async (t) => {
    const h = await startHarness(t);
    await setPassword(h);
    for (let i = 1; i <= 5; i++) {
      const reply = await request(h, '/api/session', { body: { password: `wrong password ${i}` } });
      assert.equal(reply.status, 401);
      h.clock.advance(1000);
    }
    const locked = await request(h, '/api/session', { body: { password: PASSWORD } });
    assert.equal(locked.status, 429, 'even the right password waits out the lockout');
    assert.equal(locked.errorCode, 'rate-limited');
    // the first failure was at t0, the window is 60 s, now is t0 + 5 s
    assert.match(locked.errorMessage ?? '', /Try again in 55 seconds/);
    assert.equal(locked.headers['retry-after'], '55');
    assert.equal((locked.json() as { error: { retryAt: number } }).error.retryAt, h.clock.t + 55_000);

    const flood = await Promise.all(
      Array.from({ length: 50 }, () => request(h, '/api/session', { body: { password: 'guess guess guess' } })),
    );
    assert.ok(flood.every((r) => r.status === 429), 'a flood is refused without hashing');
    const bearer = await request(h, '/api/actions/identify', {
      body: { seconds: 5 },
      headers: { authorization: `Bearer ${PASSWORD}` },
    });
    assert.equal(bearer.status, 429, 'the Bearer header shares the limit');

    const other = await request(h, '/api/session', { body: { password: PASSWORD }, localAddress: '127.0.0.2' });
    assert.equal(other.status, 200, 'another client is not locked out');

    h.clock.advance(55_000);
    const after = await request(h, '/api/session', { body: { password: PASSWORD } });
    assert.equal(after.status, 200, 'the window has passed');
  });

  it('counts down the tries left and resets them on success', async (t) => {
    const h = await startHarness(t);
    await setPassword(h);
    const first = await request(h, '/api/session', { body: { password: 'wrong password' } });
    assert.match(first.errorMessage ?? '', /4 more tries this minute/);
    assert.equal((await request(h, '/api/session', { body: { password: PASSWORD } })).status, 200);
    const again = await request(h, '/api/session', { body: { password: 'wrong password' } });
    assert.match(again.errorMessage ?? '', /4 more tries/);
  });

  it('limits password checks of all clients together', async (t) => {
    const h = await startHarness(t, { limits: { passwordChecksGlobal: { limit: 3, windowMs: 60_000 } } });
    await setPassword(h); // one check
    for (const address of ['127.0.0.2', '127.0.0.3']) {
      assert.equal((await request(h, '/api/session', { body: { password: 'wrong password' }, localAddress: address })).status, 401);
    }
    const blocked = await request(h, '/api/session', { body: { password: PASSWORD }, localAddress: '127.0.0.4' });
    assert.equal(blocked.status, 429);
    assert.match(blocked.errorMessage ?? '', /on this box/);
    h.clock.advance(60_000);
    assert.equal((await request(h, '/api/session', { body: { password: PASSWORD }, localAddress: '127.0.0.4' })).status, 200);
  });
});
