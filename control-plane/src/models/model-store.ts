import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Db } from '../store/db.ts';
import { NotFoundError } from '../errors.ts';
import { hasFileOfSize, writeContentAddressed } from '../store/content-addressed.ts';

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
    const stored = await writeContentAddressed(body, {
      dir: this.#dir,
      fileName: (sha) => `${sha}.gguf`,
      what: 'model',
      maxBytes: this.#maxBytes,
      ...(options.expectedSha256 ? { expectedSha256: options.expectedSha256 } : {}),
    });
    this.#db
      .prepare('INSERT INTO models (sha256, size, name, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING')
      .run(stored.sha256, stored.size, options.name ?? null, now);
    return { ...stored, name: options.name ?? null };
  }

  /** True when the artifact file is present with the recorded size. */
  async verifyPresent(sha256: string): Promise<boolean> {
    const info = this.find(sha256);
    return info !== null && (await hasFileOfSize(info.path, info.size));
  }
}
