import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { NotFoundError } from '../errors.ts';
import { hasFileOfSize, writeContentAddressed } from '../store/content-addressed.ts';
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
    return info !== null && (await hasFileOfSize(info.path, info.size));
  }

  async put(body: Readable, expectedSha256: string, now = Date.now()): Promise<ArtifactInfo> {
    const stored = await writeContentAddressed(body, { dir: this.#dir, fileName: (sha) => sha, what: 'artifact', maxBytes: this.#maxBytes, expectedSha256 });
    this.#db.prepare('INSERT INTO release_artifacts (sha256, size, created_at) VALUES (?, ?, ?) ON CONFLICT (sha256) DO NOTHING').run(stored.sha256, stored.size, now);
    return stored;
  }
}
