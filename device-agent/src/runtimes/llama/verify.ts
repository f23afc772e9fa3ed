/**
 * Recomputation checks of claimed results, shared by the control plane's own
 * validator and by nodes with role `validator`: whoever checks, the same code
 * decides. The llama.cpp work runs in the runtime's worker process.
 */
import type { EmbedOutput, EmbedSettings as WireEmbedSettings, GenerationSettings as WireGenerationSettings, InferOutput, VerifyAssignmentBody } from '@meshchain/protocol';
import type { LlamaRuntime } from './runtime.ts';
import type { ModelRef } from './types.ts';

/**
 * Largest accepted gap between the model's best logit and the claimed
 * token's logit at any position. Greedy generation and a teacher-forced
 * prefill do not agree bit for bit (≤ ~0.02 measured on CPU), so a claimed
 * token within this gap of the top choice counts as the model's choice.
 */
export const DEFAULT_TOLERANCE = 0.05;

/**
 * Smallest accepted cosine similarity between a claimed embedding and the
 * recomputed one. Measured noise across thread counts and batch sizes is
 * nil on CPU (bitwise-equal vectors, cosine 1 − 0); a random or other-model
 * vector scores near 0. See control-plane/src/trust/README.md.
 */
export const DEFAULT_MIN_COSINE = 0.999;

export interface CheckOptions {
  tolerance: number;
  minCosine: number;
  threads: number;
}

export type Verification =
  | { ok: true; checkedTokens: number; maxGap: number; ms: number }
  | { ok: false; reason: string; position: number | null; checkedTokens: number; maxGap: number; ms: number };

/**
 * A whole shard's verdict; `maxGap` is the largest logit gap (infer) or the
 * largest 1 − cosine / norm deviation (embed); `failedAt` is the position of
 * the first failing output in the shard (null when the shard as a whole is wrong).
 */
export type ShardVerdict =
  | { ok: true; checkedTokens: number; maxGap: number; ms: number }
  | { ok: false; reason: string; failedAt: number | null; checkedTokens: number; maxGap: number; ms: number };

/** Everything needed to recompute one shard's result, with the model as a local file. */
export type ShardCheck =
  | { workload: 'infer'; model: ModelRef; settings: WireGenerationSettings; inputs: { index: number; prompt: string }[]; outputs: InferOutput[] }
  | { workload: 'embed'; model: ModelRef; settings: WireEmbedSettings; inputs: { index: number; text: string }[]; outputs: EmbedOutput[] };

/** A verification task from the wire, bound to the local file of its model. Throws when its inputs do not fit its workload. */
export function shardCheckOf(task: Pick<VerifyAssignmentBody, 'inputs' | 'target'>, path: string): ShardCheck {
  const { target } = task;
  const model = { path, sha256: target.model.sha256 };
  if (target.workload === 'infer') {
    const inputs = task.inputs.map((input) => {
      if (!('prompt' in input)) throw new TypeError(`input ${input.index} of an infer check is not a prompt`);
      return input;
    });
    return { workload: 'infer', model, settings: target.settings, inputs, outputs: target.outputs };
  }
  const inputs = task.inputs.map((input) => {
    if (!('text' in input)) throw new TypeError(`input ${input.index} of an embed check is not a text`);
    return input;
  });
  return { workload: 'embed', model, settings: target.settings, inputs, outputs: target.outputs };
}

/**
 * Checks every output of a shard; stops at the first that fails. Throws when
 * the check itself cannot run (model, worker): that is never the node's fault.
 */
