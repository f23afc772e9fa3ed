import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InvalidRequestError, NotFoundError } from '../errors.ts';
import type { Db } from '../store/db.ts';

export interface ArtifactInfo {
  sha256: string;
  size: number;
  path: string;
}

/**
 * Release artifacts (agent tarballs, RAUC bundles), content-addressed by
 * sha256 under `dir`, like the model store: an upload is streamed to a temp
 * file while hashed and lands under its hash only when the hash matches.
 */
export class ArtifactStore {
  readonly #dir: string;
  readonly #db: Db;
  readonly #maxBytes: number;

  constructor(dir: string, db: Db, options: { maxBytes?: number } = {}) {
    this.#dir = dir;
    this.#db = db;
    this.#maxBytes = options.maxBytes ?? 16 * 1024 ** 3;
  }

  pathOf(sha256: string): string {
    return join(this.#dir, sha256);
  }

  find(sha256: string): ArtifactInfo | null {
    const row = this.#db.prepare('SELECT sha256, size FROM release_artifacts WHERE sha256 = ?').get(sha256) as { sha256: string; size: number } | undefined;
    return row ? { ...row, path: this.pathOf(row.sha256) } : null;
  }

  get(sha256: string): ArtifactInfo {
    const info = this.find(sha256);
    if (!info) throw new NotFoundError(`artifact ${sha256}`, { details: 'upload it with `meshchain release create --artifact <file>`' });
    return info;
  }

  /** True when the artifact file is present with the recorded size. */
  async verifyPresent(sha256: string): Promise<boolean> {
    const info = this.find(sha256);
    if (!info) return false;
    const s = await stat(info.path).catch(() => null);
    return s?.size === info.size;
  }

  async put(body: Readable, expectedSha256: string, now = Date.now()): Promise<ArtifactInfo> {
    await mkdir(this.#dir, { recursive: true });
    const temp = join(this.#dir, `.upload-${randomBytes(6).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    const maxBytes = this.#maxBytes;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, callback) {
        size += chunk.length;
        if (size > maxBytes) return callback(new InvalidRequestError(`artifact exceeds ${maxBytes} bytes`));
        hash.update(chunk);
        callback(null, chunk);
      },
    });
    try {
      await pipeline(body, meter, createWriteStream(temp, { mode: 0o644 }));
      const sha256 = hash.digest('hex');
      if (sha256 !== expectedSha256) throw new InvalidRequestError(`uploaded bytes hash to ${sha256}, not ${expectedSha256}`);
      if (size === 0) throw new InvalidRequestError('artifact upload is empty');
      await rename(temp, this.pathOf(sha256));
      this.#db.prepare('INSERT INTO release_artifacts (sha256, size, created_at) VALUES (?, ?, ?) ON CONFLICT (sha256) DO NOTHING').run(sha256, size, now);
      return { sha256, size, path: this.pathOf(sha256) };
    } finally {
      await rm(temp, { force: true });
    }
  }
}
