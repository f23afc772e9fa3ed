import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { ModelRef } from '@meshchain/protocol';
import type { Logger } from 'pino';
import type { Db } from '../store/db.ts';
import { ModelFetchError } from '../errors.ts';

export interface ModelCacheOptions {
  dir: string;
  db: Db;
  budgetBytes: number;
  logger: Logger;
  /** An Authorization header value for model servers (the control plane takes the node's token). */
  authorization?: () => string;
}

/**
 * Models by sha256: fetched over HTTP, resumed from a partial file after an
 * interruption, verified against the hash before use, evicted least recently
 * used past the disk budget.
 */
export class ModelCache {
  readonly #o: ModelCacheOptions;
  readonly #inflight = new Map<string, Promise<string>>();

  constructor(options: ModelCacheOptions) {
    this.#o = options;
  }

  pathOf(sha256: string): string {
    return join(this.#o.dir, `${sha256}.gguf`);
  }

  /** sha256 of every verified model on disk. */
  cached(): string[] {
    return (this.#o.db.prepare('SELECT sha256 FROM models ORDER BY last_used DESC').all() as { sha256: string }[]).map((r) => r.sha256);
  }

  /** The local path of a verified copy of `ref`, fetching it if needed. Concurrent calls share one download. */
  ensure(ref: ModelRef, signal?: AbortSignal): Promise<string> {
    let pending = this.#inflight.get(ref.sha256);
    if (!pending) {
      pending = this.#ensure(ref, signal).finally(() => this.#inflight.delete(ref.sha256));
      this.#inflight.set(ref.sha256, pending);
    }
    return pending;
  }

  async #ensure(ref: ModelRef, signal?: AbortSignal): Promise<string> {
    const path = this.pathOf(ref.sha256);
    const known = this.#o.db.prepare('SELECT size FROM models WHERE sha256 = ?').get(ref.sha256) as { size: number } | undefined;
    const onDisk = await stat(path).catch(() => null);
    if (known && onDisk?.size === known.size) {
      this.#o.db.prepare('UPDATE models SET last_used = ? WHERE sha256 = ?').run(Date.now(), ref.sha256);
      return path;
    }
    await mkdir(this.#o.dir, { recursive: true });
    await this.#download(ref, signal);
    this.#o.db
      .prepare('INSERT INTO models (sha256, size, last_used) VALUES (?, ?, ?) ON CONFLICT (sha256) DO UPDATE SET size = excluded.size, last_used = excluded.last_used')
      .run(ref.sha256, ref.size, Date.now());
    await this.#evict(ref.sha256);
    return path;
  }

  async #download(ref: ModelRef, signal?: AbortSignal): Promise<void> {
    const { logger } = this.#o;
    const part = join(this.#o.dir, `${ref.sha256}.part`);
    let offset = (await stat(part).catch(() => null))?.size ?? 0;
    if (offset > ref.size) {
      await rm(part, { force: true });
      offset = 0;
    }
    const hash = createHash('sha256');
    if (offset > 0) {
      for await (const chunk of createReadStream(part)) hash.update(chunk as Buffer);
    }
    const started = Date.now();
    if (offset < ref.size) {
      let response: Response;
      try {
        const headers: Record<string, string> = {};
        if (offset > 0) headers.range = `bytes=${offset}-`;
        if (this.#o.authorization) headers.authorization = this.#o.authorization();
        response = await fetch(ref.url, { headers, ...(signal ? { signal } : {}) });
      } catch (cause) {
        throw new ModelFetchError(`cannot fetch model ${ref.sha256.slice(0, 12)}… from ${ref.url}`, { cause, details: String((cause as Error).cause ?? cause) });
      }
      if (response.status === 200 && offset > 0) {
        // The server ignored the range: start over.
        await response.body?.cancel();
        await rm(part, { force: true });
        return this.#download(ref, signal);
      }
      if (!(response.status === 200 || response.status === 206) || !response.body) {
        throw new ModelFetchError(`model server answered HTTP ${response.status} for ${ref.sha256.slice(0, 12)}…`, { details: ref.url });
      }
      logger.info({ sha256: ref.sha256, size: ref.size, resumeFrom: offset }, offset > 0 ? 'resuming model download' : 'downloading model');
      const limit = ref.size - offset;
      let received = 0;
      const body = Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
      body.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > limit) body.destroy(new ModelFetchError(`model ${ref.sha256.slice(0, 12)}… is larger than its declared ${ref.size} bytes`));
        else hash.update(chunk);
      });
      await pipeline(body, createWriteStream(part, { flags: offset > 0 ? 'a' : 'w' }));
    }
    const size = (await stat(part)).size;
    const digest = hash.digest('hex');
    if (size !== ref.size || digest !== ref.sha256) {
      await rm(part, { force: true });
      throw new ModelFetchError(`downloaded model does not match its hash`, {
        details: `expected ${ref.sha256} (${ref.size} bytes), got ${digest} (${size} bytes); the partial file was discarded`,
      });
    }
    await rename(part, this.pathOf(ref.sha256));
    logger.info({ sha256: ref.sha256, ms: Date.now() - started }, 'model verified');
  }

  async #evict(keep: string): Promise<void> {
    const rows = this.#o.db.prepare('SELECT sha256, size FROM models ORDER BY last_used ASC').all() as { sha256: string; size: number }[];
    let total = rows.reduce((sum, r) => sum + r.size, 0);
    for (const row of rows) {
      if (total <= this.#o.budgetBytes) break;
      if (row.sha256 === keep || this.#inflight.has(row.sha256)) continue;
      await rm(this.pathOf(row.sha256), { force: true });
      this.#o.db.prepare('DELETE FROM models WHERE sha256 = ?').run(row.sha256);
      total -= row.size;
      this.#o.logger.info({ sha256: row.sha256, size: row.size }, 'model evicted');
    }
  }
}
