import type { AssignmentBody, ResultBody, Workload } from '@meshchain/protocol';

/** What a workload runner reports while and after it runs a shard. */
export interface ShardContext {
  signal: AbortSignal;
  /** One more input is done; `tokens` and `computeMs` are totals so far. */
  onOutput(progress: { tokens: number; computeMs: number }): void;
}

export interface ShardOutcome {
  /** The result body to seal and publish. */
  result: ResultBody;
  /** Tokens generated (0 for workloads without tokens). */
  tokens: number;
  /** Compute time of the shard itself (model download and load excluded). */
  computeMs: number;
}

/** Runs one assignment of its workload. One per workload, under `runtimes/<name>/`. */
export type ShardRunner<W extends Workload> = (assignment: Extract<AssignmentBody, { workload: W }>, context: ShardContext) => Promise<ShardOutcome>;

/** A runner for every workload the agent knows: the type makes a new workload without a runner a compile error. */
export type ShardRunners = { [W in Workload]: ShardRunner<W> };

/** Runs an assignment with its workload's runner. */
export function runShard(runners: ShardRunners, assignment: AssignmentBody, context: ShardContext): Promise<ShardOutcome> {
  // The mapped type ties each workload to its runner; TypeScript cannot follow that through an index.
  const runner = runners[assignment.workload] as ShardRunner<Workload>;
  return runner(assignment as never, context);
}
