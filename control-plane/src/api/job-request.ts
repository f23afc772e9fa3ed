import { z } from 'zod';
import { LIMITS, sha256Schema, zodSummary, type GenerationSettings, type PromptInput } from '@meshchain/protocol';
import { InvalidRequestError } from '../errors.ts';

export const DEFAULT_SETTINGS: GenerationSettings = {
  maxTokens: 32,
  temperature: 0,
  seed: 0,
  contextSize: 512,
  batchSize: 512,
  addBos: true,
};

export const MAX_JOB_INPUTS = 100_000;

export const submitJobSchema = z.object({
  workload: z.literal('infer'),
  model: sha256Schema,
  prompts: z.array(z.string().max(LIMITS.maxPromptChars)).min(1).max(MAX_JOB_INPUTS),
  shardSize: z.number().int().min(1).max(LIMITS.maxInputsPerShard).default(4),
  settings: z
    .object({
      maxTokens: z.number().int().min(1).max(LIMITS.maxTokensPerOutput).optional(),
      seed: z.number().int().nonnegative().max(2 ** 32 - 1).optional(),
      contextSize: z.number().int().min(16).max(131_072).optional(),
      batchSize: z.number().int().min(1).max(131_072).optional(),
      addBos: z.boolean().optional(),
    })
    .default({}),
});
export type SubmitJobRequest = z.input<typeof submitJobSchema>;

export interface ParsedJobRequest {
  modelSha256: string;
  inputs: PromptInput[];
  shardSize: number;
  settings: GenerationSettings;
}

export function parseJobRequest(body: unknown): ParsedJobRequest {
  const parsed = submitJobSchema.safeParse(body);
  if (!parsed.success) throw new InvalidRequestError('invalid job', { details: zodSummary(parsed.error) });
  const { model, prompts, shardSize, settings } = parsed.data;
  const merged: GenerationSettings = { ...DEFAULT_SETTINGS, ...stripUndefined(settings) };
  if (merged.maxTokens >= merged.contextSize) {
    throw new InvalidRequestError(`maxTokens (${merged.maxTokens}) must be below contextSize (${merged.contextSize})`);
  }
  const inputs = prompts.map((prompt, index) => ({ index, prompt }));
  assertShardsFitMessages(inputs, shardSize, merged.maxTokens);
  return { modelSha256: model, inputs, shardSize, settings: merged };
}

/** Room for the envelope, ids, hashes and settings around a shard's inputs or outputs. */
const MESSAGE_OVERHEAD_BYTES = 4096;
/** A generous size of one generated token in a result: its id and its text, JSON-escaped. */
const RESULT_BYTES_PER_TOKEN = 16;

/**
 * Every assignment and every result travels as one MQTT message: refuse a
 * job whose shards could not, rather than let their leases expire.
 */
function assertShardsFitMessages(inputs: PromptInput[], shardSize: number, maxTokens: number): void {
  for (let start = 0; start < inputs.length; start += shardSize) {
    const shard = inputs.slice(start, start + shardSize);
    const assignmentBytes = Buffer.byteLength(JSON.stringify(shard)) + MESSAGE_OVERHEAD_BYTES;
    const resultBytes = shard.length * maxTokens * RESULT_BYTES_PER_TOKEN + MESSAGE_OVERHEAD_BYTES;
    const largest = Math.max(assignmentBytes, resultBytes);
    if (largest > LIMITS.maxPayloadBytes) {
      throw new InvalidRequestError(
        `shard ${start / shardSize} could need a ${Math.ceil(largest / 1024)} KiB message, over the ${LIMITS.maxPayloadBytes / 1024} KiB limit`,
        { details: 'use a smaller --shard-size (or fewer --max-tokens)' },
      );
    }
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
