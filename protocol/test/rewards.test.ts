import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CONTRIBUTION_LEAF_TYPES,
  EARNINGS_LEAF_TYPES,
  contributionLeaf,
  contributionLeafHash,
  earningsLeaf,
  earningsLeafHash,
  rewardIdHash,
  RewardLeafError,
} from '../src/rewards.ts';

// Expected values were computed with @openzeppelin/merkle-tree's StandardMerkleTree (leafHash) and
// viem's keccak256; contracts/test checks the same encoding against the Solidity contracts.
const ALICE = '0x1111111111111111111111111111111111111111';

describe('reward leaves', () => {
  it('declares the leaf types used by the contracts', () => {
    assert.deepEqual(EARNINGS_LEAF_TYPES, ['address', 'uint256']);
    assert.deepEqual(CONTRIBUTION_LEAF_TYPES, ['bytes32', 'uint32', 'bytes32', 'address', 'uint256']);
  });

  it('hashes ids as keccak256 of their UTF-8 bytes', () => {
    assert.equal(rewardIdHash('job-1'), '0x1e8d7affdec8df51ae5319b51f761c1e6cd166e9fa61e013889f2e65136eb73a');
    assert.equal(rewardIdHash('nœud-é🙂'), '0x6618c58a41ad43f1cb438e55870cff3528d184a1075751ad41fcacfe977ed42f');
    assert.throws(() => rewardIdHash(''), RewardLeafError);
  });

  it('builds earnings leaf values and the StandardMerkleTree leaf hash', () => {
    assert.deepEqual(earningsLeaf(ALICE, 100n * 10n ** 18n), [ALICE, 100n * 10n ** 18n]);
    assert.equal(
      earningsLeafHash(ALICE, 100n * 10n ** 18n),
      '0x923a571f712ff2d205bc7da76152ab30459ae47d04647ff145ba9ad746468fc6',
    );
    const checksummed = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266';
    assert.equal(
      earningsLeafHash(checksummed, (1n << 256n) - 1n),
      '0x3653d9dedd177519da743e98f74b8abb2fc23cc2591732246279fcc6253211b1',
    );
    assert.equal(earningsLeaf(checksummed, 1n)[0], checksummed.toLowerCase());
  });

  it('builds contribution leaf values and the StandardMerkleTree leaf hash', () => {
    const contribution = { jobId: 'job-1', shardIndex: 7, nodeId: 'node-a', owner: ALICE, units: 1000n };
    assert.deepEqual(contributionLeaf(contribution), [
      '0x1e8d7affdec8df51ae5319b51f761c1e6cd166e9fa61e013889f2e65136eb73a',
      7,
      '0x9b592590244e04f02b201b7305cbc91a6cad0e137bb5ca3a029570ed5f35dec1',
      ALICE,
      1000n,
    ]);
    assert.equal(
      contributionLeafHash(contribution),
      '0x113b640791a8c05b365702d15826e2ca9ce8d1d825fdb3f0b3ee964a9c1d54c8',
    );
  });

  it('rejects values that do not fit the ABI types', () => {
    assert.throws(() => earningsLeaf('0x1234', 1n), RewardLeafError);
    assert.throws(() => earningsLeaf('0xF39Fd6e51aad88F6F4ce6aB8827279cffFb92266', 1n), /checksum/);
    assert.throws(() => earningsLeaf(ALICE, -1n), RewardLeafError);
    assert.throws(() => earningsLeaf(ALICE, 1n << 256n), RewardLeafError);
    const base = { jobId: 'job', shardIndex: 0, nodeId: 'node', owner: ALICE, units: 1n };
    assert.throws(() => contributionLeaf({ ...base, shardIndex: 2 ** 32 }), RewardLeafError);
    assert.throws(() => contributionLeaf({ ...base, shardIndex: 1.5 }), RewardLeafError);
    assert.throws(() => contributionLeaf({ ...base, nodeId: '' }), RewardLeafError);
    assert.throws(() => contributionLeaf({ ...base, units: -5n }), RewardLeafError);
  });
});