export async function checkShard(runtime: LlamaRuntime, shard: ShardCheck, options: CheckOptions, signal?: AbortSignal): Promise<ShardVerdict> {
  if (shard.outputs.length !== shard.inputs.length) {
    return { ok: false, reason: `expected ${shard.inputs.length} outputs, got ${shard.outputs.length}`, failedAt: null, checkedTokens: 0, maxGap: 0, ms: 0 };
  }
  if (shard.workload === 'embed') return verifyEmbedOutputs(runtime, shard.model, shard.inputs, shard.outputs, shard.settings, options, signal);
  let checkedTokens = 0;
  let maxGap = 0;
  let ms = 0;
  for (const [i, output] of shard.outputs.entries()) {
    signal?.throwIfAborted();
    const input = shard.inputs[i];
    if (!input || input.index !== output.index) return { ok: false, reason: `output ${i} has index ${output.index}, expected ${input?.index}`, failedAt: i, checkedTokens, maxGap, ms };
    let verification: Verification;
    try {
      verification = await verifyInferOutput(runtime, shard.model, input.prompt, output, shard.settings, options);
    } catch (error) {
      throw new Error(`verification of output ${output.index} could not run: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    checkedTokens += verification.checkedTokens;
    maxGap = Math.max(maxGap, verification.maxGap);
    ms += verification.ms;
    if (!verification.ok) return { ok: false, reason: `output ${output.index}: ${verification.reason}`, failedAt: i, checkedTokens, maxGap, ms };
  }
  return { ok: true, checkedTokens, maxGap, ms };
}

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
  settings: WireGenerationSettings,
  options: Pick<CheckOptions, 'tolerance' | 'threads'>,
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
  if (claimed.some((token) => token >= loaded.vocabSize)) return fail(`claims a token outside the vocabulary of ${loaded.vocabSize}`, null);
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
  settings: WireGenerationSettings,
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

/** Each output's verdict in a shard verdict: pass before the failing one, fail at it, unchecked after (all fail when the shard as a whole is wrong). */
export function outputVerdicts(count: number, verdict: ShardVerdict): ('pass' | 'fail' | 'unchecked')[] {
  return Array.from({ length: count }, (_, i) => {
    if (verdict.ok) return 'pass';
    if (verdict.failedAt === null) return 'fail';
    return i < verdict.failedAt ? 'pass' : i === verdict.failedAt ? 'fail' : 'unchecked';
  });
}

/** Cosine similarity of two vectors; 0 when either is all zeros or the lengths differ. */
export function cosineSimilarity(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length || a.length === 0) return 0;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/**
 * Recomputes a shard's embeddings and compares each claimed vector with the
 * model's: the dimension must match, and the cosine similarity must reach
 * `minCosine`. A claimed vector's length (norm) must also agree within the
 * same relative margin, so a rescaled vector does not pass.
 */
export async function verifyEmbedOutputs(
  runtime: LlamaRuntime,
  model: ModelRef,
  inputs: readonly { index: number; text: string }[],
  outputs: readonly EmbedOutput[],
  settings: WireEmbedSettings,
  options: Pick<CheckOptions, 'minCosine' | 'threads'>,
  signal?: AbortSignal,
): Promise<ShardVerdict> {
  const started = performance.now();
  for (const [i, output] of outputs.entries()) {
    if (inputs[i]?.index !== output.index) return { ok: false, reason: `output ${i} has index ${output.index}, expected ${inputs[i]?.index}`, failedAt: i, checkedTokens: 0, maxGap: 0, ms: 0 };
  }
  let recomputed: number[][];
  try {
    recomputed = (await runtime.embed(model, inputs.map((input) => input.text), { ...settings, threads: options.threads }, signal)).vectors;
  } catch (error) {
    throw new Error(`recomputing the embeddings could not run: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  let maxGap = 0;
  for (const [i, output] of outputs.entries()) {
    const expected = recomputed[i] ?? [];
    const ms = performance.now() - started;
    if (output.vector.length !== expected.length) {
      return { ok: false, reason: `output ${output.index}: ${output.vector.length} dimensions, the model gives ${expected.length}`, failedAt: i, checkedTokens: i, maxGap, ms };
    }
    const cosine = cosineSimilarity(output.vector, expected);
    const normRatio = norm(output.vector) / (norm(expected) || 1);
    maxGap = Math.max(maxGap, 1 - cosine, Math.abs(1 - normRatio));
    if (cosine < options.minCosine) {
      return { ok: false, reason: `output ${output.index}: cosine similarity ${cosine.toFixed(5)} with the recomputed embedding (< ${options.minCosine})`, failedAt: i, checkedTokens: i + 1, maxGap, ms };
    }
    if (Math.abs(1 - normRatio) > 1 - options.minCosine) {
      return { ok: false, reason: `output ${output.index}: vector length is ${normRatio.toFixed(4)} × the recomputed one`, failedAt: i, checkedTokens: i + 1, maxGap, ms };
    }
  }
  return { ok: true, checkedTokens: outputs.length, maxGap, ms: performance.now() - started };
}

function norm(v: readonly number[]): number {
  let sum = 0;
  for (const x of v) sum += x * x;
  return Math.sqrt(sum);
}
