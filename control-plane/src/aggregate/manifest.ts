import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import type { InferOutput, PromptInput } from '@meshchain/protocol';

export const MANIFEST_LEAF_TYPES = ['uint32', 'bytes32', 'string', 'string'] as const;

export interface ManifestShard {
  index: number;
  shardId: string;
  nodeId: string;
  /** sha256 of the canonical result body. */
  resultHash: string;
  verdict: 'accepted';
  inputs: { first: number; last: number };
}

export interface Manifest {
  jobId: string;
  modelSha256: string;
  inputCount: number;
  shards: ManifestShard[];
  /**
   * Merkle root (OpenZeppelin StandardMerkleTree) over leaves
   * (uint32 shardIndex, bytes32 resultHash, string nodeId, string verdict).
   */
  root: string;
}

export interface OutputLine {
  index: number;
  prompt: string;
  tokens: number[];
  text: string;
}

export function manifestLeaf(shard: ManifestShard): [number, string, string, string] {
  return [shard.index, `0x${shard.resultHash}`, shard.nodeId, shard.verdict];
}

export function buildManifest(jobId: string, modelSha256: string, inputCount: number, shards: ManifestShard[]): Manifest {
  const ordered = [...shards].sort((a, b) => a.index - b.index);
  const tree = StandardMerkleTree.of(ordered.map(manifestLeaf), [...MANIFEST_LEAF_TYPES]);
  return { jobId, modelSha256, inputCount, shards: ordered, root: tree.root };
}

/** Stitches shard outputs into the job's output, in input order. */
export function stitchOutputs(parts: { inputs: PromptInput[]; outputs: InferOutput[] }[]): OutputLine[] {
  const lines: OutputLine[] = [];
  for (const { inputs, outputs } of parts) {
    const byIndex = new Map(outputs.map((o) => [o.index, o]));
    for (const input of inputs) {
      const output = byIndex.get(input.index);
      if (!output) throw new Error(`missing output for input ${input.index}`);
      lines.push({ index: input.index, prompt: input.prompt, tokens: output.tokens, text: output.text });
    }
  }
  return lines.sort((a, b) => a.index - b.index);
}
