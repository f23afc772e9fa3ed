/**
 * Errors of the local web page. Shaped like viem's: a one-line
 * `shortMessage` that the page shows as is, optional `details`, the
 * underlying `cause`, a `code` to branch on and the HTTP status it maps to.
 */
export type WebErrorCode =
  | 'invalid-config'
  | 'bad-request'
  | 'bad-json'
  | 'invalid-input'
  | 'payload-too-large'
  | 'unsupported-media-type'
  | 'not-found'
  | 'method-not-allowed'
  | 'unauthorized'
  | 'wrong-password'
  | 'password-not-set'
  | 'password-already-set'
  | 'password-file-damaged'
  | 'forbidden-origin'
  | 'host-not-allowed'
  | 'rate-limited'
  | 'too-many-clients'
  | 'action-failed'
  | 'unavailable'
  | 'internal';

const STATUS: Record<WebErrorCode, number> = {
  'invalid-config': 500,
  'bad-request': 400,
  'bad-json': 400,
  'invalid-input': 400,
  'payload-too-large': 413,
  'unsupported-media-type': 415,
  'not-found': 404,
  'method-not-allowed': 405,
  unauthorized: 401,
  'wrong-password': 401,
  'password-not-set': 401,
  'password-already-set': 409,
  'password-file-damaged': 503,
  'forbidden-origin': 403,
  'host-not-allowed': 403,
  'rate-limited': 429,
  'too-many-clients': 503,
  'action-failed': 500,
  unavailable: 503,
  internal: 500,
};

export interface WebErrorOptions {
  code: WebErrorCode;
  details?: string;
  cause?: unknown;
  /** Overrides the status of `code` (e.g. an action refusing with 409). */
  status?: number;
  /** For `rate-limited`: when to try again (ms since epoch). */
  retryAt?: number;
}

export class WebError extends Error {
  override name = 'WebError';
  readonly code: WebErrorCode;
  readonly status: number;
  readonly shortMessage: string;
  readonly details: string | undefined;
  readonly retryAt: number | undefined;

  constructor(shortMessage: string, options: WebErrorOptions) {
    super(options.details ? `${shortMessage}\n\nDetails: ${options.details}` : shortMessage, {
      cause: options.cause,
    });
    this.code = options.code;
    this.status = options.status ?? STATUS[options.code];
    this.shortMessage = shortMessage;
    this.details = options.details;
    this.retryAt = options.retryAt;
  }
}

export function isWebError(error: unknown): error is WebError {
  return error instanceof WebError;
}

/** A Node system error (ENOENT, EACCES, …) as thrown by `node:fs`. */
export function isSystemError(error: unknown, code?: string): error is NodeJS.ErrnoException {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string' &&
    (code === undefined || (error as NodeJS.ErrnoException).code === code);
}

export function messageOf(error: unknown): string {
  if (error instanceof Error) {
    const short = (error as { shortMessage?: unknown }).shortMessage;
    return typeof short === 'string' ? short : error.message;
  }
  return String(error);
}

/** "1 second", "42 seconds" (rounded up, at least 1). */
export function secondsText(ms: number): string {
  const s = Math.max(1, Math.ceil(ms / 1000));
  return s === 1 ? '1 second' : `${s} seconds`;
}
