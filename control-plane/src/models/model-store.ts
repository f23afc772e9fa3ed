import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import type { Db } from '../store/db.ts';
import { InvalidRequestError, NotFoundError } from '../errors.ts';

export interface ModelInfo {
  sha256: string;
  size: number;
  name: string | null;
  path: string;
}

/** Model artifacts, content-addressed by sha256, on disk under `dir`. */
export class ModelStore {
  readonly #dir: string;
  readonly #db: Db;
  readonly #maxBytes: number;

  constructor(dir: string, db: Db, options: { maxBytes?: number } = {}) {
    this.#dir = dir;
    this.#db = db;
    this.#maxBytes = options.maxBytes ?? 64 * 1024 ** 3;
  }

  pathOf(sha256: string): string {
    return join(this.#dir, `${sha256}.gguf`);
  }

  find(sha256: string): ModelInfo | null {
    const row = this.#db.prepare('SELECT sha256, size, name FROM models WHERE sha256 = ?').get(sha256) as
      | { sha256: string; size: number; name: string | null }
      | undefined;
    return row ? { ...row, path: this.pathOf(row.sha256) } : null;
  }

  get(sha256: string): ModelInfo {
    const info = this.find(sha256);
    if (!info) throw new NotFoundError(`model ${sha256}`, { details: 'upload it with `meshchain submit infer --model <file>`' });
    return info;
  }

  /**
   * Streams a model into the store while hashing it. The artifact becomes
   * visible only after its hash matches `expectedSha256` (when given): a
   * partial or corrupt upload never lands under a hash.
   */
  async put(body: Readable, options: { expectedSha256?: string; name?: string } = {}, now = Date.now()): Promise<ModelInfo> {
    await mkdir(this.#dir, { recursive: true });
    const temp = join(this.#dir, `.upload-${randomBytes(6).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    const maxBytes = this.#maxBytes;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, callback) {
        size += chunk.length;
        if (size > maxBytes) return callback(new InvalidRequestError(`model exceeds ${maxBytes} bytes`));
        hash.update(chunk);
        callback(null, chunk);
      },
    });
    try {
      await pipeline(body, meter, createWriteStream(temp, { mode: 0o644 }));
      const sha256 = hash.digest('hex');
      if (options.expectedSha256 && sha256 !== options.expectedSha256) {
        throw new InvalidRequestError(`uploaded bytes hash to ${sha256}, not ${options.expectedSha256}`);
      }
      if (size === 0) throw new InvalidRequestError('model upload is empty');
      await rename(temp, this.pathOf(sha256));
      this.#db
        .prepare('INSERT INTO models (sha256, size, name, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING')
        .run(sha256, size, options.name ?? null, now);
      return { sha256, size, name: options.name ?? null, path: this.pathOf(sha256) };
    } finally {
      await rm(temp, { force: true });
    }
  }

  /** True when the artifact file is present with the recorded size. */
  async verifyPresent(sha256: string): Promise<boolean> {
    const info = this.find(sha256);
    if (!info) return false;
    const s = await stat(info.path).catch(() => null);
    return s?.size === info.size;
  }
}
