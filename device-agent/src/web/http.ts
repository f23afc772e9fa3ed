/** Small request and response helpers over node:http; no framework. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { WebError, messageOf } from './errors.ts';

/** Headers on every response. The page adds its Content-Security-Policy. */
export const BASE_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-resource-policy': 'same-origin',
};

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  sendBody(res, status, Buffer.from(text), {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    ...headers,
  });
}

export function sendBody(res: ServerResponse, status: number, body: Buffer, headers: Record<string, string>): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { ...BASE_HEADERS, ...headers, 'content-length': String(body.length) });
  res.end(body);
}

/** `{ error: { code, message } }`; 429 adds `retryAt` and a Retry-After header. */
export function sendError(res: ServerResponse, error: WebError, now: number): void {
  const headers: Record<string, string> = {};
  const body: { code: string; message: string; retryAt?: number } = { code: error.code, message: error.shortMessage };
  if (error.retryAt !== undefined) {
    body.retryAt = error.retryAt;
    headers['retry-after'] = String(Math.max(1, Math.ceil((error.retryAt - now) / 1000)));
  }
  if (error.status === 405) headers.allow = error.details ?? '';
  // The rest of a refused body is not read: close rather than parse it as the next request.
  if (error.status === 413) headers.connection = 'close';
  sendJson(res, error.status, { error: body }, headers);
}

export function isJsonContentType(header: string | undefined): boolean {
  if (header === undefined) return false;
  const type = header.split(';')[0]?.trim().toLowerCase();
  return type === 'application/json';
}

/**
 * Reads a JSON object body of at most `limit` bytes. 415 unless the
 * Content-Type is application/json, 413 past the limit (checked against
 * Content-Length first, then while reading), 400 for bad JSON or a non-object.
 */
export function readJsonObject(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  if (!isJsonContentType(req.headers['content-type'])) {
    return Promise.reject(
      new WebError('Send the request body as JSON (Content-Type: application/json).', { code: 'unsupported-media-type' }),
    );
  }
  const tooLarge = () => new WebError(`The request body is too large: at most ${limit} bytes.`, { code: 'payload-too-large' });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge());

  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (error: WebError | null, value?: Record<string, unknown>) => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      if (error) {
        // Stop buffering; the 413 response closes the connection.
        req.resume();
        reject(error);
      } else if (value) resolve(value);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) finish(tooLarge());
      else chunks.push(chunk);
    };
    const onEnd = () => {
      try {
        finish(null, parseObject(Buffer.concat(chunks).toString('utf8')));
      } catch (error) {
        finish(error instanceof WebError ? error : new WebError('bad body', { code: 'bad-json', cause: error }));
      }
    };
    const onError = (error: Error) => finish(new WebError('The request was cut off.', { code: 'bad-request', cause: error }));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

function parseObject(text: string): Record<string, unknown> {
  if (text.trim() === '') throw new WebError('The request body is empty: send a JSON object.', { code: 'bad-json' });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new WebError(`The request body is not valid JSON: ${messageOf(error)}`, { code: 'bad-json', cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new WebError('The request body must be a JSON object.', { code: 'bad-json' });
  }
  return value as Record<string, unknown>;
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  if (!header) return cookies;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (!cookies.has(name)) cookies.set(name, value);
  }
  return cookies;
}

/** The password from `Authorization: Bearer <password>`, or null. */
export function bearerOf(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer +(.+)$/i.exec(header.trim());
  return match?.[1] ?? null;
}

/** The peer's address (no proxy sits in front of the box, so X-Forwarded-For is not trusted). */
export function clientIp(req: IncomingMessage): string {
  const address = req.socket.remoteAddress ?? 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

export function acceptsGzip(req: IncomingMessage): boolean {
  const header = req.headers['accept-encoding'];
  return typeof header === 'string' && /\bgzip\b/i.test(header);
}
