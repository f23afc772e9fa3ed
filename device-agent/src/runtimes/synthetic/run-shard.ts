import { setTimeout as sleep } from 'node:timers/promises';
import type { SyntheticAssignmentBody, SyntheticOutput, SyntheticResultBody } from '@meshchain/protocol';
import type { ShardContext, ShardOutcome } from '../shard-runner.ts';

export const SYNTHETIC_ENGINE = 'builtin-echo';

/**
 * The `synthetic` workload: echo each item after sleeping its `sleepMs`.
 * Needs no model and no worker process, so simulated fleets can run
 * thousands of nodes in one process through the same signed path.
 */
export async function runSyntheticShard(assignment: SyntheticAssignmentBody, { signal, onOutput }: ShardContext): Promise<ShardOutcome> {
  const started = performance.now();
  const outputs: SyntheticOutput[] = [];
  for (const item of assignment.inputs) {
    signal.throwIfAborted();
    if (item.sleepMs) await sleep(item.sleepMs, undefined, { signal });
    outputs.push({ index: item.index, echo: item.echo });
    onOutput({ tokens: 0, computeMs: performance.now() - started });
  }
  const computeMs = performance.now() - started;
  const result: SyntheticResultBody = {
    workload: 'synthetic',
    jobId: assignment.jobId,
    shardId: assignment.shardId,
    leaseId: assignment.leaseId,
    inputHash: assignment.inputHash,
    outputs,
    stats: { computeMs },
  };
  return { result, tokens: 0, computeMs };
}
