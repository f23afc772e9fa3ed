/**
 * The snapshot serialized once per change and shared by every request and
 * event stream, so a flood of GET /api/status costs one JSON.stringify per
 * change (not per request) plus a write; gzip is computed at most once per
 * change and only when a client asks for it.
 */
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { WebError } from './errors.ts';
import type { WebStatusSource } from './types.ts';

const gzip = promisify(gzipCallback);

interface Entry {
  version: number;
  json: string;
  body: Buffer;
  gzipped: Promise<Buffer> | null;
}

export class SnapshotCache {
  readonly #source: WebStatusSource;
  #version = 0;
  #entry: Entry | null = null;

  constructor(source: WebStatusSource) {
    this.#source = source;
  }

  /** Marks the cached copy stale; call on every change of the source. */
  invalidate(): void {
    this.#version++;
  }

  get version(): number {
    return this.#version;
  }

  /** The current snapshot as JSON text and bytes. */
  current(): Entry {
    const entry = this.#entry;
    if (entry && entry.version === this.#version) return entry;
    let json: string;
    try {
      json = JSON.stringify(this.#source.snapshot());
    } catch (error) {
      throw new WebError('The agent could not report its status.', { code: 'internal', cause: error });
    }
    const fresh: Entry = { version: this.#version, json, body: Buffer.from(json), gzipped: null };
    this.#entry = fresh;
    return fresh;
  }

  /** The current snapshot gzipped (computed off the event loop, once per change). */
  gzipped(): Promise<Buffer> {
    const entry = this.current();
    entry.gzipped ??= gzip(entry.body);
    return entry.gzipped;
  }
}
