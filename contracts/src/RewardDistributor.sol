// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IRewardDistributor} from "./IRewardDistributor.sol";
import {MCPToken} from "./MCPToken.sol";
import {RewardLeaves} from "./RewardLeaves.sol";

/// @title MeshChain reward distributor
/// @notice Pays MCP to node owners against a cumulative-earnings Merkle root posted once per epoch.
/// @dev Tokens are minted on claim (this contract needs MINTER_ROLE on the token), so the MCP supply
/// minted here always equals {totalClaimed}, and the contract never holds a balance. Claims are
/// bounded by the batcher's posted {totalCumulative}.
contract RewardDistributor is IRewardDistributor, AccessControl, Pausable {
    /// @notice Role allowed to post epochs.
    bytes32 public constant BATCHER_ROLE = keccak256("BATCHER_ROLE");
    /// @notice Role allowed to pause and unpause claims and posts.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    struct EpochRoots {
        bytes32 earningsRoot;
        bytes32 contributionsRoot;
    }

    MCPToken private immutable _token;
    uint64 private _currentEpoch;
    uint256 private _totalCumulative;
    uint256 private _totalClaimed;
    mapping(uint64 epoch => EpochRoots) private _epochs;
    mapping(address account => uint256) private _claimed;

    /// @param token_ The MCP token; grant this contract its MINTER_ROLE before the first claim.
    /// @param admin Receives DEFAULT_ADMIN_ROLE and PAUSER_ROLE; grants BATCHER_ROLE.
    constructor(MCPToken token_, address admin) {
        if (address(token_) == address(0)) revert InvalidToken(address(token_));
        if (admin == address(0)) revert InvalidAdmin(admin);
        _token = token_;
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
        if (epoch != current + 1) {
            if (
                epoch == current && current != 0
                    && _isSamePost(epoch, earningsRoot, contributionsRoot, totalCumulative_)
            ) {
                return false;
            }
            revert EpochOutOfOrder(current + 1, epoch);
        }
        uint256 previousTotal = _totalCumulative;
        if (totalCumulative_ < previousTotal) revert TotalCumulativeDecreased(previousTotal, totalCumulative_);

        _currentEpoch = epoch;
        _epochs[epoch] = EpochRoots(earningsRoot, contributionsRoot);
        _totalCumulative = totalCumulative_;
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
        if (!MerkleProof.verifyCalldata(proof, _epochs[epoch].earningsRoot, leaf)) revert InvalidProof();

        uint256 alreadyClaimed = _claimed[account];
        if (cumulativeAmount <= alreadyClaimed) revert NothingToClaim(account);
        amount = cumulativeAmount - alreadyClaimed;
        uint256 totalClaimedAfter = _totalClaimed + amount;
        if (totalClaimedAfter > _totalCumulative) revert ClaimExceedsTotal(totalClaimedAfter, _totalCumulative);

        _claimed[account] = cumulativeAmount;
        _totalClaimed = totalClaimedAfter;
        emit Claimed(account, epoch, amount, cumulativeAmount);
        _token.mint(account, amount);
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

    /// @notice The MCP token this contract mints.
    function token() external view returns (MCPToken) {
        return _token;
    }

    /// @inheritdoc IRewardDistributor
    function currentEpoch() external view returns (uint64) {
        return _currentEpoch;
    }

    /// @inheritdoc IRewardDistributor
    function epochRoot(uint64 epoch) external view returns (bytes32 earningsRoot, bytes32 contributionsRoot) {
        _requirePosted(epoch);
        EpochRoots storage roots = _epochs[epoch];
        return (roots.earningsRoot, roots.contributionsRoot);
    }

    /// @inheritdoc IRewardDistributor
    function claimed(address account) external view returns (uint256) {
        return _claimed[account];
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
            proof, _epochs[epoch].earningsRoot, RewardLeaves.earningsLeaf(account, cumulativeAmount)
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
        return MerkleProof.verifyCalldata(proof, _epochs[epoch].contributionsRoot, leaf);
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

    function _isSamePost(uint64 epoch, bytes32 earningsRoot, bytes32 contributionsRoot, uint256 totalCumulative_)
        private
        view
        returns (bool)
    {
        EpochRoots storage roots = _epochs[epoch];
        return roots.earningsRoot == earningsRoot && roots.contributionsRoot == contributionsRoot
            && _totalCumulative == totalCumulative_;
    }

    function _requirePosted(uint64 epoch) private view {
        if (epoch == 0 || epoch > _currentEpoch) revert UnknownEpoch(epoch);
    }
}
