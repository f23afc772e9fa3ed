/** Base class of every error this package throws (viem's shape: shortMessage, details, cause). */
export class ContractsError extends Error {
  override name = 'ContractsError';
  readonly shortMessage: string;
  readonly details: string | undefined;

  constructor(shortMessage: string, options: { details?: string; cause?: unknown } = {}) {
    super(options.details ? `${shortMessage}\n\nDetails: ${options.details}` : shortMessage, { cause: options.cause });
    this.shortMessage = shortMessage;
    this.details = options.details;
  }
}

/** solc reported errors while compiling the contracts. */
export class SolidityCompileError extends ContractsError {
  override name = 'SolidityCompileError';
}

/** The anvil binary is missing, exited, or did not answer in time. */
export class AnvilStartError extends ContractsError {
  override name = 'AnvilStartError';
}

/** A deployment or set-up transaction failed. */
export class DeploymentError extends ContractsError {
  override name = 'DeploymentError';
}
