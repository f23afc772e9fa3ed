// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title MeshChain reward distributor
/// @notice Once per epoch the batcher posts two Merkle roots: one over every owner's cumulative
/// earnings and one over the epoch's contributions. Owners claim the difference between their
/// latest cumulative earnings and what they have already claimed. See {RewardLeaves} for the leaves.
interface IRewardDistributor {
    /// @notice Epoch `epoch` was recorded.
    event EpochPosted(uint64 indexed epoch, bytes32 earningsRoot, bytes32 contributionsRoot, uint256 totalCumulative);

    /// @notice `amount` MCP were minted to `account` against the earnings root of `epoch`;
    /// `cumulativeAmount` is what `account` has now claimed in all.
    event Claimed(address indexed account, uint64 indexed epoch, uint256 amount, uint256 cumulativeAmount);

    /// @notice Epochs are posted one after the other starting at 1: `expected` is the only epoch
    /// that can be posted now (an identical re-post of the current epoch is a no-op).
    error EpochOutOfOrder(uint64 expected, uint64 got);

    /// @notice `epoch` has not been posted (or is 0).
    error UnknownEpoch(uint64 epoch);

    /// @notice The total of all cumulative earnings can only grow.
    error TotalCumulativeDecreased(uint256 previous, uint256 got);

    /// @notice No epoch has been posted yet, so there is nothing to claim against.
    error NoEpochPosted();

    /// @notice The proof does not lead from the leaf to the expected root.
    error InvalidProof();

    /// @notice `account` has already claimed its cumulative amount (or more).
    error NothingToClaim(address account);

    /// @notice Paying this claim would take the total claimed past the posted total of cumulative earnings.
    error ClaimExceedsTotal(uint256 totalClaimedAfter, uint256 totalCumulative);

    /// @notice The token given to the constructor is the zero address.
    error InvalidToken(address token);

    /// @notice The admin given to the constructor is the zero address.
    error InvalidAdmin(address admin);

    /// @notice Records the roots of `epoch`, which must be `currentEpoch() + 1`.
    /// @dev Only BATCHER_ROLE, not while paused. Posting the current epoch again with identical
    /// arguments does nothing and returns false, so a retried transaction is harmless.
    /// @param epoch The epoch number; the first is 1.
    /// @param earningsRoot Root over (account, cumulativeAmount) of every owner.
    /// @param contributionsRoot Root over the epoch's contributions (zero when there were none).
    /// @param totalCumulative Sum of all cumulative amounts in the earnings tree; never decreases; at most
    /// 2^104 - 1 wei (about 2 * 10^13 MCP), else SafeCast's SafeCastOverflowedUintDowncast.
    /// @return posted True when the epoch was recorded, false for an identical re-post.
    function postEpoch(uint64 epoch, bytes32 earningsRoot, bytes32 contributionsRoot, uint256 totalCumulative)
        external
        returns (bool posted);

    /// @notice Pays `account` what it has earned up to the latest epoch and not yet claimed.
    /// @dev Anyone may call it for any account; tokens always go to `account`. Not while paused.
    /// @param account The owner in the earnings leaf.
    /// @param cumulativeAmount The owner's cumulative earnings in the latest earnings tree.
    /// @param proof The leaf's proof in the latest earnings tree followed by that epoch's contributions
    /// root (the proof against the epoch root).
    /// @return amount The MCP minted to `account` (cumulativeAmount - previously claimed).
    function claim(address account, uint256 cumulativeAmount, bytes32[] calldata proof)
        external
        returns (uint256 amount);

    /// @notice The latest posted epoch, 0 before the first.
    function currentEpoch() external view returns (uint64);

    /// @notice The root stored for `epoch`: the sorted-pair hash of its earnings and contributions roots
    /// (see {epochRootOf}); the two roots themselves are in the epoch's {EpochPosted} event. Reverts with
    /// {UnknownEpoch} if `epoch` has not been posted.
    function epochRoot(uint64 epoch) external view returns (bytes32);

    /// @notice What `account` has claimed in all (kept by the token, in the account's balance slot).
    function claimed(address account) external view returns (uint256);

    /// @notice The total of all cumulative earnings as of the latest epoch.
    function totalCumulative() external view returns (uint256);

    /// @notice What has been claimed by all accounts together (equal to the MCP minted by this contract).
    function totalClaimed() external view returns (uint256);

    /// @notice Whether (account, cumulativeAmount) is in the latest earnings tree; false before the first epoch.
    /// @dev `proof` as for {claim}: the earnings proof followed by the contributions root.
    function verifyEarnings(address account, uint256 cumulativeAmount, bytes32[] calldata proof)
        external
        view
        returns (bool);

    /// @notice Whether a contribution is in the contributions tree of `epoch`.
    /// @dev Reverts with {UnknownEpoch} if `epoch` has not been posted.
    /// @param jobId keccak256 of the job id's UTF-8 bytes.
    /// @param nodeId keccak256 of the node id's UTF-8 bytes.
    /// @param proof The leaf's proof in the contributions tree followed by the epoch's earnings root.
    function verifyContribution(
        uint64 epoch,
        bytes32 jobId,
        uint32 shardIndex,
        bytes32 nodeId,
        address owner,
        uint256 units,
        bytes32[] calldata proof
    ) external view returns (bool);

    /// @notice The earnings leaf hash, as StandardMerkleTree computes it for ["address", "uint256"].
    function earningsLeaf(address account, uint256 cumulativeAmount) external pure returns (bytes32);

    /// @notice The contribution leaf hash, as StandardMerkleTree computes it for
    /// ["bytes32", "uint32", "bytes32", "address", "uint256"].
    function contributionLeaf(bytes32 jobId, uint32 shardIndex, bytes32 nodeId, address owner, uint256 units)
        external
        pure
        returns (bytes32);

    /// @notice The epoch root of two tree roots: keccak256 of the pair, smaller value first.
    function epochRootOf(bytes32 earningsRoot, bytes32 contributionsRoot) external pure returns (bytes32);
}
