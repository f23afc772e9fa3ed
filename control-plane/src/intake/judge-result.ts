import type { ResultBody } from '@meshchain/protocol';
import type { Job, Shard } from '../jobs/types.ts';
import type { Lease } from '../scheduler/lease-store.ts';

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
 * checked on receipt): lease ownership, then input and model hashes, then
 * the outputs' shape against the assignment. Spot-check recomputation comes after.
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

  if (body.modelSha256 !== job.modelSha256) return reject(`wrong model hash ${body.modelSha256.slice(0, 12)}…`, true);
  if (body.inputHash !== shard.inputHash) return reject('wrong input hash', true);
  if (body.outputs.length !== shard.inputs.length) {
    return reject(`expected ${shard.inputs.length} outputs, got ${body.outputs.length}`, true);
  }
  const maxTokens = job.settings.maxTokens;
  for (const [i, output] of body.outputs.entries()) {
    const input = shard.inputs[i];
    if (!input || output.index !== input.index) return reject(`output ${i} has index ${output.index}, expected ${input?.index}`, true);
    if (output.tokens.length > maxTokens) return reject(`output ${output.index} has ${output.tokens.length} tokens > ${maxTokens}`, true);
    if (output.finishReason === 'length' && output.tokens.length !== maxTokens) {
      return reject(`output ${output.index} stopped for length after ${output.tokens.length} of ${maxTokens} tokens`, true);
    }
    if (output.finishReason === 'eos' && output.tokens.length >= maxTokens) {
      return reject(`output ${output.index} claims end-of-sequence at the token limit`, true);
    }
  }
  return { status: 'accepted' };
}

function reject(reason: string, penalize: boolean): Verdict {
  return { status: 'rejected', reason, penalize };
}
