import { createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { AgentError } from '../errors.ts';

/** The artifact could not be fetched (`download-failed`) or is larger than signed (`size-mismatch`). */
export class ArtifactDownloadError extends AgentError {
  override name = 'ArtifactDownloadError';
  readonly reason: 'download-failed' | 'size-mismatch';

  constructor(reason: 'download-failed' | 'size-mismatch', shortMessage: string, options: { details?: string; cause?: unknown } = {}) {
    super(shortMessage, options);
    this.reason = reason;
  }
}

export interface DownloadArtifactParameters {
  url: string;
  /** The file to fill; a partial one is resumed with a byte range. */
  path: string;
  /** The signed manifest's size: more is refused while downloading. */
  size: number;
  authorization?: string;
  signal?: AbortSignal;
  /** Bytes received so far in this call. */
  onProgress?: (received: number) => void;
}

/**
 * Downloads a release artifact into `path`, resuming a partial file with a
 * `Range` request. Checks the size bound only; the caller verifies the hash
 * against the signed manifest before installing. Returns the bytes that
 * crossed the network in this call.
 */
export async function downloadArtifact(params: DownloadArtifactParameters): Promise<number> {
  await mkdir(dirname(params.path), { recursive: true });
  let offset = (await stat(params.path).catch(() => null))?.size ?? 0;
  if (offset > params.size) {
    await rm(params.path, { force: true });
    offset = 0;
  }
  if (offset === params.size) return 0;
  const headers: Record<string, string> = {};
  if (offset > 0) headers.range = `bytes=${offset}-`;
  if (params.authorization) headers.authorization = params.authorization;
  let response: Response;
  try {
    response = await fetch(params.url, { headers, ...(params.signal ? { signal: params.signal } : {}) });
  } catch (cause) {
    throw new ArtifactDownloadError('download-failed', `cannot fetch the release artifact from ${params.url}`, { cause, details: String((cause as Error).cause ?? cause) });
  }
  if (response.status === 200 && offset > 0) {
    // The server ignored the range: start over.
    offset = 0;
  } else if (response.status !== 200 && response.status !== 206) {
    await response.body?.cancel();
    throw new ArtifactDownloadError('download-failed', `artifact server answered HTTP ${response.status}`, { details: params.url });
  }
  if (!response.body) throw new ArtifactDownloadError('download-failed', 'artifact server sent no body', { details: params.url });
  const limit = params.size - offset;
  let received = 0;
  const body = Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
  body.on('data', (chunk: Buffer) => {
    received += chunk.length;
    if (received > limit) body.destroy(new ArtifactDownloadError('size-mismatch', `artifact is larger than the ${params.size} bytes its signed manifest says`));
    params.onProgress?.(received);
  });
  await pipeline(body, createWriteStream(params.path, { flags: offset > 0 ? 'a' : 'w' }));
  return received;
}
