import type { ApiClient } from '@meshchain/control-plane';
import type { FleetSimulator } from './simulator.ts';

export interface SyntheticJobOptions {
  shards: number;
  itemsPerShard: number;
  sleepMs: number;
  /** Units each item is worth (default 1). */
  units?: number;
  timeoutMs?: number;
}

export interface SyntheticJobFigures {
  jobId: string;
  state: string;
  shards: number;
  /** Shards acknowledged as accepted (should equal `shards`). */
  accepted: number;
  /** First assignment sealed → last accepted ack received, in ms. */
  wallMs: number;
  shardsPerSecond: number;
  /** Assignment sealed by the control plane → accepted ack received by the node, per shard, in ms. */
  latencyMs: { p50: number; p99: number; max: number };
}

/**
 * Submits a synthetic job to the control plane, lets the simulated fleet run
 * it, and measures it from the fleet's side: every accepted ack closes one
 * shard's round trip (assignment sealed → signed result → verified and
 * recorded → ack received). Resolves when the job has left `running`.
 */
export async function runSyntheticJob(api: ApiClient, fleet: FleetSimulator, options: SyntheticJobOptions): Promise<SyntheticJobFigures> {
  // Events may arrive before the submit call returns: keep them per job, pick this job's after.
  const firstAssigned = new Map<string, number>();
  const acks = new Map<string, { shardId: string; at: number; latency: number | null }[]>();
  const distinct = new Map<string, Set<string>>();
  let target: { jobId: string; shards: number; done: () => void } | null = null;
  const unsubscribe = fleet.subscribe((event) => {
    if (event.type === 'assignment') {
      firstAssigned.set(event.body.jobId, Math.min(firstAssigned.get(event.body.jobId) ?? Number.POSITIVE_INFINITY, event.sealedAt));
    } else if (event.type === 'ack' && event.body.status === 'accepted') {
      const job = event.body.shardId.slice(0, event.body.shardId.lastIndexOf('.'));
      let list = acks.get(job);
      if (!list) acks.set(job, (list = []));
      list.push({ shardId: event.body.shardId, at: event.at, latency: event.assignedAt === null ? null : event.at - event.assignedAt });
      let shards = distinct.get(job);
      if (!shards) distinct.set(job, (shards = new Set()));
      shards.add(event.body.shardId);
      if (target && target.jobId === job && shards.size >= target.shards) target.done();
    }
  });
  try {
    const items = Array.from({ length: options.shards * options.itemsPerShard }, (_, i) => ({
      echo: `item ${i}`,
      units: options.units ?? 1,
      ...(options.sleepMs > 0 ? { sleepMs: options.sleepMs } : {}),
    }));
    const submitted = await api.submitJob({ workload: 'synthetic', items, shardSize: options.itemsPerShard });
    const jobId = submitted.job.id;
    const deadline = Date.now() + (options.timeoutMs ?? 10 * 60_000);
    // Every shard acknowledged ends the wait at once; a light poll of the job's state catches a job that fails.
    let allAcked = false;
    const acked = new Promise<void>((resolve) => {
      target = { jobId, shards: submitted.job.shardCount, done: resolve };
      if ((distinct.get(jobId)?.size ?? 0) >= submitted.job.shardCount) resolve();
    }).then(() => {
      allAcked = true;
    });
    let state = submitted.job.state as string;
    while (state === 'running') {
      if (Date.now() > deadline) throw new Error(`job ${jobId} still running after ${options.timeoutMs ?? 600_000} ms`);
      if (!allAcked) await Promise.race([acked, new Promise((resolve) => setTimeout(resolve, 2000))]);
      else await new Promise((resolve) => setTimeout(resolve, 50));
      state = (await api.job(jobId)).job.state;
    }
    const mine = acks.get(jobId) ?? [];
    const latencies = mine.flatMap((a) => (a.latency === null ? [] : [a.latency])).sort((a, b) => a - b);
    const at = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? Number.NaN;
    const wallMs = Math.max(...mine.map((a) => a.at)) - (firstAssigned.get(jobId) ?? Number.NaN);
    const distinctShards = new Set(mine.map((a) => a.shardId)).size;
    return {
      jobId,
      state,
      shards: submitted.job.shardCount,
      accepted: mine.length,
      wallMs,
      shardsPerSecond: wallMs > 0 ? (distinctShards / wallMs) * 1000 : Number.NaN,
      latencyMs: { p50: at(50), p99: at(99), max: latencies.at(-1) ?? Number.NaN },
    };
  } finally {
    unsubscribe();
  }
}
