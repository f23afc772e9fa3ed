// Compute units of one accepted shard: the quantity rewards are paid in.
import type { InferResultBody, PromptInput } from '@meshchain/protocol';

/** Tokens a tokenizer may add around a prompt (BOS, EOS) beyond one token per byte. */
const SPECIAL_TOKENS_PER_INPUT = 2;

export interface ShardUnitsParameters {
  /** The shard's prompts, as the control plane stored them. */
  inputs: readonly PromptInput[];
  /** The accepted result. */
  result: InferResultBody;
  /** Compute units per token for the shard's model (≥ 1, integer). */
  costFactor: number;
}

export interface ShardUnitsReturnType {
  promptTokens: number;
  generatedTokens: number;
  units: number;
}

/**
 * units = (prompt tokens + generated tokens) × model cost factor.
 *
 * Generated tokens are counted from the result itself (the token ids every output carries), not from the
 * node's stats. Prompt tokens are the node's own count, capped at what the prompts can possibly produce:
 * a tokenizer never makes more tokens than UTF-8 bytes, plus BOS/EOS. So a node cannot inflate its reward
 * beyond what the shard's data allows; the validator's recomputation checks the rest.
 */
export function shardUnits(parameters: ShardUnitsParameters): ShardUnitsReturnType {
  const { inputs, result, costFactor } = parameters;
  if (!Number.isSafeInteger(costFactor) || costFactor < 1) throw new RangeError(`cost factor must be a positive integer, got ${costFactor}`);
  const promptCeiling = inputs.reduce((sum, input) => sum + Buffer.byteLength(input.prompt, 'utf8') + SPECIAL_TOKENS_PER_INPUT, 0);
  const promptTokens = Math.min(Math.max(0, result.stats.promptTokens), promptCeiling);
  const generatedTokens = result.outputs.reduce((sum, output) => sum + output.tokens.length, 0);
  return { promptTokens, generatedTokens, units: (promptTokens + generatedTokens) * costFactor };
}

/** The cost factor of a model: configured per sha256, 1 otherwise. */
export function modelCostFactor(factors: Readonly<Record<string, number>>, modelSha256: string): number {
  return Object.hasOwn(factors, modelSha256) ? (factors[modelSha256] ?? 1) : 1;
}
