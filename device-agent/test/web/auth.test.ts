import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { WebError } from '../../src/web/index.ts';
import { OWNER } from './fixtures.ts';
import { PASSWORD, request, setPassword, startHarness } from './harness.ts';

const ACTIONS: Array<[string, unknown]> = [
  ['/api/actions/bind', { owner: OWNER }],
  ['/api/actions/identify', { seconds: 30 }],
  ['/api/actions/restart', {}],
];

describe('web API: password and sessions', () => {
  it('refuses every action while no password is set (401), and says to set one', async (t) => {
    const h = await startHarness(t);
    for (const [path, body] of ACTIONS) {
      const reply = await request(h, path, { body });
      assert.equal(reply.status, 401, path);
      assert.equal(reply.errorCode, 'password-not-set');
      assert.match(reply.errorMessage ?? '', /Set a device password first/);
    }
    assert.deepEqual(h.actions.calls, []);
    const session = (await request(h, '/api/session')).json();
    assert.deepEqual(session, { passwordSet: false, passwordSource: null, authenticated: false, expiresAt: null, now: h.clock.t });
  });

  it('sets the password on first visit only, stored as an scrypt hash with mode 0600', async (t) => {
    const h = await startHarness(t);
    const short = await request(h, '/api/password', { body: { password: 'short' } });
    assert.equal(short.status, 400);
    assert.match(short.errorMessage ?? '', /at least 10 characters/);

    const first = await request(h, '/api/password', { body: { password: PASSWORD } });
    assert.equal(first.status, 201);
    assert.match(String(first.headers['set-cookie']), /^meshnode_session=[\w-]{43}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=43200$/);

    const second = await request(h, '/api/password', { body: { password: 'another long password' } });
    assert.equal(second.status, 409);
    assert.equal(second.errorCode, 'password-already-set');

    const info = await stat(h.passwordFile);
    assert.equal(info.mode & 0o777, 0o600);
    const file = await readFile(h.passwordFile, 'utf8');
    assert.ok(!file.includes(PASSWORD), 'the password itself is never written');
    assert.equal((JSON.parse(file) as { kdf: string }).kdf, 'scrypt');
  });

  it('sets it once when two first visits race', async (t) => {
    const h = await startHarness(t);
    const replies = await Promise.all([
      request(h, '/api/password', { body: { password: 'first racer password' } }),
      request(h, '/api/password', { body: { password: 'second racer password' } }),
    ]);
    assert.deepEqual(replies.map((r) => r.status).sort(), [201, 409]);
  });

  it('refuses actions without a session and with a wrong password; allows them with either credential', async (t) => {
    const h = await startHarness(t);
    const cookie = await setPassword(h);

    const anonymous = await request(h, '/api/actions/identify', { body: { seconds: 5 } });
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.errorCode, 'unauthorized');
    assert.match(anonymous.errorMessage ?? '', /Log in/);

    const forged = await request(h, '/api/actions/identify', { body: { seconds: 5 }, cookie: 'meshnode_session=forged' });
    assert.equal(forged.status, 401);
    assert.match(forged.errorMessage ?? '', /expired/);

    const wrongBearer = await request(h, '/api/actions/identify', {
      body: { seconds: 5 },
      headers: { authorization: 'Bearer not the password' },
    });
    assert.equal(wrongBearer.status, 401);
    assert.equal(wrongBearer.errorCode, 'wrong-password');

    const wrongLogin = await request(h, '/api/session', { body: { password: 'not the password' } });
    assert.equal(wrongLogin.status, 401);
    assert.equal(wrongLogin.errorCode, 'wrong-password');
    assert.equal(wrongLogin.cookie, undefined);
    assert.deepEqual(h.actions.calls, []);

    const withSession = await request(h, '/api/actions/identify', { body: { seconds: 5 }, cookie });
    assert.equal(withSession.status, 200);
    const withBearer = await request(h, '/api/actions/identify', {
      body: { seconds: 6 },
      headers: { authorization: `Bearer ${PASSWORD}` },
    });
    assert.equal(withBearer.status, 200);
    assert.deepEqual(h.actions.calls, [['identify', 5], ['identify', 6]]);
  });

  it('logs in, reports the session, logs out', async (t) => {
    const h = await startHarness(t);
    await setPassword(h);
    const login = await request(h, '/api/session', { body: { password: PASSWORD } });
    assert.equal(login.status, 200);
    const cookie = login.cookie ?? '';
    const session = (await request(h, '/api/session', { cookie })).json() as { authenticated: boolean; expiresAt: number };
    assert.equal(session.authenticated, true);
    assert.equal(session.expiresAt, h.clock.t + 12 * 3600_000);

    const out = await request(h, '/api/session', { method: 'DELETE', cookie });
    assert.equal(out.status, 200);
    assert.match(String(out.headers['set-cookie']), /Max-Age=0/);
    const after = await request(h, '/api/actions/restart', { body: {}, cookie });
    assert.equal(after.status, 401, 'a logged-out token no longer works');
  });

  it('expires sessions', async (t) => {
    const h = await startHarness(t, { limits: { sessionTtlMs: 60_000 } });
    const cookie = await setPassword(h);
    assert.equal((await request(h, '/api/actions/restart', { body: {}, cookie })).status, 202);
    h.clock.advance(60_000);
    const late = await request(h, '/api/actions/restart', { body: {}, cookie });
    assert.equal(late.status, 401);
    assert.match(late.errorMessage ?? '', /expired/);
  });

  it('keeps the password across a restart of the server', async (t) => {
    const first = await startHarness(t);
    await setPassword(first);
    await first.server.stop();
    const second = await startHarness(t, { dir: first.dir });
    assert.equal((await request(second, '/api/password', { body: { password: 'a brand new password' } })).status, 409);
    assert.equal((await request(second, '/api/session', { body: { password: PASSWORD } })).status, 200);
  });

  it('takes a preset password from config, which the page cannot replace', async (t) => {
    const h = await startHarness(t, { password: 'from the config file' });
    const session = (await request(h, '/api/session')).json() as { passwordSet: boolean; passwordSource: string };
    assert.deepEqual([session.passwordSet, session.passwordSource], [true, 'config']);
    const set = await request(h, '/api/password', { body: { password: PASSWORD } });
    assert.equal(set.status, 409);
    assert.match(set.errorMessage ?? '', /agent config/);
    assert.equal((await request(h, '/api/session', { body: { password: 'from the config file' } })).status, 200);
  });

  it('refuses a too-short preset password at start', async (t) => {
    await assert.rejects(startHarness(t, { password: 'short' }), (error: unknown) => error instanceof WebError && error.code === 'invalid-input');
  });

  it('locks a damaged password file rather than treating it as unset', async (t) => {
    const first = await startHarness(t);
    await first.server.stop();
    await writeFile(first.passwordFile, '{ not json', { mode: 0o600 });
    const h = await startHarness(t, { dir: first.dir });
    const set = await request(h, '/api/password', { body: { password: PASSWORD } });
    assert.equal(set.status, 503);
    assert.equal(set.errorCode, 'password-file-damaged');
    const login = await request(h, '/api/session', { body: { password: PASSWORD } });
    assert.equal(login.status, 503);
    assert.match(login.errorMessage ?? '', /Delete it on the box/);
  });
});

