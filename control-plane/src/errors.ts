export interface ControlPlaneErrorOptions {
  details?: string;
  cause?: unknown;
  /** HTTP status when the error reaches an API client. */
  status?: number;
}

/** Base error of the control plane (viem's shape: shortMessage, details, cause). */
export class ControlPlaneError extends Error {
  override name = 'ControlPlaneError';
  readonly shortMessage: string;
  readonly details: string | undefined;
  readonly status: number;

  constructor(shortMessage: string, options: ControlPlaneErrorOptions = {}) {
    super(options.details ? `${shortMessage}\n\nDetails: ${options.details}` : shortMessage, { cause: options.cause });
    this.shortMessage = shortMessage;
    this.details = options.details;
    this.status = options.status ?? 500;
  }
}

export class NotFoundError extends ControlPlaneError {
  override name = 'NotFoundError';
  constructor(what: string, options: Omit<ControlPlaneErrorOptions, 'status'> = {}) {
    super(`${what} not found`, { ...options, status: 404 });
  }
}

export class InvalidRequestError extends ControlPlaneError {
  override name = 'InvalidRequestError';
  constructor(message: string, options: Omit<ControlPlaneErrorOptions, 'status'> = {}) {
    super(message, { ...options, status: 400 });
  }
}

export class ConflictError extends ControlPlaneError {
  override name = 'ConflictError';
  constructor(message: string, options: Omit<ControlPlaneErrorOptions, 'status'> = {}) {
    super(message, { ...options, status: 409 });
  }
}

export class ConfigError extends ControlPlaneError {
  override name = 'ConfigError';
}
