import { canonicalHash } from '@meshchain/protocol';

export interface PlannedShard<T> {
  idx: number;
  inputs: T[];
  /** canonicalHash(inputs): what the node's result must echo. */
  inputHash: string;
}

/** Cuts inputs, in order, into shards of at most `shardSize` inputs. Works for the inputs of any workload. */
export function cutIntoShards<T>(inputs: readonly T[], shardSize: number): PlannedShard<T>[] {
  if (!Number.isInteger(shardSize) || shardSize < 1) throw new RangeError('shard size must be a positive integer');
  const shards: PlannedShard<T>[] = [];
  for (let start = 0; start < inputs.length; start += shardSize) {
    const slice = inputs.slice(start, start + shardSize);
    shards.push({ idx: shards.length, inputs: slice, inputHash: canonicalHash(slice) });
  }
  return shards;
}
