export { runSyntheticShard, SYNTHETIC_ENGINE } from './run-shard.ts';
