import { z } from 'zod';
import {
  LIMITS,
  sha256Schema,
  type EmbedAssignmentBody,
  type EmbedResultBody,
  type EmbedSettings,
  type ResultBody,
  type TextInput,
} from '@meshchain/protocol';
import { ControlPlaneError, InvalidRequestError } from '../errors.ts';
import type { Job, ShardInput } from '../jobs/types.ts';
import { MAX_JOB_INPUTS } from './infer.ts';
import { assertShardsFitMessages, stripUndefined } from './message-size.ts';
import { leaseHeader } from './lease-header.ts';
import { parseRequestBody } from './parse-request.ts';
import type { WorkloadModule } from './types.ts';

export const DEFAULT_EMBED_SETTINGS: EmbedSettings = { contextSize: 512, batchSize: 512 };

/**
 * Room a result needs per input: a vector of up to this many dimensions at
 * ~24 bytes per JSON number (the 4,096 of today's large embedding models).
 */
const ASSUMED_DIMS = 4096;
const BYTES_PER_DIM = 24;
/** Tokens a tokenizer may add around a text (BOS, EOS) beyond one token per byte. */
const SPECIAL_TOKENS_PER_INPUT = 2;

export const submitEmbedSchema = z.object({
  workload: z.literal('embed'),
  model: sha256Schema,
  texts: z.array(z.string().min(1, 'a text to embed cannot be empty').max(LIMITS.maxPromptChars)).min(1).max(MAX_JOB_INPUTS),
  shardSize: z.number().int().min(1).max(LIMITS.maxInputsPerShard).default(8),
  settings: z
    .object({
      contextSize: z.number().int().min(16).max(131_072).optional(),
      batchSize: z.number().int().min(1).max(131_072).optional(),
    })
    .default({}),
});

/**
 * Batch embeddings with node-llama-cpp: one pooled vector per text, stitched
 * in input order. Sampled results are recomputed by a validator and each
 * vector must reach a cosine similarity threshold (`trust/`).
 */
export const embedWorkload: WorkloadModule = {
  name: 'embed',
  recomputedAtAdmission: false,

  parseRequest(body) {
    const { model, texts, shardSize, settings } = parseRequestBody(submitEmbedSchema, body);
    const merged: EmbedSettings = { ...DEFAULT_EMBED_SETTINGS, ...stripUndefined(settings) };
    const inputs: TextInput[] = texts.map((text, index) => ({ index, text }));
    assertShardsFitMessages(inputs, shardSize, (shard) => shard.length * ASSUMED_DIMS * BYTES_PER_DIM, 'use a smaller --shard-size');
    return { workload: 'embed', modelSha256: model, settings: merged, inputs, shardSize };
  },

  leaseMs(timing, _job, shard) {
    // Embedding a text costs about one prefill: count its bytes as tokens, generously.
    const bytes = texts(shard.inputs).reduce((sum, input) => sum + Buffer.byteLength(input.text), 0);
    return timing.baseMs + Math.ceil(bytes / 16) * timing.perTokenMs;
  },

  assignment(job, shard, lease, model): EmbedAssignmentBody {
    if (!model) throw new ControlPlaneError(`job ${job.id} has no model to assign`);
    return {
      ...leaseHeader(job, shard, lease),
      workload: 'embed',
      model,
      inputs: texts(shard.inputs),
      settings: embedJob(job).settings,
    };
  },

  judge(job, shard, body) {
    const result = embedResult(body);
    if (!result) return 'an embedding shard needs an embedding result';
    if (result.modelSha256 !== embedJob(job).modelSha256) return `wrong model hash ${result.modelSha256.slice(0, 12)}…`;
    if (result.outputs.length !== shard.inputs.length) return `expected ${shard.inputs.length} outputs, got ${result.outputs.length}`;
    const dims = result.outputs[0]?.vector.length ?? 0;
    for (const [i, output] of result.outputs.entries()) {
      const input = shard.inputs[i];
      if (!input || output.index !== input.index) return `output ${i} has index ${output.index}, expected ${input?.index}`;
      if (output.vector.length !== dims) return `output ${output.index} has ${output.vector.length} dimensions, output 0 has ${dims}`;
    }
    return null;
  },

  work(body) {
    const result = embedResult(body);
    return result ? { tokens: 0, computeMs: result.stats.computeMs } : { tokens: 0, computeMs: 0 };
  },

  units(inputs, body, costFactor) {
    const result = embedResult(body);
    if (!result) throw new ControlPlaneError('an embedding shard needs an embedding result');
    // The node's own token count, capped at what the texts can possibly produce (a tokenizer never makes more tokens than bytes).
    const ceiling = texts(inputs).reduce((sum, input) => sum + Buffer.byteLength(input.text, 'utf8') + SPECIAL_TOKENS_PER_INPUT, 0);
    const promptTokens = Math.min(Math.max(0, result.stats.promptTokens), ceiling);
    return { promptTokens, generatedTokens: 0, units: promptTokens * costFactor };
  },

  outputLines(inputs, body) {
    const result = embedResult(body);
    if (!result) throw new ControlPlaneError('an embedding shard needs an embedding result');
    const byIndex = new Map(result.outputs.map((o) => [o.index, o]));
    return texts(inputs).map((input) => {
      const output = byIndex.get(input.index);
      if (!output) throw new ControlPlaneError(`missing output for input ${input.index}`);
      return { index: input.index, text: input.text, embedding: output.vector };
    });
  },
};

function embedJob(job: Job): Extract<Job, { workload: 'embed' }> {
  if (job.workload !== 'embed') throw new ControlPlaneError(`job ${job.id} is a ${job.workload} job, not embed`);
  return job;
}

function embedResult(body: ResultBody): EmbedResultBody | null {
  return body.workload === 'embed' ? body : null;
}

export function texts(inputs: readonly ShardInput[]): TextInput[] {
  return inputs.map((input) => {
    if (!('text' in input)) throw new ControlPlaneError(`input ${input.index} is not a text to embed`);
    return input;
  });
}

/**
 * Texts from JSONL (`meshchain submit embed --input`): each non-empty line is
 * a JSON string or an object with a string `text`. Errors name the line.
 */
export function parseTextsJsonl(content: string, path: string): string[] {
  const lines: string[] = [];
  content.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new InvalidRequestError(`${path}:${i + 1}: not JSON; each line must be "a text" or {"text": "…"}`);
    }
    const text = typeof value === 'string' ? value : value && typeof value === 'object' ? (value as { text?: unknown }).text : undefined;
    if (typeof text !== 'string') throw new InvalidRequestError(`${path}:${i + 1}: expected "a text" or {"text": "…"}`);
    if (text.length === 0) throw new InvalidRequestError(`${path}:${i + 1}: the text is empty; there is nothing to embed`);
    lines.push(text);
  });
  if (lines.length === 0) throw new InvalidRequestError(`${path} has no texts`);
  return lines;
}
