/**
 * The page in real headless Chromium against a running server: loads, stays
 * live through state changes without reloading, refuses actions without the
 * password, and binds an owner once the password is set.
 */
import assert from 'node:assert/strict';
import { after, describe, it, type TestContext } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { diffJson } from '../../src/web/index.ts';
import { launchChromium } from './browser.ts';
import { NODE_ID, OWNER, ledOf, sampleSnapshot, telemetryHistory, workingShard } from './fixtures.ts';
import { PASSWORD, setPassword, startHarness, type Harness } from './harness.ts';
import { mutate, random, randomValue } from './random-json.ts';

// Launched by the first test that needs it; if Chromium is missing every test fails with how to install it.
let browser: Promise<Browser> | undefined;
after(async () => {
  await (await browser?.catch(() => undefined))?.close();
});

interface Opened {
  page: Page;
  /** Console errors, CSP violations and uncaught exceptions on the page. */
  problems: string[];
}

async function open(t: TestContext, h: Harness, viewport = { width: 1280, height: 800 }): Promise<Opened> {
  browser ??= launchChromium();
  const context = await (await browser).newContext({ viewport });
  t.after(() => context.close());
  context.setDefaultTimeout(10_000);
  // Counts the live events the page receives, by name (Playwright's init scripts run before the page's own, CSP aside).
  await context.addInitScript(`{
    const Native = window.EventSource;
    window.liveEvents = [];
    window.livePatches = [];
    window.EventSource = class extends Native {
      constructor(url, init) {
        super(url, init);
        window.liveEventsUrl = String(url);
        for (const name of ['status', 'patch']) this.addEventListener(name, () => window.liveEvents.push(name));
        this.addEventListener('patch', (e) => window.livePatches.push(...JSON.parse(e.data)));
      }
    };
  }`);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    // Refused requests (401, 409…) are logged by Chromium itself; the page shows them.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(message.text());
  });
  await page.goto(`${h.base}/`);
  return { page, problems };
}

const textOf = async (page: Page, selector: string) => (await page.textContent(selector))?.trim();

/**
 * Waits until the element's whole text is `text`. A locator, not
 * waitForFunction: the page's CSP forbids eval, which waitForFunction's
 * polling needs whenever the condition is not already true.
 */
function waitForText(page: Page, selector: string, text: string): Promise<void> {
  const exactly = new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
  return page.locator(selector).filter({ hasText: exactly }).first().waitFor();
}

