/**
 * Screenshots of the local web page for the docs, at phone (390×844) and
 * desktop (1280×800) sizes, from a real server fed a realistic snapshot (a
 * box running a shard, an hour of telemetry). Needs Debian's `chromium`.
 *
 *   npx tsx device-agent/scripts/screenshot-web.ts [--full-page] [outDir]   (default device-agent/docs)
 *
 * --full-page captures the whole scrolling page instead of one screen.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { LocalWebServer, WebStatusStore, type WebActions } from '../src/web/index.ts';
import { launchChromium } from '../test/web/browser.ts';
import { ledOf, sampleSnapshot, workingShard } from '../test/web/fixtures.ts';

const args = process.argv.slice(2);
const fullPage = args.includes('--full-page');
const outDir = resolve(args.find((a) => !a.startsWith('--')) ?? fileURLToPath(new URL('../docs', import.meta.url)));
const shots = [
  { file: 'web-page-phone.png', viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 },
  { file: 'web-page-desktop.png', viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 },
];

const now = Date.now();
const store = new WebStatusStore(
  sampleSnapshot(
    {
      state: 'working',
      led: ledOf('working'),
      current: workingShard(now),
      earnings: { units: 48_213, mcp: '12.84' },
    },
    now,
  ),
);
const actions: WebActions = { bindOwner: async () => {}, identify: async () => {}, restart: async () => {} };
const dir = await mkdtemp(join(tmpdir(), 'meshnode-shot-'));
const server = new LocalWebServer({
  host: '127.0.0.1',
  port: 0,
  source: store,
  actions,
  passwordFile: join(dir, 'web-password.json'),
  password: 'screenshot password',
});
let browser: Browser | undefined;
try {
  await server.start();
  browser = await launchChromium();
  for (const shot of shots) {
    const context = await browser.newContext({ viewport: shot.viewport, deviceScaleFactor: shot.deviceScaleFactor, colorScheme: 'light' });
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${server.port}/`);
    await page.waitForSelector('#hero[data-state="working"]');
    await page.waitForSelector('#live.on');
    await page.waitForSelector('#f-login:visible');
    await page.waitForSelector('#led.on'); // catch the LED mirror lit
    const path = join(outDir, shot.file);
    await page.screenshot({ path, animations: 'disabled', fullPage });
    console.log(`wrote ${path} (${shot.viewport.width}×${shot.viewport.height})`);
    await context.close();
  }
} finally {
  await browser?.close();
  await server.stop();
  await rm(dir, { recursive: true, force: true });
}
