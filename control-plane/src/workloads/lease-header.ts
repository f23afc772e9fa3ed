import type { Job, Shard } from '../jobs/types.ts';

/** The fields every workload's assignment carries about the job, the shard and its lease. */
export function leaseHeader(job: Job, shard: Shard, lease: { id: string; until: number }) {
  return {
    jobId: job.id,
    shardId: shard.id,
    shardIndex: shard.idx,
    leaseId: lease.id,
    leaseUntil: lease.until,
    inputHash: shard.inputHash,
  };
}
