import { bytesToHex, concat, keccak256, type Hex } from 'viem';
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

/**
 * A leaf's hash exactly as StandardMerkleTree makes it: keccak256(keccak256(abi.encode(leaf))).
 * Encoded here (the layout is fixed by MANIFEST_LEAF_TYPES): OpenZeppelin's encoder validates
 * every value and viem's generic one is ~10× slower than this, which shows on jobs of thousands
 * of shards. A test holds the roots equal to StandardMerkleTree's.
 */
export function manifestLeafHash(jobId: string, modelSha256: string, shard: ManifestShard): Hex {
  return bytesToHex(keccak256(keccak256(encodeManifestLeaf(jobId, modelSha256, shard), 'bytes'), 'bytes'));
}

const utf8 = new TextEncoder();
const WORD = 32;
const HEAD = MANIFEST_LEAF_TYPES.length * WORD;

/** abi.encode(string jobId, bytes32 model, uint32 index, bytes32 resultHash, string nodeId, string verdict). */
function encodeManifestLeaf(jobId: string, modelSha256: string, shard: ManifestShard): Uint8Array {
  if (!Number.isInteger(shard.index) || shard.index < 0 || shard.index > 0xffff_ffff) throw new Error(`shard index ${shard.index} is not a uint32`);
  const strings = [utf8.encode(jobId), utf8.encode(shard.nodeId), utf8.encode(shard.verdict)] as const;
  const tails = strings.map((bytes) => WORD + Math.ceil(bytes.length / WORD) * WORD);
  const out = new Uint8Array(HEAD + tails.reduce((a, b) => a + b, 0));
  const view = new DataView(out.buffer);
  const word = (at: number, value: number): void => view.setUint32(at + WORD - 4, value);
  let tail = HEAD;
  word(0, tail);
  out.set(bytes32(modelSha256), WORD);
  word(2 * WORD, shard.index);
  out.set(bytes32(shard.resultHash), 3 * WORD);
  word(4 * WORD, (tail += tails[0] as number));
  word(5 * WORD, (tail += tails[1] as number));
  let at = HEAD;
  strings.forEach((bytes, i) => {
    word(at, bytes.length);
    out.set(bytes, at + WORD);
    at += tails[i] as number;
  });
  return out;
}

function bytes32(hex: string): Uint8Array {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new Error(`"${hex.slice(0, 80)}" is not 32 bytes of hex`);
  return Buffer.from(hex, 'hex');
}

export function buildManifest(jobId: string, modelSha256: string, inputCount: number, shards: ManifestShard[]): Manifest {
  const ordered = [...shards].sort((a, b) => a.index - b.index);
  // The same root as StandardMerkleTree.of(leaves, MANIFEST_LEAF_TYPES) (a test holds them equal).
  const root = merkleRootOfLeafHashes(ordered.map((shard) => manifestLeafHash(jobId, modelSha256, shard)));
  return { jobId, modelSha256, inputCount, shards: ordered, root };
}

/**
 * The root OpenZeppelin's SimpleMerkleTree (and so StandardMerkleTree) builds
 * over these leaf hashes: leaves sorted, laid out as a complete binary tree
 * in an array, each node keccak256 of its two children in sorted order.
 * Built here because the library re-encodes and validates every leaf, which
 * costs more than the hashing on jobs of thousands of shards.
 */
export function merkleRootOfLeafHashes(leaves: readonly Hex[]): Hex {
  if (leaves.length === 0) throw new Error('a Merkle tree needs at least one leaf');
  // keccak256 gives lowercase hex of one length: string order is byte order.
  const sorted = leaves.map((leaf) => leaf.toLowerCase() as Hex).sort();
  const tree = new Array<Hex>(2 * sorted.length - 1);
  sorted.forEach((leaf, i) => (tree[tree.length - 1 - i] = leaf));
  for (let i = tree.length - 1 - sorted.length; i >= 0; i--) {
    const left = tree[2 * i + 1] as Hex;
    const right = tree[2 * i + 2] as Hex;
    tree[i] = keccak256(left < right ? concat([left, right]) : concat([right, left]));
  }
  return tree[0] as Hex;
}

/** Stitches shard output lines (each shard's from its workload module) into the job's output, in input order. */
export function stitchOutputs(parts: readonly OutputLine[][]): OutputLine[] {
  return parts.flat().sort((a, b) => a.index - b.index);
}