describe('web API: actions', () => {
  it('binds an owner with a session, checksummed or lower-case; refuses bad addresses with 400', async (t) => {
    const h = await startHarness(t);
    const cookie = await setPassword(h);
    const ok = await request(h, '/api/actions/bind', { body: { owner: OWNER }, cookie });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json(), { ok: true, owner: OWNER });
    const lower = await request(h, '/api/actions/bind', { body: { owner: OWNER.toLowerCase() }, cookie });
    assert.equal(lower.status, 200);
    assert.deepEqual(h.actions.calls, [['bindOwner', OWNER], ['bindOwner', OWNER.toLowerCase()]]);
    assert.equal(h.store.snapshot().owner, OWNER.toLowerCase());

    const badChecksum = OWNER.replace('E0F', 'e0F');
    for (const owner of ['0x1234', 'not an address', badChecksum, `0x${'0'.repeat(40)}`, 42, null]) {
      const reply = await request(h, '/api/actions/bind', { body: { owner }, cookie });
      assert.equal(reply.status, 400, String(owner));
      assert.equal(reply.errorCode, 'invalid-input');
      assert.match(reply.errorMessage ?? '', /not a valid owner address/);
    }
    assert.equal(h.actions.calls.length, 2, 'bindOwner is never called with a bad address');
  });

  it('identifies for 1 to 600 whole seconds only', async (t) => {
    const h = await startHarness(t);
    const cookie = await setPassword(h);
    for (const seconds of [0, 601, -5, 1.5, '30', null]) {
      const reply = await request(h, '/api/actions/identify', { body: { seconds }, cookie });
      assert.equal(reply.status, 400, String(seconds));
      assert.match(reply.errorMessage ?? '', /1 to 600/);
    }
    for (const seconds of [1, 600]) {
      assert.equal((await request(h, '/api/actions/identify', { body: { seconds }, cookie })).status, 200);
    }
    assert.deepEqual(h.actions.calls, [['identify', 1], ['identify', 600]]);
  });

  it('restarts with 202', async (t) => {
    const h = await startHarness(t);
    const cookie = await setPassword(h);
    const reply = await request(h, '/api/actions/restart', { body: {}, cookie });
    assert.equal(reply.status, 202);
    assert.deepEqual(h.actions.calls, [['restart']]);
  });

  it('reports an action the agent refuses, with its status and message', async (t) => {
    const h = await startHarness(t);
    const cookie = await setPassword(h);
    h.actions.failWith = new WebError('The box is updating; restart it afterwards.', { code: 'unavailable', status: 409 });
    const refused = await request(h, '/api/actions/restart', { body: {}, cookie });
    assert.equal(refused.status, 409);
    assert.equal(refused.errorMessage, 'The box is updating; restart it afterwards.');

    h.actions.failWith = new Error('link down');
    const failed = await request(h, '/api/actions/identify', { body: { seconds: 3 }, cookie });
    assert.equal(failed.status, 500);
    assert.equal(failed.errorCode, 'action-failed');
    assert.equal(failed.errorMessage, 'Could not identify: link down');
  });

  it('gives up on an action the agent does not answer', async (t) => {
    const h = await startHarness(t, { limits: { actionTimeoutMs: 30 } });
    const cookie = await setPassword(h);
    h.actions.identify = () => new Promise(() => {});
    const reply = await request(h, '/api/actions/identify', { body: { seconds: 3 }, cookie });
    assert.equal(reply.status, 503);
    assert.match(reply.errorMessage ?? '', /did not answer/);
  });
});
