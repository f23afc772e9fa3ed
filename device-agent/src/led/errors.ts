/**
 * Errors of the LED status module. Shaped like viem's: a one-line
 * `shortMessage` for logs and owners, optional `details` that say what to do,
 * the underlying `cause`, and a `code` to branch on.
 */
export type LedErrorCode =
  | 'led-not-found'
  | 'gpio-unavailable'
  | 'permission-denied'
  | 'io-failed'
  | 'not-open'
  | 'invalid-pattern'
  | 'invalid-config';

export interface LedErrorOptions {
  code: LedErrorCode;
  details?: string;
  cause?: unknown;
}

export class LedError extends Error {
  override name = 'LedError';
  readonly code: LedErrorCode;
  readonly shortMessage: string;
  readonly details: string | undefined;

  constructor(shortMessage: string, options: LedErrorOptions) {
    super(options.details ? `${shortMessage}\n\nDetails: ${options.details}` : shortMessage, {
      cause: options.cause,
    });
    this.code = options.code;
    this.shortMessage = shortMessage;
    this.details = options.details;
  }
}

export function isLedError(error: unknown): error is LedError {
  return error instanceof LedError;
}

/** A Node system error (ENOENT, EACCES, …) as thrown by `node:fs`. */
export function isSystemError(error: unknown, code?: string): error is NodeJS.ErrnoException {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string' &&
    (code === undefined || (error as NodeJS.ErrnoException).code === code);
}