describe('web page in headless Chromium', () => {
  it('loads from the server and shows idle → working → idle live, without reloading', async (t) => {
    const h = await startHarness(t, { snapshot: sampleSnapshot() });
    const { page, problems } = await open(t, h);
    await page.waitForSelector('#hero[data-state="idle"]');
    assert.equal(await textOf(page, '#state'), 'Idle');
    assert.equal(await textOf(page, '#node'), NODE_ID);
    assert.equal(await textOf(page, '#owner'), OWNER);
    assert.equal(await textOf(page, '#conn'), 'Connected for 3 h 12 min');
    assert.equal(await textOf(page, '#broker'), 'mqtts://mesh.example.net:8883');
    assert.match((await page.getAttribute('#s-cpu path:last-child', 'd')) ?? '', /^M[\d.]+ [\d.]+L/, 'the CPU chart is drawn');
    await page.waitForSelector('#live.on');
    await page.evaluate('window.notReloaded = true');

    h.store.update({ state: 'working', led: ledOf('working'), current: workingShard() });
    await page.waitForSelector('#hero[data-state="working"]');
    assert.equal(await textOf(page, '#state'), 'Working');
    assert.equal(await textOf(page, '#cur-count'), '5 of 8 inputs');
    assert.equal(await textOf(page, '#cur-speed'), '24.6 tokens/s');
    assert.equal(await textOf(page, '#cur-pct'), '63 %');
    // The LED mirror blinks the heartbeat: it goes on and off by itself.
    await page.waitForSelector('#led.on');
    await page.waitForSelector('#led:not(.on)');

    h.store.update({ state: 'idle', led: ledOf('idle'), current: null });
    await page.waitForSelector('#hero[data-state="idle"]');
    assert.equal(await page.isHidden('#cur'), true);
    assert.equal(await page.isVisible('#cur-none'), true);
    assert.equal(await page.evaluate('window.notReloaded'), true, 'no reload');
    assert.deepEqual(problems, []);
  });

  it('shows values that arrived only through patches, and holds exactly what a fresh load shows', async (t) => {
    const h = await startHarness(t, { snapshot: sampleSnapshot() });
    const { page, problems } = await open(t, h);
    await page.waitForSelector('#live.on');
    assert.match(String(await page.evaluate('window.liveEventsUrl')), /\/api\/events\?format=patch$/);

    h.store.update({ state: 'working', led: ledOf('working'), current: { ...workingShard(), done: 7, tokensPerSecond: 31.5 } });
    await waitForText(page, '#cur-count', '7 of 8 inputs');
    assert.equal(await textOf(page, '#cur-speed'), '31.5 tokens/s');
    h.store.log({ ts: Date.now(), level: 'warn', msg: 'only in a patch' });
    await waitForText(page, '#logs li:first-child span:last-child', 'only in a patch');
    // A telemetry sample slides the hour (remove /telemetry/history/0, add …/-) and a key goes away (remove /earnings).
    const { history } = h.store.snapshot().telemetry;
    const sample = telemetryHistory(Date.now() + 10_000, 1)[0];
    assert.ok(sample);
    h.store.update({ telemetry: { latest: sample, history: [...history.slice(1), sample] } });
    h.store.update({ earnings: undefined as unknown as null });
    h.store.update({ owner: null, work: { shards: 1285, tokens: 3_418_926, rejected: 3 } });
    await waitForText(page, '#w-shards', '1,285');
    assert.match((await textOf(page, '#owner')) ?? '', /Not claimed yet/);

    const events = (await page.evaluate('window.liveEvents')) as string[];
    assert.equal(events[0], 'status');
    assert.equal(events.filter((e) => e === 'status').length, 1, `one full snapshot, then patches: ${events.join(' ')}`);
    const ops = (await page.evaluate('window.livePatches')) as { op: string; path: string }[];
    const seen = new Set(ops.map((o) => `${o.op} ${o.path}`));
    for (const op of ['replace /current', 'remove /telemetry/history/0', 'add /telemetry/history/-', 'remove /earnings', 'replace /owner']) {
      assert.ok(seen.has(op), `the page applied ${op}; it got ${[...seen].join(', ')}`);
    }
    const held = JSON.parse((await page.evaluate('JSON.stringify(snap)')) as string) as unknown;
    assert.deepEqual(held, JSON.parse(JSON.stringify(h.store.snapshot())), 'what a fresh load shows');
    assert.deepEqual(problems, []);
  });

  it("the page's own patch apply agrees with the server's diff on 500 seeded random changes, and refuses bad ones", async (t) => {
    const h = await startHarness(t);
    const { page, problems } = await open(t, h);
    await page.waitForSelector('#live.on');
    const cases = Array.from({ length: 500 }, (_, i) => {
      const rnd = random(i + 1);
      const before = JSON.parse(JSON.stringify(randomValue(rnd, 4))) as unknown;
      const after = mutate(rnd, before, 4);
      return { before, ops: diffJson(before, after), after: JSON.parse(JSON.stringify(after)) as unknown };
    });
    // The page's applyPatch on each case's before and ops, in the page, parsed there as the page parses events.
    const results = (await page.evaluate(
      `JSON.parse(${JSON.stringify(JSON.stringify(cases))}).map((c) => JSON.stringify(applyPatch(c.before, c.ops)))`,
    )) as string[];
    results.forEach((result, i) => assert.deepEqual(JSON.parse(result), cases[i]?.after, `seed ${i + 1}`));
    const refused = (await page.evaluate(`[
      [{ op: 'remove', path: '/missing' }],
      [{ op: 'add', path: '/list/7', value: 1 }],
      [{ op: 'remove', path: '/list/-' }],
      [{ op: 'move', from: '/a', path: '/b' }],
      [{ op: 'add', path: 'a', value: 1 }],
      [{ op: 'add', path: '/a/b/c', value: 1 }],
    ].map((ops) => { try { applyPatch({ a: 1, list: [1, 2] }, ops); return 'applied'; } catch { return 'refused'; } })`)) as string[];
    assert.deepEqual(refused, Array(6).fill('refused'));
    assert.deepEqual(problems, []);
  });

  it('renders log lines as text, never as markup', async (t) => {
    const h = await startHarness(t, { snapshot: sampleSnapshot() });
    const { page, problems } = await open(t, h);
    await page.waitForSelector('#hero[data-state="idle"]');
    const evil = '<img src=x onerror="window.pwned=1"><b>bold</b>';
    h.store.log({ ts: Date.now(), level: 'error', msg: evil });
    await waitForText(page, '#logs li span:last-child', evil);
    assert.equal(await page.locator('#logs img, #logs b').count(), 0);
    assert.equal(await page.evaluate('window.pwned'), undefined);
    assert.deepEqual(problems, []);
  });

  it('refuses an action without the password, and says what to do', async (t) => {
    const h = await startHarness(t);
    const { page } = await open(t, h);
    await page.waitForSelector('#f-password:visible');
    await page.click('#f-identify button');
    await page.waitForSelector('#m-identify.err');
    assert.match((await textOf(page, '#m-identify')) ?? '', /Set a device password first/);

    // Once a password exists, a visitor who has not logged in is refused too.
    await setPassword(h);
    const other = await open(t, h);
    await other.page.waitForSelector('#f-login:visible');
    await other.page.fill('#i-owner', OWNER);
    await other.page.click('#f-bind button');
    await other.page.waitForSelector('#m-bind.err');
    assert.match((await textOf(other.page, '#m-bind')) ?? '', /Log in with the device password first/);

    await other.page.fill('#i-pw', 'not the password');
    await other.page.click('#f-login button');
    await other.page.waitForSelector('#m-auth.err');
    assert.match((await textOf(other.page, '#m-auth')) ?? '', /Wrong password/);
    assert.deepEqual(h.actions.calls, []);
  });

  it('sets the password on first visit, then binds an owner and shows it', async (t) => {
    const h = await startHarness(t);
    const { page, problems } = await open(t, h, { width: 390, height: 844 });
    await page.waitForSelector('#hero[data-state="unclaimed"]');
    assert.match((await textOf(page, '#owner')) ?? '', /Not claimed yet/);

    await page.fill('#i-new', PASSWORD);
    await page.fill('#i-new2', PASSWORD);
    await page.click('#f-password button');
    await page.waitForSelector('#m-auth.ok');
    await page.waitForSelector('#loggedin:visible');

    await page.fill('#i-owner', OWNER);
    await page.click('#f-bind button');
    await page.waitForSelector('#m-bind.ok');
    await waitForText(page, '#owner', OWNER);
    assert.deepEqual(h.actions.calls, [['bindOwner', OWNER]]);

    await page.fill('#i-owner', '0x1234');
    await page.click('#f-bind button');
    await page.waitForSelector('#m-bind.err');
    assert.match((await textOf(page, '#m-bind')) ?? '', /not a valid owner address/);
    assert.deepEqual(problems, []);
  });

  it('fits a 360 px wide phone screen without sideways scrolling', async (t) => {
    const h = await startHarness(t, { snapshot: sampleSnapshot({ state: 'working', led: ledOf('working'), current: workingShard() }) });
    const { page } = await open(t, h, { width: 360, height: 740 });
    await page.waitForSelector('#hero[data-state="working"]');
    const width = (await page.evaluate('document.documentElement.scrollWidth')) as number;
    assert.ok(width <= 360, `page is ${width} px wide`);
  });
});
