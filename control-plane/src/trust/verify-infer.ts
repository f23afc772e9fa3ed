import type { GenerationSettings, InferOutput } from '@meshchain/protocol';
import type { LlamaRuntime, ModelRef } from '@meshchain/device-agent/runtimes/llama';

export interface VerifyOptions {
  /**
   * Largest accepted gap between the model's best logit and the claimed
   * token's logit at any position. Greedy generation and a teacher-forced
   * prefill do not agree bit for bit (≤ ~0.02 measured on CPU), so a claimed
   * token within this gap of the top choice counts as the model's choice.
   */
  tolerance: number;
  threads: number;
}

export const DEFAULT_TOLERANCE = 0.05;

export type Verification =
  | { ok: true; checkedTokens: number; maxGap: number; ms: number }
  | { ok: false; reason: string; position: number | null; checkedTokens: number; maxGap: number; ms: number };

/**
 * Teacher-forced check of one claimed generation: one prefill of prompt +
 * claimed tokens (+ the end-of-sequence token for an 'eos' finish) and, at
 * each position, is the claimed token the model's greedy choice within the
 * tolerance? Then the claimed text must be the detokenized tokens.
 */
export async function verifyInferOutput(
  runtime: LlamaRuntime,
  model: ModelRef,
  prompt: string,
  output: InferOutput,
  settings: GenerationSettings,
  options: VerifyOptions,
): Promise<Verification> {
  const started = performance.now();
  const fail = (reason: string, position: number | null, checkedTokens = 0, maxGap = 0): Verification => ({
    ok: false,
    reason,
    position,
    checkedTokens,
    maxGap,
    ms: performance.now() - started,
  });
  const loaded = await runtime.load(model);
  const promptTokens = [...(settings.addBos && loaded.bosToken !== null ? [loaded.bosToken] : []), ...(await runtime.tokenize(model, prompt))];
  const claimed = [...output.tokens];
  if (output.finishReason === 'eos') {
    if (loaded.eosToken === null) return fail('claims end-of-sequence, but the model has no end-of-sequence token', null);
    claimed.push(loaded.eosToken);
  }
  if (claimed.length === 0) return { ok: true, checkedTokens: 0, maxGap: 0, ms: performance.now() - started };
  if (promptTokens.length + claimed.length > settings.contextSize) {
    return fail(`prompt and claim (${promptTokens.length + claimed.length} tokens) exceed the context of ${settings.contextSize}`, null);
  }

  const scores = await runtime.score(model, promptTokens, claimed, {
    contextSize: settings.contextSize,
    batchSize: settings.batchSize,
    threads: options.threads,
  });
  let maxGap = 0;
  for (const [position, score] of scores.entries()) {
    const gap = score.maxLogit - score.claimedLogit;
    maxGap = Math.max(maxGap, gap);
    if (gap > options.tolerance) {
      const what = position === output.tokens.length ? 'end-of-sequence' : `token ${score.token}`;
      return fail(
        `position ${position}: claimed ${what}, the model prefers ${score.topToken} by ${gap.toFixed(4)} (> ${options.tolerance})`,
        position,
        position + 1,
        maxGap,
      );
    }
  }
  const text = await runtime.detokenize(model, output.tokens, promptTokens);
  if (text !== output.text) return fail('claimed text is not the text of the claimed tokens', null, scores.length, maxGap);
  return { ok: true, checkedTokens: scores.length, maxGap, ms: performance.now() - started };
}

/** The second method, for comparison: regenerate and require identical tokens. */
export async function verifyByRegeneration(
  runtime: LlamaRuntime,
  model: ModelRef,
  prompt: string,
  output: InferOutput,
  settings: GenerationSettings,
  threads: number,
): Promise<Verification> {
  const started = performance.now();
  const again = await runtime.generate(model, prompt, { ...settings, threads });
  const position = again.tokens.findIndex((token, i) => token !== output.tokens[i]);
  const same = position === -1 && again.tokens.length === output.tokens.length && again.finishReason === output.finishReason;
  const ms = performance.now() - started;
  if (same) return { ok: true, checkedTokens: again.tokens.length, maxGap: 0, ms };
  return { ok: false, reason: 'regeneration differs from the claim', position: position === -1 ? again.tokens.length : position, checkedTokens: again.tokens.length, maxGap: 0, ms };
}
