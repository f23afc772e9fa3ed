/**
 * Errors of telemetry. Shaped like viem's: a one-line `shortMessage`,
 * optional `details`, the underlying `cause`, and a `code` to branch on.
 */
export type TelemetryErrorCode = 'invalid-config' | 'sample-failed' | 'reading-failed';

export interface TelemetryErrorOptions {
  code: TelemetryErrorCode;
  details?: string;
  cause?: unknown;
}

export class TelemetryError extends Error {
  override name = 'TelemetryError';
  readonly code: TelemetryErrorCode;
  readonly shortMessage: string;
  readonly details: string | undefined;

  constructor(shortMessage: string, options: TelemetryErrorOptions) {
    super(options.details ? `${shortMessage}\n\nDetails: ${options.details}` : shortMessage, {
      cause: options.cause,
    });
    this.code = options.code;
    this.shortMessage = shortMessage;
    this.details = options.details;
  }
}

export function isTelemetryError(error: unknown): error is TelemetryError {
  return error instanceof TelemetryError;
}

/** A Node system error (ENOENT, EACCES, …). */
export function isSystemError(error: unknown, code?: string): error is NodeJS.ErrnoException {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string' &&
    (code === undefined || (error as NodeJS.ErrnoException).code === code);
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
