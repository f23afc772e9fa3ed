import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { CONTRIBUTION_LEAF_TYPES, EARNINGS_LEAF_TYPES, earningsLeaf } from '@meshchain/protocol';
import { buildContributionsTree, buildEarningsTree } from '../src/index.ts';

const A = '0x1111111111111111111111111111111111111111';
const B = '0x2222222222222222222222222222222222222222';

describe('reward tree builders', () => {
  it('build the earnings tree the contracts expect', () => {
    const tree = buildEarningsTree([
      { account: A, cumulativeAmount: 100n * 10n ** 18n },
      { account: B, cumulativeAmount: 250n * 10n ** 18n },
      { account: '0x3333333333333333333333333333333333333333', cumulativeAmount: 1n },
    ]);
    // Same root as RewardDistributor.t.sol's test_earningsRoot_matchesStandardMerkleTreeJs.
    assert.equal(tree.root, '0xc3a097166c253ce39f0a9da2f3254c5dddce85e8d2dbfbdeb78b394fb081745e');
    const proof = tree.getProof(earningsLeaf(B, 250n * 10n ** 18n));
    assert.ok(StandardMerkleTree.verify(tree.root, [...EARNINGS_LEAF_TYPES], earningsLeaf(B, 250n * 10n ** 18n), proof));
  });

  it('refuses an account twice in one earnings tree', () => {
    assert.throws(
      () => buildEarningsTree([{ account: A, cumulativeAmount: 1n }, { account: A.toUpperCase().replace('0X', '0x'), cumulativeAmount: 2n }]),
      /appears twice/,
    );
  });

  it('build the contributions tree with hashed ids', () => {
    const tree = buildContributionsTree([
      { jobId: 'job-1', shardIndex: 0, nodeId: 'node-a', owner: A, units: 1000n },
      { jobId: 'job-1', shardIndex: 1, nodeId: 'node-b', owner: B, units: 2500n },
    ]);
    // Same root as RewardDistributor.t.sol's test_contributionsRoot_matchesStandardMerkleTreeJs.
    assert.equal(tree.root, '0x7eea6119930273f3c0c69e9f8d30ce7cb517951837b799db9d096aa2ebaa19ce');
    assert.deepEqual(tree.dump().leafEncoding, [...CONTRIBUTION_LEAF_TYPES]);
  });
});
