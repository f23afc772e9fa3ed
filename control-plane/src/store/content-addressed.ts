import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InvalidRequestError } from '../errors.ts';

export interface ContentAddressedWrite {
  dir: string;
  /** The file name a verified upload gets, from its hash. */
  fileName: (sha256: string) => string;
  /** What the bytes are, for error messages ("model", "artifact"). */
  what: string;
  maxBytes: number;
  /** When given, the bytes must hash to it. */
  expectedSha256?: string;
}

/**
 * Streams an upload to a temp file while hashing it; it lands under its hash
 * only when complete, non-empty, within the size limit and (when expected)
 * matching the hash, so a partial or corrupt upload never appears under a hash.
 */
export async function writeContentAddressed(body: Readable, options: ContentAddressedWrite): Promise<{ sha256: string; size: number; path: string }> {
  await mkdir(options.dir, { recursive: true });
  const temp = join(options.dir, `.upload-${randomBytes(6).toString('hex')}`);
  const hash = createHash('sha256');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.length;
      if (size > options.maxBytes) return callback(new InvalidRequestError(`${options.what} exceeds ${options.maxBytes} bytes`));
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
    if (size === 0) throw new InvalidRequestError(`${options.what} upload is empty`);
    const path = join(options.dir, options.fileName(sha256));
    await rename(temp, path);
    return { sha256, size, path };
  } finally {
    await rm(temp, { force: true });
  }
}

/** True when `path` exists with exactly `size` bytes. */
export async function hasFileOfSize(path: string, size: number): Promise<boolean> {
  return (await stat(path).catch(() => null))?.size === size;
}
