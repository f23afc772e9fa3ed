/** A fake /sys/class/leds tree in a temp dir, removed when the test ends. */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { defer } from './defer.ts';

export interface FakeLedFiles {
  brightness?: string;
  maxBrightness?: string | null;
  trigger?: string | null;
}

export async function makeLedTree(t: TestContext, leds: Record<string, FakeLedFiles>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'meshnode-leds-'));
  defer(t, () => rm(root, { recursive: true, force: true }));
  for (const [name, files] of Object.entries(leds)) {
    const dir = join(root, name);
    await mkdir(dir);
    await writeFile(join(dir, 'brightness'), files.brightness ?? '0\n');
    if (files.maxBrightness !== null) await writeFile(join(dir, 'max_brightness'), files.maxBrightness ?? '1\n');
    if (files.trigger !== null) {
      await writeFile(join(dir, 'trigger'), files.trigger ?? 'none [mmc0] timer heartbeat default-on\n');
    }
  }
  return root;
}

export async function readLedFile(root: string, name: string, file: string): Promise<string> {
  return (await readFile(join(root, name, file), 'utf8')).trim();
}
