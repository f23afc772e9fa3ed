import { canonicalHash, type PromptInput } from '@meshchain/protocol';

export interface PlannedShard {
  idx: number;
  inputs: PromptInput[];
  /** canonicalHash(inputs): what the node's result must echo. */
  inputHash: string;
}

/** Cuts inputs, in order, into shards of at most `shardSize` inputs. */
export function cutIntoShards(inputs: readonly PromptInput[], shardSize: number): PlannedShard[] {
  if (!Number.isInteger(shardSize) || shardSize < 1) throw new RangeError('shard size must be a positive integer');
  const shards: PlannedShard[] = [];
  for (let start = 0; start < inputs.length; start += shardSize) {
    const slice = inputs.slice(start, start + shardSize);
    shards.push({ idx: shards.length, inputs: slice, inputHash: canonicalHash(slice) });
  }
  return shards;
}
