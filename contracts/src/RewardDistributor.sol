// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IRewardDistributor} from "./IRewardDistributor.sol";
import {MCPToken} from "./MCPToken.sol";
import {RewardLeaves} from "./RewardLeaves.sol";

/// @title MeshChain reward distributor
/// @notice Pays MCP to node owners against a cumulative-earnings Merkle root posted once per epoch.
/// @dev Tokens are minted on claim through the token's {MCPToken-creditRewards} (this contract needs
/// DISTRIBUTOR_ROLE on the token), so the MCP minted here always equals {totalClaimed}, and the
/// contract never holds a balance. Claims are bounded by the batcher's posted {totalCumulative}.
///
/// Gas layout (see the README's gas table): a post writes one new slot, the epoch root
/// (the Merkle parent of its earnings and contributions roots, see {RewardLeaves-epochRoot}), and
/// updates one packed slot that also holds Pausable's flag, so `whenNotPaused` warms it for free; that
/// slot is non-zero from the constructor on, so even the first post pays no zero-to-non-zero write
/// for it. Proofs against an epoch root are the proofs of either tree plus the other tree's root.
///
/// Each owner's claimed total is kept by the token, in the same storage slot as the owner's balance
/// (balance and claimed total, 128 bits each), not in a mapping here: the token credits
/// `cumulativeAmount - claimed` and records `cumulativeAmount` in one storage write. An owner's first
/// claim therefore takes one slot from zero to non-zero (22.1k gas), not two (a `claimed` entry here and
/// the balance there), which keeps it under 90k gas with a depth-20 proof (about a million owners).
contract RewardDistributor is IRewardDistributor, AccessControl, Pausable {
    /// @notice Role allowed to post epochs.
    bytes32 public constant BATCHER_ROLE = keccak256("BATCHER_ROLE");
    /// @notice Role allowed to pause and unpause claims and posts.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    MCPToken private immutable _token;
    // These four share the storage slot of Pausable's `_paused` flag (declared right after it):
    // 1 + 1 + 4 + 13 + 13 = 32 bytes. `_initialized` keeps the slot non-zero from the constructor on.
    bool private _initialized;
    uint32 private _currentEpoch;
    uint104 private _totalCumulative;
    uint104 private _totalClaimed;
    mapping(uint64 epoch => bytes32) private _epochRoots;

    /// @param token_ The MCP token; grant this contract its DISTRIBUTOR_ROLE before the first claim.
    /// @param admin Receives DEFAULT_ADMIN_ROLE and PAUSER_ROLE; grants BATCHER_ROLE.
    constructor(MCPToken token_, address admin) {
        if (address(token_) == address(0)) revert InvalidToken(address(token_));
        if (admin == address(0)) revert InvalidAdmin(admin);
        _token = token_;
        _initialized = true;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
    }

    /// @inheritdoc IRewardDistributor
    function postEpoch(uint64 epoch, bytes32 earningsRoot, bytes32 contributionsRoot, uint256 totalCumulative_)
        external
        onlyRole(BATCHER_ROLE)
        whenNotPaused
        returns (bool posted)
    {
        uint64 current = _currentEpoch;
        bytes32 root = RewardLeaves.epochRoot(earningsRoot, contributionsRoot);
        if (epoch != current + 1) {
            if (
                epoch == current && current != 0 && _epochRoots[epoch] == root
                    && _totalCumulative == totalCumulative_
            ) {
                return false;
            }
            revert EpochOutOfOrder(current + 1, epoch);
        }
        uint256 previousTotal = _totalCumulative;
        if (totalCumulative_ < previousTotal) revert TotalCumulativeDecreased(previousTotal, totalCumulative_);

        _currentEpoch = SafeCast.toUint32(epoch);
        _totalCumulative = SafeCast.toUint104(totalCumulative_);
        _epochRoots[epoch] = root;
        emit EpochPosted(epoch, earningsRoot, contributionsRoot, totalCumulative_);
        return true;
    }

    /// @inheritdoc IRewardDistributor
    function claim(address account, uint256 cumulativeAmount, bytes32[] calldata proof)
        external
        whenNotPaused
        returns (uint256 amount)
    {
        uint64 epoch = _currentEpoch;
        if (epoch == 0) revert NoEpochPosted();
        bytes32 leaf = RewardLeaves.earningsLeaf(account, cumulativeAmount);
        if (!MerkleProof.verifyCalldata(proof, _epochRoots[epoch], leaf)) revert InvalidProof();

        // The token credits cumulativeAmount - claimed and records the new claimed total in the account's
        // balance slot (one storage write); it returns 0 and changes nothing when there is nothing new.
        amount = _token.creditRewards(account, cumulativeAmount);
        if (amount == 0) revert NothingToClaim(account);
        uint256 total = _totalCumulative;
        uint256 totalClaimedAfter = _totalClaimed + amount;
        if (totalClaimedAfter > total) revert ClaimExceedsTotal(totalClaimedAfter, total);
        _totalClaimed = uint104(totalClaimedAfter); // <= total, which fits 104 bits
        emit Claimed(account, epoch, amount, cumulativeAmount);
    }

    /// @notice Stops claims and epoch posts.
    /// @dev Only PAUSER_ROLE. Emits {Paused}.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Resumes claims and epoch posts.
    /// @dev Only PAUSER_ROLE. Emits {Unpaused}.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    /// @notice The MCP token this contract mints, which also keeps every owner's claimed total.
    function token() external view returns (MCPToken) {
        return _token;
    }

    /// @inheritdoc IRewardDistributor
    function currentEpoch() external view returns (uint64) {
        return _currentEpoch;
    }

    /// @inheritdoc IRewardDistributor
    function epochRoot(uint64 epoch) external view returns (bytes32) {
        _requirePosted(epoch);
        return _epochRoots[epoch];
    }

    /// @inheritdoc IRewardDistributor
    function claimed(address account) external view returns (uint256) {
        return _token.rewardsClaimed(account);
    }

    /// @inheritdoc IRewardDistributor
    function totalCumulative() external view returns (uint256) {
        return _totalCumulative;
    }

    /// @inheritdoc IRewardDistributor
    function totalClaimed() external view returns (uint256) {
        return _totalClaimed;
    }

    /// @inheritdoc IRewardDistributor
    function verifyEarnings(address account, uint256 cumulativeAmount, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        uint64 epoch = _currentEpoch;
        if (epoch == 0) return false;
        return MerkleProof.verifyCalldata(
            proof, _epochRoots[epoch], RewardLeaves.earningsLeaf(account, cumulativeAmount)
        );
    }

    /// @inheritdoc IRewardDistributor
    function verifyContribution(
        uint64 epoch,
        bytes32 jobId,
        uint32 shardIndex,
        bytes32 nodeId,
        address owner,
        uint256 units,
        bytes32[] calldata proof
    ) external view returns (bool) {
        _requirePosted(epoch);
        bytes32 leaf = RewardLeaves.contributionLeaf(jobId, shardIndex, nodeId, owner, units);
        return MerkleProof.verifyCalldata(proof, _epochRoots[epoch], leaf);
    }

    /// @inheritdoc IRewardDistributor
    function earningsLeaf(address account, uint256 cumulativeAmount) external pure returns (bytes32) {
        return RewardLeaves.earningsLeaf(account, cumulativeAmount);
    }

    /// @inheritdoc IRewardDistributor
    function contributionLeaf(bytes32 jobId, uint32 shardIndex, bytes32 nodeId, address owner, uint256 units)
        external
        pure
        returns (bytes32)
    {
        return RewardLeaves.contributionLeaf(jobId, shardIndex, nodeId, owner, units);
    }

    /// @inheritdoc IRewardDistributor
    function epochRootOf(bytes32 earningsRoot, bytes32 contributionsRoot) external pure returns (bytes32) {
        return RewardLeaves.epochRoot(earningsRoot, contributionsRoot);
    }

    function _requirePosted(uint64 epoch) private view {
        if (epoch == 0 || epoch > _currentEpoch) revert UnknownEpoch(epoch);
    }
}
