/**
 * Message bodies shaped like the demo's: the same prompts, greedy outputs of
 * token ids from the tiny model's 417-token vocabulary, seeded so every run
 * measures the same bytes.
 */
import { canonicalHash, type AssignmentBody, type InferOutput, type PromptInput, type ResultBody } from '@meshchain/protocol';

export const DEMO_PROMPTS = [
  'The mesh wakes at dawn and',
  'A small board on a shelf hums',
  'Tokens flow like water through',
  'The control plane counts every',
  'In the garage, a MeshNode',
] as const;

const VOCAB_SIZE = 417;
const WORDS = ['mesh', 'node', 'token', 'shard', 'light', 'water', 'board', 'signal', 'quiet', 'and', 'the', 'of'];

/** A small deterministic PRNG (mulberry32): benchmarks must measure the same inputs every run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function promptInputs(count: number, firstIndex = 0): PromptInput[] {
  return Array.from({ length: count }, (_, i) => ({
    index: firstIndex + i,
    prompt: DEMO_PROMPTS[(firstIndex + i) % DEMO_PROMPTS.length] ?? 'hello',
  }));
}

/** Outputs that run to `maxTokens` (finishReason 'length'), with text of about 4 characters a token. */
export function inferOutputs(inputs: readonly PromptInput[], maxTokens: number, random: () => number): InferOutput[] {
  return inputs.map((input) => {
    const tokens = Array.from({ length: maxTokens }, () => 3 + Math.floor(random() * (VOCAB_SIZE - 3)));
    const text = tokens.map((t) => WORDS[t % WORDS.length]).join(' ');
    return { index: input.index, tokens, text, finishReason: 'length' as const };
  });
}

export interface ResultShape {
  outputs: number;
  tokens: number;
}

/** The demo's shard: 4 prompts × 24 tokens. */
export const DEMO_RESULT: ResultShape = { outputs: 4, tokens: 24 };
/** A heavier shard: 16 prompts × 256 tokens (≈ 45 KB on the wire). */
export const LARGE_RESULT: ResultShape = { outputs: 16, tokens: 256 };

export function sampleResultBody(shape: ResultShape, seed = 1): ResultBody {
  const inputs = promptInputs(shape.outputs);
  return {
    jobId: 'job_abcdefghijklmnop',
    shardId: 'job_abcdefghijklmnop.0',
    leaseId: 'lease_abcdefghijklmnop',
    modelSha256: 'a'.repeat(64),
    inputHash: canonicalHash(inputs),
    outputs: inferOutputs(inputs, shape.tokens, seededRandom(seed)),
    stats: { promptTokens: shape.outputs * 8, generatedTokens: shape.outputs * shape.tokens, computeMs: 812.5 },
  };
}

export function sampleAssignmentBody(prompts: number, maxTokens: number): AssignmentBody {
  const inputs = promptInputs(prompts);
  const sha256 = 'a'.repeat(64);
  return {
    jobId: 'job_abcdefghijklmnop',
    shardId: 'job_abcdefghijklmnop.0',
    shardIndex: 0,
    leaseId: 'lease_abcdefghijklmnop',
    leaseUntil: Date.now() + 60_000,
    workload: 'infer',
    model: { sha256, size: 566_272, url: `http://127.0.0.1:8080/v1/models/${sha256}` },
    inputs,
    inputHash: canonicalHash(inputs),
    settings: { maxTokens, temperature: 0, seed: 1, contextSize: 512, batchSize: 512, addBos: true },
  };
}
