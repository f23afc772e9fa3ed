// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice OpenZeppelin's StandardMerkleTree (JS) rebuilt for small trees in tests: the leaf hashes are
/// sorted, laid out at the end of a flat array in that order, and each parent is the commutative
/// keccak256 of its two children; tree[0] is the root.
library StandardMerkle {
    function hashPair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
    }

    /// @dev Builds the flat tree from leaf hashes (any order; they are sorted like `sortLeaves: true`).
    function build(bytes32[] memory leaves) internal pure returns (bytes32[] memory tree) {
        uint256 n = leaves.length;
        require(n > 0, "StandardMerkle: no leaves");
        bytes32[] memory sorted = _sorted(leaves);
        tree = new bytes32[](2 * n - 1);
        for (uint256 i = 0; i < n; i++) {
            tree[tree.length - 1 - i] = sorted[i];
        }
        for (uint256 i = n - 1; i > 0; i--) {
            tree[i - 1] = hashPair(tree[2 * i - 1], tree[2 * i]);
        }
    }

    function root(bytes32[] memory tree) internal pure returns (bytes32) {
        return tree[0];
    }

    /// @dev The proof for `leaf`, which must be one of the tree's leaves.
    function proof(bytes32[] memory tree, bytes32 leaf) internal pure returns (bytes32[] memory path) {
        uint256 index = type(uint256).max;
        uint256 firstLeaf = tree.length / 2;
        for (uint256 i = firstLeaf; i < tree.length; i++) {
            if (tree[i] == leaf) {
                index = i;
                break;
            }
        }
        require(index != type(uint256).max, "StandardMerkle: leaf not in tree");
        uint256 depth = 0;
        for (uint256 i = index; i > 0; i = (i - 1) / 2) {
            depth++;
        }
        path = new bytes32[](depth);
        for (uint256 d = 0; d < depth; d++) {
            path[d] = tree[index % 2 == 1 ? index + 1 : index - 1];
            index = (index - 1) / 2;
        }
    }

    /// @dev A root for which `siblings` is a valid proof of `leaf` (any depth, no tree needed).
    function rootFromProof(bytes32 leaf, bytes32[] memory siblings) internal pure returns (bytes32 node) {
        node = leaf;
        for (uint256 i = 0; i < siblings.length; i++) {
            node = hashPair(node, siblings[i]);
        }
    }

    function _sorted(bytes32[] memory values) private pure returns (bytes32[] memory out) {
        out = new bytes32[](values.length);
        for (uint256 i = 0; i < values.length; i++) {
            bytes32 value = values[i];
            uint256 j = i;
            while (j > 0 && out[j - 1] > value) {
                out[j] = out[j - 1];
                j--;
            }
            out[j] = value;
        }
    }
}
