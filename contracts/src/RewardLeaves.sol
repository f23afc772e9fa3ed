// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";

/// @title Reward Merkle leaves
/// @notice Leaf hashes of the two trees the control plane commits to each epoch. Both follow
/// OpenZeppelin's StandardMerkleTree: leaf = keccak256(bytes.concat(keccak256(abi.encode(fields...)))),
/// and inner nodes hash the sorted pair of children. The TypeScript twin is `protocol/src/rewards.ts`.
///
/// Earnings leaf, types ["address", "uint256"]:
///   (account, cumulativeAmount): everything `account` has earned from epoch 1 to this epoch, in MCP wei.
/// Contribution leaf, types ["bytes32", "uint32", "bytes32", "address", "uint256"]:
///   (jobId, shardIndex, nodeId, owner, units): one validated shard of the epoch. Job and node ids are
///   strings off-chain; on-chain they are keccak256 of the id's UTF-8 bytes.
///
/// Epoch root: the one value stored per epoch, keccak256 of the sorted pair (earningsRoot,
/// contributionsRoot). A proof against it is a proof in either tree followed by the other tree's root.
/// Leaves are hashed twice (over their ABI encoding, then over that 32-byte hash) and inner nodes over
/// 64 bytes, so no leaf of one tree can pass for a node of the other without a keccak256 collision.
library RewardLeaves {
    /// @dev Leaf of the earnings tree.
    function earningsLeaf(address account, uint256 cumulativeAmount) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(account, cumulativeAmount))));
    }

    /// @dev Leaf of the contributions tree.
    function contributionLeaf(bytes32 jobId, uint32 shardIndex, bytes32 nodeId, address owner, uint256 units)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(bytes.concat(keccak256(abi.encode(jobId, shardIndex, nodeId, owner, units))));
    }

    /// @dev What the distributor stores per epoch: the parent of the two roots, hashed as a sorted pair
    /// like every inner node, so the epoch root is the root of a tree whose two children are the trees.
    function epochRoot(bytes32 earningsRoot, bytes32 contributionsRoot) internal pure returns (bytes32) {
        return Hashes.commutativeKeccak256(earningsRoot, contributionsRoot);
    }
}
