import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';

export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  readonly code: string;
  readonly details: string | undefined;

  constructor(status: number, code: string, message: string, details?: string) {
    super(details ? `${message} (${details})` : message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export interface RequestBody {
  body: string | ReadableStream;
  contentType: string;
  length?: number;
}

export async function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  const { size } = await stat(path);
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return { sha256: hash.digest('hex'), size };
}

/**
 * HTTP to the control plane's API: the bearer token, clear errors for an
 * unreachable control plane, and its `{ error: { code, message, details } }`
 * bodies turned into ApiErrors.
 */
export class ApiTransport {
  readonly baseUrl: string;
  readonly #token: string | undefined;

  constructor(baseUrl: string, options: { token?: string } = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.#token = options.token;
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.fetch(method, path, body === undefined ? undefined : { body: JSON.stringify(body), contentType: 'application/json' });
    return (await response.json()) as T;
  }

  /** Uploads a file to `<route>/<sha256>` unless the control plane already has it. */
  async uploadByHash(route: string, path: string, query = ''): Promise<{ sha256: string; size: number; uploaded: boolean }> {
    const { sha256, size } = await hashFile(path);
    const head = await this.fetch('HEAD', `${route}/${sha256}`, undefined, [200, 404]);
    if (head.status === 200) return { sha256, size, uploaded: false };
    await this.fetch('PUT', `${route}/${sha256}${query}`, {
      body: Readable.toWeb(createReadStream(path)) as ReadableStream,
      contentType: 'application/octet-stream',
      length: size,
    });
    return { sha256, size, uploaded: true };
  }

  async fetch(method: string, path: string, body?: RequestBody, okStatuses: number[] = []): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (body) headers['content-type'] = body.contentType;
    if (body?.length !== undefined) headers['content-length'] = String(body.length);
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        ...(body ? { body: body.body, duplex: 'half' } : {}),
      } as RequestInit);
    } catch (cause) {
      throw new ApiError(
        0,
        'Unreachable',
        `cannot reach the control plane at ${this.baseUrl}`,
        `is \`meshchain serve\` running? Choose another with --api or MESHCHAIN_API (${String((cause as Error).cause ?? cause)})`,
      );
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
