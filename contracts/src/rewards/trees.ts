// StandardMerkleTree builders over the protocol's reward leaves.
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { concat, hexToBigInt, keccak256, type Hex } from 'viem';
import { ContractsError } from '../errors.ts';
import {
  CONTRIBUTION_LEAF_TYPES,
  EARNINGS_LEAF_TYPES,
  contributionLeaf,
  earningsLeaf,
  type ContributionLeaf,
  type EarningsLeaf,
  type RewardContribution,
} from '@meshchain/protocol';

/** One owner's cumulative earnings. */
export interface CumulativeEarnings {
  account: string;
  cumulativeAmount: bigint;
}

/** The earnings tree of an epoch; its root is postEpoch's earningsRoot. Accounts must be distinct. */
export function buildEarningsTree(entries: readonly CumulativeEarnings[]): StandardMerkleTree<EarningsLeaf> {
  const values = entries.map((e) => earningsLeaf(e.account, e.cumulativeAmount));
  const seen = new Set<string>();
  for (const [account] of values) {
    if (seen.has(account)) throw new ContractsError(`account ${account} appears twice in the earnings tree`);
    seen.add(account);
  }
  return StandardMerkleTree.of(values, [...EARNINGS_LEAF_TYPES]);
}

/** The contributions tree of an epoch; its root is postEpoch's contributionsRoot. */
export function buildContributionsTree(
  contributions: readonly RewardContribution[],
): StandardMerkleTree<ContributionLeaf> {
  return StandardMerkleTree.of(contributions.map(contributionLeaf), [...CONTRIBUTION_LEAF_TYPES]);
}

/**
 * The one value the distributor stores per epoch (`epochRoot(n)` on chain): keccak256 of the two roots
 * as a sorted pair, i.e. the root of a tree whose two children are the earnings and contributions trees.
 */
export function epochRoot(earningsRoot: Hex, contributionsRoot: Hex): Hex {
  const [a, b] = hexToBigInt(earningsRoot) <= hexToBigInt(contributionsRoot) ? [earningsRoot, contributionsRoot] : [contributionsRoot, earningsRoot];
  return keccak256(concat([a, b]));
}

/**
 * A proof against the epoch root: the leaf's proof in its own tree followed by the other tree's root.
 * Claims take `epochProof(earningsProof, contributionsRoot)`; verifyContribution takes
 * `epochProof(contributionsProof, earningsRoot)`.
 */
export function epochProof(treeProof: readonly string[], otherRoot: Hex): Hex[] {
  return [...(treeProof as readonly Hex[]), otherRoot];
}
