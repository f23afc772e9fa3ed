import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LED_PATTERNS } from '../../src/led/index.ts';
import {
  SlidingWindowLimiter,
  WebError,
  WebStatusStore,
  initialWebSnapshot,
  isAllowedHost,
  isSameOrigin,
} from '../../src/web/index.ts';
import { contentSecurityPolicy } from '../../src/web/page.ts';

describe('SlidingWindowLimiter', () => {
  it('allows `limit` hits per window and says when the next one is allowed', () => {
    const limiter = new SlidingWindowLimiter({ limit: 3, windowMs: 1000 });
    for (const at of [0, 100, 200]) {
      assert.equal(limiter.check('a', at).allowed, true);
      limiter.hit('a', at);
    }
    assert.deepEqual(limiter.check('a', 300), { allowed: false, retryAt: 1000 });
    assert.deepEqual(limiter.check('b', 300), { allowed: true, remaining: 3 });
    assert.deepEqual(limiter.check('a', 1000), { allowed: true, remaining: 1 }, 'the oldest hit left the window');
    limiter.hit('a', 1000);
    assert.deepEqual(limiter.check('a', 1000), { allowed: false, retryAt: 1100 });
    limiter.reset('a');
    assert.equal(limiter.check('a', 1000).allowed, true);
  });

  it('forgets the least recently hit key past its size', () => {
    const limiter = new SlidingWindowLimiter({ limit: 1, windowMs: 1000 }, 2);
    limiter.hit('a', 0);
    limiter.hit('b', 0);
    limiter.hit('c', 0);
    assert.equal(limiter.size, 2);
    assert.equal(limiter.check('a', 0).allowed, true);
    assert.equal(limiter.check('c', 0).allowed, false);
  });

  it('refuses a bad limit', () => {
    assert.throws(() => new SlidingWindowLimiter({ limit: 0, windowMs: 1000 }), WebError);
    assert.throws(() => new SlidingWindowLimiter({ limit: 1, windowMs: Number.NaN }), WebError);
  });
});

describe('host and origin checks', () => {
  it('serves IPs, localhost, single labels, home suffixes and configured names only', () => {
    for (const host of ['192.168.1.20:8080', '[fe80::1]:8080', '[::1]', 'localhost:8080', 'meshnode', 'MeshNode-4F2A.local', 'box.lan', 'box.home.arpa.', 'pi.internal']) {
      assert.equal(isAllowedHost(host), true, host);
    }
    for (const host of [undefined, '', 'example.com', 'localhost.attacker.com', 'box.local.attacker.com']) {
      assert.equal(isAllowedHost(host), false, String(host));
    }
    assert.equal(isAllowedHost('mesh.example.org', ['mesh.example.org']), true);
    assert.equal(isAllowedHost('a.boxes.example.org', ['.boxes.example.org']), true);
    assert.equal(isAllowedHost('boxes.example.org.evil', ['.boxes.example.org']), false);
  });

  it('accepts a missing Origin or the same host, nothing else', () => {
    assert.equal(isSameOrigin(undefined, 'box.local'), true);
    assert.equal(isSameOrigin('http://box.local', 'box.local'), true);
    assert.equal(isSameOrigin('http://box.local:8080', 'BOX.local:8080'), true);
    assert.equal(isSameOrigin('http://box.local', 'box.local:80'), true);
    assert.equal(isSameOrigin('http://box.local:8081', 'box.local:8080'), false);
    assert.equal(isSameOrigin('http://evil.example', 'box.local'), false);
    assert.equal(isSameOrigin('null', 'box.local'), false);
    assert.equal(isSameOrigin('http://box.local', undefined), false);
  });
});

describe('page CSP', () => {
  it('hashes each inline script and style', () => {
    const csp = contentSecurityPolicy('<style>a{}</style><script>1</script><script>2</script>');
    assert.match(csp, /script-src 'sha256-[^']+' 'sha256-[^']+';/);
    assert.match(csp, /style-src 'sha256-[^']+';/);
  });
});

describe('WebStatusStore', () => {
  it('merges updates, bounds logs and tells subscribers', () => {
    const store = new WebStatusStore(initialWebSnapshot({ nodeId: 'nd1', agentVersion: '1.0.0', broker: 'mqtt://x' }), { maxLogs: 2 });
    assert.equal(store.snapshot().state, 'booting');
    assert.deepEqual(store.snapshot().led.pattern, LED_PATTERNS.booting);
    let calls = 0;
    const off = store.subscribe(() => calls++);
    const before = store.snapshot();
    store.update({ state: 'idle' });
    assert.notEqual(store.snapshot(), before, 'a new object per change, so readers can hold the old one');
    for (const msg of ['a', 'b', 'c']) store.log({ ts: 1, level: 'info', msg });
    assert.deepEqual(store.snapshot().logs.map((l) => l.msg), ['b', 'c']);
    off();
    store.update({ state: 'working' });
    assert.equal(calls, 4);
  });
});
