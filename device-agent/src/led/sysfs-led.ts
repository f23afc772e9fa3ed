/**
 * The Linux LED class: /sys/class/leds/<name>/{brightness,max_brightness,trigger}.
 * On open the kernel trigger (e.g. `mmc0` on a Raspberry Pi's ACT LED) is set
 * to `none` so the agent alone drives the LED; on close the trigger, or the
 * brightness when there was none, is put back.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LedBackend } from './backend.ts';
import { LedError, isSystemError } from './errors.ts';

export interface SysfsLedOptions {
  /** The LED's directory name, e.g. `ACT`, `led0`, `green:status`. */
  name: string;
  /** Where LED class devices live; default `/sys/class/leds`. Tests point it at a fake tree. */
  root?: string;
}

interface Saved {
  trigger: string | null;
  brightness: string;
}

export const DEFAULT_LEDS_ROOT = '/sys/class/leds';

/** The active trigger in a `trigger` file: the bracketed word, e.g. "none [mmc0] timer". */
export function activeTrigger(content: string): string | null {
  const bracketed = /\[([^\]]+)\]/.exec(content);
  if (bracketed?.[1]) return bracketed[1];
  const words = content.trim().split(/\s+/).filter(Boolean);
  return words.length === 1 ? (words[0] ?? null) : null;
}

export class SysfsLed implements LedBackend {
  readonly name: string;
  readonly #dir: string;
  readonly #root: string;
  #onValue = '1';
  #saved: Saved | null = null;

  constructor(options: SysfsLedOptions) {
    if (!options.name || options.name.includes('/') || options.name === '.' || options.name === '..') {
      throw new LedError('bad LED name', {
        code: 'invalid-config',
        details: `give the name of a directory under ${options.root ?? DEFAULT_LEDS_ROOT}, got "${options.name}"`,
      });
    }
    this.#root = options.root ?? DEFAULT_LEDS_ROOT;
    this.#dir = join(this.#root, options.name);
    this.name = `sysfs:${options.name}`;
  }

  async open(): Promise<void> {
    if (this.#saved) return;
    const brightness = await this.#read('brightness');
    if (brightness === null) throw await this.#notFound();
    const maxBrightness = (await this.#read('max_brightness'))?.trim();
    this.#onValue = maxBrightness && /^[1-9]\d*$/.test(maxBrightness) ? maxBrightness : '1';
    const triggerFile = await this.#read('trigger');
    const trigger = triggerFile === null ? null : activeTrigger(triggerFile);
    if (trigger !== null && trigger !== 'none') await this.#write('trigger', 'none');
    await this.#write('brightness', '0');
    this.#saved = { trigger, brightness: brightness.trim() };
  }

  async set(on: boolean): Promise<void> {
    if (!this.#saved) {
      throw new LedError(`LED "${this.name}" is not open`, { code: 'not-open', details: 'call open() first' });
    }
    await this.#write('brightness', on ? this.#onValue : '0');
  }

  async close(): Promise<void> {
    const saved = this.#saved;
    if (!saved) return;
    this.#saved = null;
    await this.#write('brightness', '0');
    if (saved.trigger !== null && saved.trigger !== 'none') await this.#write('trigger', saved.trigger);
    else await this.#write('brightness', saved.brightness);
  }

  /** The file's content, or null when it does not exist. */
  async #read(file: string): Promise<string | null> {
    try {
      return await readFile(join(this.#dir, file), 'utf8');
    } catch (error) {
      if (isSystemError(error, 'ENOENT') || isSystemError(error, 'ENOTDIR')) return null;
      throw this.#ioError(`read ${file}`, error);
    }
  }

  async #write(file: string, value: string): Promise<void> {
    try {
      await writeFile(join(this.#dir, file), value);
    } catch (error) {
      throw this.#ioError(`write ${file}`, error);
    }
  }

  #ioError(what: string, error: unknown): LedError {
    const path = this.#dir;
    if (isSystemError(error, 'EACCES') || isSystemError(error, 'EPERM')) {
      return new LedError(`no permission to ${what} of LED ${path}`, {
        code: 'permission-denied',
        details: 'run the agent as a user allowed to write the LED (a udev rule giving the group write access to brightness and trigger), or use the gpio or simulated LED',
        cause: error,
      });
    }
    return new LedError(`cannot ${what} of LED ${path}`, {
      code: 'io-failed',
      details: error instanceof Error ? error.message : String(error),
      cause: error,
    });
  }

  async #notFound(): Promise<LedError> {
    let available: string[] = [];
    try {
      available = (await readdir(this.#root)).sort();
    } catch {
      // The LED class itself is missing: say so below.
    }
    return new LedError(`LED ${this.#dir} does not exist`, {
      code: 'led-not-found',
      details:
        available.length > 0
          ? `LEDs on this box: ${available.join(', ')}; set the LED name to one of them`
          : `no LEDs under ${this.#root} on this box; use the gpio or simulated LED`,
    });
  }
}
