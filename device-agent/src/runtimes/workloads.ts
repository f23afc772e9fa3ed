import { embedShardRunner } from './llama/run-embed.ts';
import { inferShardRunner } from './llama/run-shard.ts';
import { verifyShardRunner } from './llama/run-verify.ts';
import type { LlamaRunnerOptions } from './llama/runtime.ts';
import type { ShardRunners } from './shard-runner.ts';
import { runSyntheticShard } from './synthetic/index.ts';

export { runShard, type ShardContext, type ShardOutcome, type ShardRunner, type ShardRunners } from './shard-runner.ts';

/** The agent's runner for each workload. Adding a workload: a runner under runtimes/<name>/ and an entry here. */
export function createShardRunners(options: LlamaRunnerOptions): ShardRunners {
  return {
    infer: inferShardRunner(options),
    synthetic: runSyntheticShard,
    embed: embedShardRunner(options),
    verify: verifyShardRunner(options),
  };
}
