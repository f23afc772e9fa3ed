import { z } from 'zod';
import {
  LIMITS,
  sha256Schema,
  type GenerationSettings,
  type InferAssignmentBody,
  type InferResultBody,
  type PromptInput,
  type ResultBody,
} from '@meshchain/protocol';
import { InvalidRequestError, ControlPlaneError } from '../errors.ts';
import type { Job, ShardInput } from '../jobs/types.ts';
import { shardUnits } from '../rewards/units.ts';
import { assertShardsFitMessages, stripUndefined } from './message-size.ts';
import { leaseHeader } from './lease-header.ts';
import { parseRequestBody } from './parse-request.ts';
import type { WorkloadModule } from './types.ts';

export const DEFAULT_SETTINGS: GenerationSettings = {
  maxTokens: 32,
  temperature: 0,
  seed: 0,
  contextSize: 512,
  batchSize: 512,
  addBos: true,
};

export const MAX_JOB_INPUTS = 100_000;

/** A generous size of one generated token in a result: its id and its text, JSON-escaped. */
const RESULT_BYTES_PER_TOKEN = 16;

export const submitInferSchema = z.object({
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

/** Text generation with node-llama-cpp: greedy, checked by teacher-forced prefill (`trust/`). */
export const inferWorkload: WorkloadModule = {
  name: 'infer',
  recomputedAtAdmission: false,

  parseRequest(body) {
    const { model, prompts, shardSize, settings } = parseRequestBody(submitInferSchema, body);
    const merged: GenerationSettings = { ...DEFAULT_SETTINGS, ...stripUndefined(settings) };
    if (merged.maxTokens >= merged.contextSize) {
      throw new InvalidRequestError(`maxTokens (${merged.maxTokens}) must be below contextSize (${merged.contextSize})`);
    }
    const inputs: PromptInput[] = prompts.map((prompt, index) => ({ index, prompt }));
    assertShardsFitMessages(inputs, shardSize, (shard) => shard.length * merged.maxTokens * RESULT_BYTES_PER_TOKEN, 'use a smaller --shard-size (or fewer --max-tokens)');
    return { workload: 'infer', modelSha256: model, settings: merged, inputs, shardSize };
  },

  leaseMs(timing, job, shard) {
    return timing.baseMs + shard.inputs.length * inferJob(job).settings.maxTokens * timing.perTokenMs;
  },

  assignment(job, shard, lease, model): InferAssignmentBody {
    const { settings } = inferJob(job);
    if (!model) throw new ControlPlaneError(`job ${job.id} has no model to assign`);
    return {
      ...leaseHeader(job, shard, lease),
      workload: 'infer',
      model,
      inputs: prompts(shard.inputs),
      settings,
    };
  },

  judge(job, shard, body) {
    const { modelSha256, settings } = inferJob(job);
    const result = inferResult(body);
    if (!result) return 'an inference shard needs an inference result';
    if (result.modelSha256 !== modelSha256) return `wrong model hash ${result.modelSha256.slice(0, 12)}…`;
    if (result.outputs.length !== shard.inputs.length) return `expected ${shard.inputs.length} outputs, got ${result.outputs.length}`;
    const maxTokens = settings.maxTokens;
    for (const [i, output] of result.outputs.entries()) {
      const input = shard.inputs[i];
      if (!input || output.index !== input.index) return `output ${i} has index ${output.index}, expected ${input?.index}`;
      if (output.tokens.length > maxTokens) return `output ${output.index} has ${output.tokens.length} tokens > ${maxTokens}`;
      if (output.finishReason === 'length' && output.tokens.length !== maxTokens) {
        return `output ${output.index} stopped for length after ${output.tokens.length} of ${maxTokens} tokens`;
      }
      if (output.finishReason === 'eos' && output.tokens.length >= maxTokens) return `output ${output.index} claims end-of-sequence at the token limit`;
    }
    return null;
  },

  work(body) {
    const result = inferResult(body);
    return result ? { tokens: result.stats.generatedTokens, computeMs: result.stats.computeMs } : { tokens: 0, computeMs: 0 };
  },

  units(inputs, body, costFactor) {
    const result = inferResult(body);
    if (!result) throw new ControlPlaneError('an inference shard needs an inference result');
    return shardUnits({ inputs: prompts(inputs), result, costFactor });
  },

  outputLines(inputs, body) {
    const result = inferResult(body);
    if (!result) throw new ControlPlaneError('an inference shard needs an inference result');
    const byIndex = new Map(result.outputs.map((o) => [o.index, o]));
    return prompts(inputs).map((input) => {
      const output = byIndex.get(input.index);
      if (!output) throw new ControlPlaneError(`missing output for input ${input.index}`);
      return { index: input.index, prompt: input.prompt, tokens: output.tokens, text: output.text };
    });
  },
};

function inferJob(job: Job): Extract<Job, { workload: 'infer' }> {
  if (job.workload !== 'infer') throw new ControlPlaneError(`job ${job.id} is a ${job.workload} job, not infer`);
  return job;
}

function inferResult(body: ResultBody): InferResultBody | null {
  return body.workload === undefined || body.workload === 'infer' ? body : null;
}

function prompts(inputs: readonly ShardInput[]): PromptInput[] {
  return inputs.map((input) => {
    if (!('prompt' in input)) throw new ControlPlaneError(`input ${input.index} is not a prompt`);
    return input;
  });
}
