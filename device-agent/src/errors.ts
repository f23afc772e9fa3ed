export interface AgentErrorOptions {
  details?: string;
  cause?: unknown;
}

/** Base error of the MeshNode agent (viem's shape: shortMessage, details, cause). */
export class AgentError extends Error {
  override name = 'AgentError';
  readonly shortMessage: string;
  readonly details: string | undefined;

  constructor(shortMessage: string, options: AgentErrorOptions = {}) {
    super(options.details ? `${shortMessage}\n\nDetails: ${options.details}` : shortMessage, { cause: options.cause });
    this.shortMessage = shortMessage;
    this.details = options.details;
  }
}

export class ConfigError extends AgentError {
  override name = 'ConfigError';
}

export class IdentityError extends AgentError {
  override name = 'IdentityError';
}

/** A model could not be fetched or did not match its hash. */
export class ModelFetchError extends AgentError {
  override name = 'ModelFetchError';
}
