import type { InferOutput, InferResultBody } from '@meshchain/protocol';
import type { ShardRunner } from '../shard-runner.ts';
import type { LlamaRunnerOptions } from './runtime.ts';

/** The `infer` workload: fetch the model if needed, then generate each prompt greedily. */
export function inferShardRunner(options: LlamaRunnerOptions): ShardRunner<'infer'> {
  return async (assignment, { signal, onOutput }) => {
    const path = await options.models.ensure(assignment.model, signal);
    const model = { path, sha256: assignment.model.sha256 };
    const outputs: InferOutput[] = [];
    let promptTokens = 0;
    let generated = 0;
    // Inference time only: model download and load are not the shard's compute.
    let computeMs = 0;
    for (const input of assignment.inputs) {
      const generation = await options.runtime.generate(model, input.prompt, { ...assignment.settings, threads: options.threads }, signal);
      outputs.push({ index: input.index, tokens: generation.tokens, text: generation.text, finishReason: generation.finishReason });
      promptTokens += generation.promptTokens.length;
      generated += generation.tokens.length;
      computeMs += generation.timings.promptMs + generation.timings.generateMs;
      onOutput({ tokens: generated, computeMs });
    }
    const result: InferResultBody = {
      jobId: assignment.jobId,
      shardId: assignment.shardId,
      leaseId: assignment.leaseId,
      modelSha256: assignment.model.sha256,
      inputHash: assignment.inputHash,
      outputs,
      stats: { promptTokens, generatedTokens: generated, computeMs },
    };
    return { result, tokens: generated, computeMs };
  };
}
