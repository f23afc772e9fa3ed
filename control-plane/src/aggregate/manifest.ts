import { SimpleMerkleTree } from '@openzeppelin/merkle-tree';
import { encodeAbiParameters, keccak256, parseAbiParameters, type Hex } from 'viem';
import type { OutputLine } from '../workloads/types.ts';

export type { OutputLine } from '../workloads/types.ts';

/** The model field of a workload without a model: 32 zero bytes in the manifest's leaves. */
export const NO_MODEL_SHA256 = '0'.repeat(64);

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

export function manifestLeaf(jobId: string, modelSha256: string, shard: ManifestShard): [string, string, number, string, string, string] {
  return [jobId, `0x${modelSha256}`, shard.index, `0x${shard.resultHash}`, shard.nodeId, shard.verdict];
}

const LEAF_PARAMETERS = parseAbiParameters(MANIFEST_LEAF_TYPES.join(', '));

/**
 * A leaf's hash exactly as StandardMerkleTree makes it: keccak256(keccak256(abi.encode(leaf))).
 * Encoded with viem: OpenZeppelin's own encoder validates every value and costs twice as much,
 * which shows on jobs of thousands of shards.
 */
export function manifestLeafHash(jobId: string, modelSha256: string, shard: ManifestShard): Hex {
  const [job, model, index, resultHash, nodeId, verdict] = manifestLeaf(jobId, modelSha256, shard);
  return keccak256(keccak256(encodeAbiParameters(LEAF_PARAMETERS, [job, model as Hex, index, resultHash as Hex, nodeId, verdict])));
}

export function buildManifest(jobId: string, modelSha256: string, inputCount: number, shards: ManifestShard[]): Manifest {
  const ordered = [...shards].sort((a, b) => a.index - b.index);
  // The same tree and root as StandardMerkleTree.of(leaves, MANIFEST_LEAF_TYPES) (a test holds them equal).
  const tree = SimpleMerkleTree.of(ordered.map((shard) => manifestLeafHash(jobId, modelSha256, shard)));
  return { jobId, modelSha256, inputCount, shards: ordered, root: tree.root };
}

/** Stitches shard output lines (each shard's from its workload module) into the job's output, in input order. */
export function stitchOutputs(parts: readonly OutputLine[][]): OutputLine[] {
  return parts.flat().sort((a, b) => a.index - b.index);
}
