import { workloadOfResult, type ResultBody } from '@meshchain/protocol';
import type { Job, Shard } from '../jobs/types.ts';
import type { Lease } from '../scheduler/lease-store.ts';
import { workloadModule } from '../workloads/index.ts';

export type Verdict =
  | { status: 'accepted' }
  | { status: 'duplicate'; reason: string }
  /** `penalize`: the node sent something wrong for a shard it holds, so the shard goes elsewhere. */
  | { status: 'rejected'; reason: string; penalize: boolean };

export interface ResultContext {
  nodeId: string;
  body: ResultBody;
  job: Job | null;
  shard: Shard | null;
  lease: Lease | null;
}

/**
 * Pure admission checks of a signed result (the signature and schema were
 * checked on receipt): lease ownership, then the workload and input hash, then
 * the workload's own checks (`workloads/<name>.ts`: model hash and output
 * shape for inference). Spot-check recomputation comes after.
 */
export function judgeResult({ nodeId, body, job, shard, lease }: ResultContext): Verdict {
  if (!shard || !job || shard.jobId !== body.jobId) return reject(`unknown shard ${body.shardId} of job ${body.jobId}`, false);
  if (!lease || lease.shardId !== shard.id) return reject(`lease ${body.leaseId} does not belong to shard ${shard.id}`, false);
  if (lease.nodeId !== nodeId) return reject(`shard ${shard.id} is leased to another node`, false);
  // A late result under an expired lease may still win; one under a lease that
  // was rejected or given back may not (that would undo the node's exclusion).
  if (lease.state === 'rejected' || lease.state === 'handed_back') {
    return reject(`lease ${lease.id} was ${lease.state === 'rejected' ? 'rejected' : 'handed back'}`, false);
  }
  if (shard.state === 'completed') {
    return {
      status: 'duplicate',
      reason: shard.leaseId === lease.id ? 'result already accepted' : 'shard already completed by another lease',
    };
  }
  if (job.state !== 'running' || shard.state === 'failed') return reject(`job ${job.id} is ${job.state}`, false);

  const workload = workloadOfResult(body);
  if (workload !== job.workload) return reject(`a ${workload} result for a ${job.workload} job`, true);
  if (body.inputHash !== shard.inputHash) return reject('wrong input hash', true);
  const wrong = workloadModule(job.workload).judge(job, shard, body);
  if (wrong !== null) return reject(wrong, true);
  return { status: 'accepted' };
}

function reject(reason: string, penalize: boolean): Verdict {
  return { status: 'rejected', reason, penalize };
}
