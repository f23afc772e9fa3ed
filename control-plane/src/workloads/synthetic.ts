import { z } from 'zod';
import {
  LIMITS,
  syntheticInputSchema,
  type ResultBody,
  type SyntheticAssignmentBody,
  type SyntheticInput,
  type SyntheticResultBody,
} from '@meshchain/protocol';
import { ControlPlaneError } from '../errors.ts';
import type { ShardInput } from '../jobs/types.ts';
import { MAX_JOB_INPUTS } from './infer.ts';
import { assertShardsFitMessages } from './message-size.ts';
import { leaseHeader } from './lease-header.ts';
import { parseRequestBody } from './parse-request.ts';
import type { WorkloadModule } from './types.ts';

export const submitSyntheticSchema = z.object({
  workload: z.literal('synthetic'),
  /** Each item: the text the node must echo, an optional sleep, and the units it is worth. */
  items: z.array(syntheticInputSchema.omit({ index: true })).min(1).max(MAX_JOB_INPUTS),
  shardSize: z.number().int().min(1).max(LIMITS.maxInputsPerShard).default(1),
});

/**
 * A workload that needs no model: each item is echoed back after an optional
 * sleep, and is worth its declared units. It travels the same signed path as
 * inference (assignment → signed result → verify → ack → recorded), and every
 * result is recomputed at admission (the echo must match), so simulated fleets
 * and benchmarks exercise the real control plane at any scale.
 */
export const syntheticWorkload: WorkloadModule = {
  name: 'synthetic',
  recomputedAtAdmission: true,

  parseRequest(body) {
    const { items, shardSize } = parseRequestBody(submitSyntheticSchema, body);
    const inputs: SyntheticInput[] = items.map((item, index) => ({ index, ...item }));
    assertShardsFitMessages(inputs, shardSize, (shard) => Buffer.byteLength(JSON.stringify(shard)), 'use a smaller --items-per-shard or shorter echoes');
    return { workload: 'synthetic', modelSha256: null, settings: {}, inputs, shardSize };
  },

  leaseMs(timing, _job, shard) {
    return timing.baseMs + items(shard.inputs).reduce((sum, item) => sum + (item.sleepMs ?? 0), 0);
  },

  assignment(job, shard, lease): SyntheticAssignmentBody {
    return {
      ...leaseHeader(job, shard, lease),
      workload: 'synthetic',
      inputs: items(shard.inputs),
    };
  },

  judge(_job, shard, body) {
    const result = syntheticResult(body);
    if (!result) return 'a synthetic shard needs a synthetic result';
    if (result.outputs.length !== shard.inputs.length) return `expected ${shard.inputs.length} outputs, got ${result.outputs.length}`;
    const inputs = items(shard.inputs);
    for (const [i, output] of result.outputs.entries()) {
      const input = inputs[i];
      if (!input || output.index !== input.index) return `output ${i} has index ${output.index}, expected ${input?.index}`;
      // The recomputation: echoing is the whole computation.
      if (output.echo !== input.echo) return `output ${output.index} does not echo its input`;
    }
    return null;
  },

  work(body) {
    return { tokens: 0, computeMs: syntheticResult(body)?.stats.computeMs ?? 0 };
  },

  units(inputs, _body, costFactor) {
    return { promptTokens: 0, generatedTokens: 0, units: items(inputs).reduce((sum, item) => sum + item.units, 0) * costFactor };
  },

  outputLines(inputs, body) {
    const result = syntheticResult(body);
    if (!result) throw new ControlPlaneError('a synthetic shard needs a synthetic result');
    return items(inputs).map((input, i) => ({ index: input.index, echo: result.outputs[i]?.echo ?? '', units: input.units }));
  },
};

function syntheticResult(body: ResultBody): SyntheticResultBody | null {
  return body.workload === 'synthetic' ? body : null;
}

function items(inputs: readonly ShardInput[]): SyntheticInput[] {
  return inputs.map((input) => {
    if (!('echo' in input)) throw new ControlPlaneError(`input ${input.index} is not a synthetic item`);
    return input;
  });
}
