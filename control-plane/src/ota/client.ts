import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { SignedRelease } from '@meshchain/protocol';
import { ApiError } from '../cli/api-client.ts';
import type { ReleaseRecord } from './release-store.ts';

export async function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  const { size } = await stat(path);
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return { sha256: hash.digest('hex'), size };
}

/** The OTA part of the control plane's API, for the CLI and tests. */
export class OtaClient {
  readonly baseUrl: string;
  readonly #token: string | undefined;

  constructor(baseUrl: string, options: { token?: string } = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.#token = options.token;
  }

  /** Uploads a file by its sha256 unless the control plane has it already. */
  async uploadArtifact(path: string): Promise<{ sha256: string; size: number; uploaded: boolean }> {
    const { sha256, size } = await hashFile(path);
    const head = await this.#fetch('HEAD', `/v1/artifacts/${sha256}`, undefined, [404]);
    if (head.status === 200) return { sha256, size, uploaded: false };
    await this.#fetch('PUT', `/v1/artifacts/${sha256}`, { body: Readable.toWeb(createReadStream(path)) as ReadableStream, contentType: 'application/octet-stream', length: size });
    return { sha256, size, uploaded: true };
  }

  async registerRelease(signed: SignedRelease): Promise<{ release: ReleaseRecord; created: boolean }> {
    return (await this.#fetch('POST', '/v1/releases', { body: JSON.stringify(signed), contentType: 'application/json' })).json() as Promise<{ release: ReleaseRecord; created: boolean }>;
  }

  async releases(): Promise<ReleaseRecord[]> {
    return ((await (await this.#fetch('GET', '/v1/releases')).json()) as { releases: ReleaseRecord[] }).releases;
  }

  async release(id: string): Promise<{ release: ReleaseRecord; signed: SignedRelease }> {
    return (await this.#fetch('GET', `/v1/releases/${encodeURIComponent(id)}`)).json() as Promise<{ release: ReleaseRecord; signed: SignedRelease }>;
  }

  async #fetch(method: string, path: string, body?: { body: string | ReadableStream; contentType: string; length?: number }, okStatuses: number[] = []): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (body) headers['content-type'] = body.contentType;
    if (body?.length !== undefined) headers['content-length'] = String(body.length);
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, { method, headers, ...(body ? { body: body.body, duplex: 'half' } : {}) } as RequestInit);
    } catch (cause) {
      throw new ApiError(0, 'Unreachable', `cannot reach the control plane at ${this.baseUrl}`, `is \`meshchain serve\` running? Choose another with --api or MESHCHAIN_API (${String((cause as Error).cause ?? cause)})`);
    }
    if (response.ok || okStatuses.includes(response.status)) return response;
    const text = await response.text();
    let error: { code?: string; message?: string; details?: string } = {};
    try {
      error = (JSON.parse(text) as { error?: typeof error }).error ?? {};
    } catch {
      error = { message: text.slice(0, 200) };
    }
    throw new ApiError(response.status, error.code ?? 'HttpError', error.message ?? `HTTP ${response.status}`, error.details);
  }
}
