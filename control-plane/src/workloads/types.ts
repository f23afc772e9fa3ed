import type { AssignmentBody, ModelRef, ResultBody, Workload } from '@meshchain/protocol';
import type { Job, JobSpec, Shard, ShardInput } from '../jobs/types.ts';

/** A validated job request, ready for `JobStore.createJob`. */
export type ParsedJobRequest = JobSpec & {
  inputs: ShardInput[];
  shardSize: number;
  /** Fair-share weight, 1–100. */
  priority?: number;
};

/** How long a lease lasts: a fixed part plus a part per unit of expected work. */
export interface LeaseTiming {
  /** Fixed part of every lease. */
  baseMs: number;
  /** Added per token an inference shard may generate (inputs × maxTokens). */
  perTokenMs: number;
}

/** One line of a job's output, in input order. */
export type OutputLine =
  | { index: number; prompt: string; tokens: number[]; text: string }
  | { index: number; echo: string; units: number }
  | { index: number; text: string; embedding: number[] };

export interface ShardUnits {
  promptTokens: number;
  generatedTokens: number;
  units: number;
}

/** What the control plane needs to know about one workload. One module per workload, in this folder. */
export interface WorkloadModule {
  readonly name: Workload;
  /** Validates a `POST /v1/jobs` body whose `workload` is this one (throws InvalidRequestError). */
  parseRequest(body: unknown): ParsedJobRequest;
  /** The lease length for one shard. */
  leaseMs(timing: LeaseTiming, job: Job, shard: Shard): number;
  /** The signed assignment body for a leased shard; `model` is the job's model, when it has one. */
  assignment(job: Job, shard: Shard, lease: { id: string; until: number }, model: ModelRef | null): AssignmentBody;
  /**
   * Admission checks of a result's workload-specific part (the lease, job and input hash are
   * already checked): a reason to reject it (the node is penalized), or null.
   */
  judge(job: Job, shard: Shard, body: ResultBody): string | null;
  /** True when `judge` recomputes every output, so a spot check can add nothing. */
  readonly recomputedAtAdmission: boolean;
  /** Work a node is credited with in its counters. */
  work(body: ResultBody): { tokens: number; computeMs: number };
  /** Compute units of an accepted shard (the reward measure), given the model's cost factor. */
  units(inputs: readonly ShardInput[], body: ResultBody, costFactor: number): ShardUnits;
  /** A completed shard's output lines. */
  outputLines(inputs: readonly ShardInput[], body: ResultBody): OutputLine[];
}
