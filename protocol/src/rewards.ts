// Reward-leaf encoding shared by the control plane (tree builder), the contracts and the owners' tools.
//
// Both trees are OpenZeppelin StandardMerkleTrees: a leaf is
//   keccak256(keccak256(abi.encode(...fields)))
// over the field types below, and inner nodes hash the sorted pair of children. The Solidity twin is
// contracts/src/RewardLeaves.sol; contracts/test proves the two agree.
//
// Job and node ids are strings off-chain; on-chain they are bytes32 = keccak256(UTF-8 bytes of the id).
// This module is pure and has no chain library: hashing uses @noble/hashes.
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { ProtocolError } from './errors.ts';

/** A value does not fit the ABI type of its reward-leaf field. */
export class RewardLeafError extends ProtocolError {
  override name = 'RewardLeafError';
}

/** ABI types of an earnings leaf: (account, cumulativeAmount). */
export const EARNINGS_LEAF_TYPES = ['address', 'uint256'] as const;

/** ABI types of a contribution leaf: (jobId, shardIndex, nodeId, owner, units). */
export const CONTRIBUTION_LEAF_TYPES = ['bytes32', 'uint32', 'bytes32', 'address', 'uint256'] as const;

/** Values of an earnings leaf, in {@link EARNINGS_LEAF_TYPES} order (what `StandardMerkleTree.of` takes). */
export type EarningsLeaf = [account: `0x${string}`, cumulativeAmount: bigint];

/** Values of a contribution leaf, in {@link CONTRIBUTION_LEAF_TYPES} order. */
export type ContributionLeaf = [
  jobId: `0x${string}`,
  shardIndex: number,
  nodeId: `0x${string}`,
  owner: `0x${string}`,
  units: bigint,
];

/** One validated shard's contribution, as the ledger records it. */
export interface RewardContribution {
  /** The job id string. */
  jobId: string;
  /** The shard's index within the job (uint32). */
  shardIndex: number;
  /** The node id string. */
  nodeId: string;
  /** The owner's EVM address. */
  owner: string;
  /** Compute units credited for the shard. */
  units: bigint;
}

const UINT256_LIMIT = 1n << 256n;
const UINT32_MAX = 0xffff_ffff;
const ADDRESS_PATTERN = /^0x[0-9a-fA-F]{40}$/;

/** keccak256 of the id's UTF-8 bytes, as a 0x-prefixed bytes32: how job and node ids appear on-chain. */
export function rewardIdHash(id: string): `0x${string}` {
  if (typeof id !== 'string' || id.length === 0) {
    throw new RewardLeafError('reward id must be a non-empty string');
  }
  return `0x${bytesToHex(keccak_256(utf8ToBytes(id)))}`;
}

/** Leaf values for an owner's cumulative earnings (address lower-cased). */
export function earningsLeaf(account: string, cumulativeAmount: bigint): EarningsLeaf {
  return [normalizeAddress(account, 'account'), checkUint256(cumulativeAmount, 'cumulativeAmount')];
}

/** Leaf values for one contribution, with the job and node ids hashed by {@link rewardIdHash}. */
export function contributionLeaf(contribution: RewardContribution): ContributionLeaf {
  const { jobId, shardIndex, nodeId, owner, units } = contribution;
  if (!Number.isInteger(shardIndex) || shardIndex < 0 || shardIndex > UINT32_MAX) {
    throw new RewardLeafError(`shardIndex must be an integer in [0, ${UINT32_MAX}], got ${String(shardIndex)}`);
  }
  return [
    rewardIdHash(jobId),
    shardIndex,
    rewardIdHash(nodeId),
    normalizeAddress(owner, 'owner'),
    checkUint256(units, 'units'),
  ];
}

/** The StandardMerkleTree leaf hash of an earnings leaf (equal to RewardLeaves.earningsLeaf on-chain). */
export function earningsLeafHash(account: string, cumulativeAmount: bigint): `0x${string}` {
  const [address, amount] = earningsLeaf(account, cumulativeAmount);
  return standardLeafHash([addressWord(address), uintWord(amount)]);
}

/** The StandardMerkleTree leaf hash of a contribution leaf (equal to RewardLeaves.contributionLeaf on-chain). */
export function contributionLeafHash(contribution: RewardContribution): `0x${string}` {
  const [jobId, shardIndex, nodeId, owner, units] = contributionLeaf(contribution);
  return standardLeafHash([
    hexToBytes(jobId.slice(2)),
    uintWord(BigInt(shardIndex)),
    hexToBytes(nodeId.slice(2)),
    addressWord(owner),
    uintWord(units),
  ]);
}

function standardLeafHash(words: Uint8Array[]): `0x${string}` {
  const encoded = new Uint8Array(words.length * 32);
  words.forEach((word, i) => encoded.set(word, i * 32));
  return `0x${bytesToHex(keccak_256(keccak_256(encoded)))}`;
}

function uintWord(value: bigint): Uint8Array {
  return hexToBytes(value.toString(16).padStart(64, '0'));
}

function addressWord(address: `0x${string}`): Uint8Array {
  return hexToBytes(address.slice(2).padStart(64, '0'));
}

function checkUint256(value: bigint, name: string): bigint {
  if (typeof value !== 'bigint' || value < 0n || value >= UINT256_LIMIT) {
    throw new RewardLeafError(`${name} must be a bigint in [0, 2^256), got ${String(value)}`);
  }
  return value;
}

/** Validates an EVM address (checking the EIP-55 checksum when it is mixed-case) and lower-cases it. */
function normalizeAddress(address: string, name: string): `0x${string}` {
  if (typeof address !== 'string' || !ADDRESS_PATTERN.test(address)) {
    throw new RewardLeafError(`${name} must be a 0x-prefixed 20-byte hex address, got ${JSON.stringify(address)}`);
  }
  const lower = address.toLowerCase() as `0x${string}`;
  const body = address.slice(2);
  const mixedCase = body !== body.toLowerCase() && body !== body.toUpperCase();
  if (mixedCase && checksumAddress(lower) !== address) {
    throw new RewardLeafError(`${name} ${address} has an invalid EIP-55 checksum`);
  }
  return lower;
}

function checksumAddress(lower: `0x${string}`): string {
  const body = lower.slice(2);
  const hash = bytesToHex(keccak_256(utf8ToBytes(body)));
  let out = '0x';
  for (let i = 0; i < body.length; i++) {
    const char = body.charAt(i);
    out += Number.parseInt(hash.charAt(i), 16) >= 8 ? char.toUpperCase() : char;
  }
  return out;
}
