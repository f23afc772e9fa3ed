import type { EmbedOutput, EmbedResultBody } from '@meshchain/protocol';
import type { ShardRunner } from '../shard-runner.ts';
import type { LlamaRunnerOptions } from './runtime.ts';

/** The `embed` workload: fetch the model if needed, then embed the shard's texts in the llama worker process. */
export function embedShardRunner(options: LlamaRunnerOptions): ShardRunner<'embed'> {
  return async (assignment, { signal, onOutput }) => {
    const path = await options.models.ensure(assignment.model, signal);
    const model = { path, sha256: assignment.model.sha256 };
    const embeddings = await options.runtime.embed(model, assignment.inputs.map((input) => input.text), { ...assignment.settings, threads: options.threads }, signal);
    const outputs: EmbedOutput[] = assignment.inputs.map((input, i) => ({ index: input.index, vector: embeddings.vectors[i] ?? [] }));
    onOutput({ tokens: 0, computeMs: embeddings.ms });
    const result: EmbedResultBody = {
      workload: 'embed',
      jobId: assignment.jobId,
      shardId: assignment.shardId,
      leaseId: assignment.leaseId,
      modelSha256: assignment.model.sha256,
      inputHash: assignment.inputHash,
      outputs,
      stats: { promptTokens: embeddings.tokens, computeMs: embeddings.ms },
    };
    return { result, tokens: 0, computeMs: embeddings.ms };
  };
}
