import type { VerifyResultBody } from '@meshchain/protocol';
import type { ShardRunner } from '../shard-runner.ts';
import type { LlamaRunnerOptions } from './runtime.ts';
import { checkShard, outputVerdicts, shardCheckOf } from './verify.ts';

/**
 * The `verify` workload of a node with role `validator`: recompute another
 * node's result with the same checks the control plane runs (`verify.ts`)
 * and return a signed verdict. A check that cannot run (model, worker) fails
 * the task, which the agent hands back: the control plane then checks the
 * result itself, and nobody is convicted on a validator's own failure.
 */
export function verifyShardRunner(options: LlamaRunnerOptions): ShardRunner<'verify'> {
  return async (assignment, { signal, onOutput }) => {
    const path = await options.models.ensure(assignment.target.model, signal);
    const shard = shardCheckOf(assignment, path);
    const verdict = await checkShard(options.runtime, shard, { tolerance: assignment.tolerance, minCosine: assignment.minCosine, threads: options.threads }, signal);
    onOutput({ tokens: 0, computeMs: verdict.ms });
    const result: VerifyResultBody = {
      workload: 'verify',
      jobId: assignment.jobId,
      shardId: assignment.shardId,
      leaseId: assignment.leaseId,
      inputHash: assignment.inputHash,
      resultId: assignment.resultId,
      verdict: verdict.ok ? 'pass' : 'fail',
      ...(verdict.ok ? {} : { reason: verdict.reason.slice(0, 512) }),
      outputs: outputVerdicts(shard.outputs.length, verdict).map((v, i) => ({ index: shard.outputs[i]?.index ?? i, verdict: v })),
      checked: verdict.checkedTokens,
      stats: { computeMs: verdict.ms },
    };
    return { result, tokens: 0, computeMs: verdict.ms };
  };
}
