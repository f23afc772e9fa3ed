import { BaseError, ContractFunctionRevertedError } from 'viem';
import { ControlPlaneError, type ControlPlaneErrorOptions } from '../errors.ts';

/** A chain call failed. `retryable` is false when trying again cannot help without an operator. */
export class ChainError extends ControlPlaneError {
  override name = 'ChainError';
  readonly retryable: boolean;

  constructor(shortMessage: string, options: ControlPlaneErrorOptions & { retryable?: boolean } = {}) {
    super(shortMessage, { status: 502, ...options });
    this.retryable = options.retryable ?? true;
  }
}

/** Reverts that no retry fixes: the key lacks the role, or the ledger disagrees with the chain's total. */
const FATAL_REVERTS = new Set(['AccessControlUnauthorizedAccount', 'TotalCumulativeDecreased', 'InvalidToken', 'InvalidAdmin']);

/** The custom error a contract call reverted with, when viem could decode it. */
export function revertName(error: unknown): string | null {
  if (!(error instanceof BaseError)) return null;
  const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError);
  return reverted instanceof ContractFunctionRevertedError ? (reverted.data?.errorName ?? null) : null;
}

/** Wraps anything a chain call threw into a ChainError that says whether retrying can help. */
export function toChainError(what: string, error: unknown): ChainError {
  if (error instanceof ChainError) return error;
  const revert = revertName(error);
  const detail = error instanceof BaseError ? error.shortMessage : error instanceof Error ? error.message : String(error);
  if (revert) {
    return new ChainError(`${what}: reverted with ${revert}`, { details: detail, cause: error, retryable: !FATAL_REVERTS.has(revert) });
  }
  return new ChainError(`${what}: ${detail.split('\n')[0] ?? detail}`, { details: detail, cause: error, retryable: true });
}
