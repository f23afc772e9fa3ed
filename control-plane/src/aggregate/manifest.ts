import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import type { InferOutput, PromptInput } from '@meshchain/protocol';

/** (string jobId, bytes32 modelSha256, uint32 shardIndex, bytes32 resultHash, string nodeId, string verdict) */
export const MANIFEST_LEAF_TYPES = ['string', 'bytes32', 'uint32', 'bytes32', 'string', 'string'] as const;

export interface ManifestShard {
  index: number;
  shardId: string;
  nodeId: string;
  /** sha256 of the canonical result body. */
  resultHash: string;
  /** 'verified': a spot check recomputed it; 'accepted': admitted without recomputation. */
  verdict: 'accepted' | 'verified';
  inputs: { first: number; last: number };
}

export interface Manifest {
  jobId: string;
  modelSha256: string;
  inputCount: number;
  shards: ManifestShard[];
  /**
   * Merkle root (OpenZeppelin StandardMerkleTree) over one leaf per shard,
   * `MANIFEST_LEAF_TYPES`: the root commits to the job and model as well.
   */
  root: string;
}

export interface OutputLine {
  index: number;
  prompt: string;
  tokens: number[];
  text: string;
}

export function manifestLeaf(jobId: string, modelSha256: string, shard: ManifestShard): [string, string, number, string, string, string] {
  return [jobId, `0x${modelSha256}`, shard.index, `0x${shard.resultHash}`, shard.nodeId, shard.verdict];
}

export function buildManifest(jobId: string, modelSha256: string, inputCount: number, shards: ManifestShard[]): Manifest {
  const ordered = [...shards].sort((a, b) => a.index - b.index);
  const tree = StandardMerkleTree.of(
    ordered.map((shard) => manifestLeaf(jobId, modelSha256, shard)),
    [...MANIFEST_LEAF_TYPES],
  );
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
