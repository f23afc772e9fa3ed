import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bindingBodySchema, type BindingBody } from '@meshchain/protocol';
import type { Logger } from 'pino';

/** `<dataDir>/binding.json`: the owner `meshnode bind` (or the web page) recorded; the running agent publishes it. */
export const BINDING_FILE = 'binding.json';
/** How often the running agent looks for a changed binding file (it also watches the directory). */
const BINDING_POLL_MS = 2_000;

/** The recorded binding, or null when there is none (or it is unreadable: the reason is thrown). */
export async function readBinding(dataDir: string): Promise<BindingBody | null> {
  let text: string;
  try {
    text = await readFile(join(dataDir, BINDING_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const parsed = bindingBodySchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`${BINDING_FILE} is not a valid binding: ${parsed.error.issues[0]?.message ?? 'bad format'}`);
  return parsed.data;
}

/** Records a binding atomically (write, then rename); `owner` must be a valid EVM address. */
export async function writeBinding(dataDir: string, owner: string, boundAt = Date.now()): Promise<BindingBody> {
  const body = bindingBodySchema.parse({ owner, boundAt });
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const tmp = join(dataDir, `${BINDING_FILE}.${process.pid}.tmp`);
  await writeFile(tmp, `${JSON.stringify({ version: 1, ...body }, null, 2)}\n`, { mode: 0o644 });
  await rename(tmp, join(dataDir, BINDING_FILE));
  return body;
}

export interface BindingPublisherOptions {
  dataDir: string;
  logger: Logger;
  /** Publishes the (retained) binding; rejects when the link is down. */
  publish: (binding: BindingBody) => Promise<void>;
  connected: () => boolean;
  /** The recorded owner changed (or was first read). */
  onOwner: (owner: string | null) => void;
}

/**
 * Keeps the control plane told of the recorded owner: publishes the binding
 * on every connect and whenever the file changes (watched, and polled as a
 * fallback where watching is unavailable).
 */
export class BindingPublisher {
  readonly #o: BindingPublisherOptions;
  #timer: NodeJS.Timeout | null = null;
  #watcher: FSWatcher | null = null;
  #published: string | null = null;
  #owner: string | null | undefined = undefined;
  #problem: string | null = null;

  constructor(options: BindingPublisherOptions) {
    this.#o = options;
  }

  start(): void {
    this.#timer = setInterval(() => void this.publish(false), BINDING_POLL_MS);
    this.#timer.unref();
    try {
      // `meshnode bind` renames the file into place: publish at once rather than at the next poll.
      this.#watcher = watch(this.#o.dataDir, (_event, file) => {
        if (file === BINDING_FILE) void this.publish(false);
      });
      this.#watcher.on('error', () => this.#watcher?.close());
    } catch {
      this.#watcher = null;
    }
    void this.publish(false);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#watcher?.close();
    this.#timer = null;
    this.#watcher = null;
  }

  /** Publishes the recorded binding when it changed, or on every connect (`always`). */
  async publish(always: boolean): Promise<void> {
    let binding: BindingBody | null;
    try {
      binding = await readBinding(this.#o.dataDir);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (reason !== this.#problem) this.#o.logger.warn({ reason }, 'binding file unreadable; run meshnode bind <0x…> again');
      this.#problem = reason;
      return;
    }
    this.#problem = null;
    const owner = binding?.owner ?? null;
    if (owner !== this.#owner) {
      this.#owner = owner;
      this.#o.onOwner(owner);
    }
    const key = binding ? `${binding.owner}@${binding.boundAt}` : null;
    if (!binding || !this.#o.connected() || (!always && key === this.#published)) return;
    try {
      await this.#o.publish(binding);
      if (key !== this.#published) this.#o.logger.info({ owner: binding.owner, boundAt: binding.boundAt }, 'binding published');
      this.#published = key;
    } catch (error) {
      this.#o.logger.warn({ err: error }, 'binding not sent; will retry');
    }
  }
}
