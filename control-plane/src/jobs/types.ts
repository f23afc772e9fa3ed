import type { EmbedSettings, GenerationSettings, PromptInput, SyntheticInput, TextInput } from '@meshchain/protocol';

export type JobState = 'running' | 'completed' | 'failed' | 'cancelled';
export type ShardState = 'queued' | 'leased' | 'completed' | 'failed';

/** Settings of a synthetic job: none yet (each item declares its own sleep and units). */
export type SyntheticSettings = Record<string, never>;

/** What a job is, per workload: a discriminated union on `workload`. */
export type JobSpec =
  | { workload: 'infer'; modelSha256: string; settings: GenerationSettings }
  | { workload: 'synthetic'; modelSha256: null; settings: SyntheticSettings }
  | { workload: 'embed'; modelSha256: string; settings: EmbedSettings };

/** One input of a shard, of whichever workload its job is. */
export type ShardInput = PromptInput | SyntheticInput | TextInput;

export type Job = JobSpec & {
  id: string;
  shardSize: number;
  inputCount: number;
  shardCount: number;
  state: JobState;
  error: string | null;
  createdAt: number;
  completedAt: number | null;
  manifestRoot: string | null;
  /** Fair-share weight: a job gets free slots in proportion to its priority (1–100, default 10). */
  priority: number;
};

export interface Shard {
  id: string;
  jobId: string;
  idx: number;
  inputs: ShardInput[];
  inputHash: string;
  state: ShardState;
  leaseId: string | null;
  nodeId: string | null;
  leaseUntil: number | null;
  attempts: number;
  nextAttemptAt: number;
  excludedNodes: string[];
  resultId: string | null;
  resultHash: string | null;
  completedAt: number | null;
  lastError: string | null;
}

export interface JobProgress {
  shards: { total: number; queued: number; leased: number; completed: number; failed: number };
  inputs: { total: number; completed: number };
}

export interface JobRow {
  id: string;
  workload: string;
  model_sha256: string | null;
  settings: string;
  shard_size: number;
  input_count: number;
  shard_count: number;
  state: JobState;
  error: string | null;
  created_at: number;
  completed_at: number | null;
  manifest_root: string | null;
  priority: number;
}

export interface ShardRow {
  id: string;
  job_id: string;
  idx: number;
  inputs: string;
  input_hash: string;
  state: ShardState;
  lease_id: string | null;
  node_id: string | null;
  lease_until: number | null;
  attempts: number;
  next_attempt_at: number;
  excluded_nodes: string;
  result_id: string | null;
  result_hash: string | null;
  completed_at: number | null;
  last_error: string | null;
}

export function jobFromRow(row: JobRow): Job {
  return {
    ...jobSpecFromRow(row),
    id: row.id,
    shardSize: row.shard_size,
    inputCount: row.input_count,
    shardCount: row.shard_count,
    state: row.state,
    error: row.error,
    createdAt: row.created_at,
    completedAt: row.completed_at,
    manifestRoot: row.manifest_root,
    priority: row.priority,
  };
}

function jobSpecFromRow(row: JobRow): JobSpec {
  if (row.workload === 'synthetic') return { workload: 'synthetic', modelSha256: null, settings: {} };
  if (row.workload === 'embed' && row.model_sha256 !== null) return { workload: 'embed', modelSha256: row.model_sha256, settings: JSON.parse(row.settings) as EmbedSettings };
  if (row.workload !== 'infer' || row.model_sha256 === null) throw new Error(`job ${row.id} has an unknown workload "${row.workload}" or no model`);
  return { workload: 'infer', modelSha256: row.model_sha256, settings: JSON.parse(row.settings) as GenerationSettings };
}

export function shardFromRow(row: ShardRow): Shard {
  return {
    id: row.id,
    jobId: row.job_id,
    idx: row.idx,
    inputs: JSON.parse(row.inputs) as ShardInput[],
    inputHash: row.input_hash,
    state: row.state,
    leaseId: row.lease_id,
    nodeId: row.node_id,
    leaseUntil: row.lease_until,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    excludedNodes: JSON.parse(row.excluded_nodes) as string[],
    resultId: row.result_id,
    resultHash: row.result_hash,
    completedAt: row.completed_at,
    lastError: row.last_error,
  };
}
