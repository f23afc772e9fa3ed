// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// @title MeshChain Compute (MCP)
/// @notice The reward token of MeshChain: a standard ERC-20 (18 decimals, EIP-2612 permits) whose
/// supply starts at zero and grows only when rewards are claimed (through the account holding
/// DISTRIBUTOR_ROLE, the RewardDistributor) or when an account holding MINTER_ROLE mints (none in a
/// standard deployment, so the supply equals the rewards claimed so far).
/// @dev Storage layout, chosen for the gas of a claim: each account has ONE storage slot holding its
/// balance (low 128 bits) and the cumulative rewards it has claimed (high 128 bits). A claim credits
/// `cumulative - claimed` and records `cumulative` in a single SSTORE, so an owner's first claim pays
/// one zero-to-non-zero write (22.1k gas) instead of two (its balance here and a `claimed` entry in the
/// distributor). Keeping the claimed total here rather than in the distributor also means a replacement
/// distributor carries on from the same totals.
///
/// The ERC-20 surface is OpenZeppelin's (transfer, approve, transferFrom, allowances, permit, errors,
/// events); only `_update`, `balanceOf` and `totalSupply` are overridden to use the packed slots.
/// The total supply is capped at 2^128 - 1 wei (about 3.4 * 10^20 MCP), so every balance fits its
/// 128 bits: a mint or credit past the cap reverts {MCPTokenSupplyOverflow}. OpenZeppelin's own
/// `_balances` and `_totalSupply` are never written.
contract MCPToken is ERC20, ERC20Permit, AccessControl {
    /// @notice Role allowed to mint new tokens outside rewards (held by nobody in a standard deployment).
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    /// @notice Role allowed to credit claimed rewards ({creditRewards}): the RewardDistributor. Grant it
    /// to one distributor at a time; the claimed totals it updates are per account, not per distributor.
    bytes32 public constant DISTRIBUTOR_ROLE = keccak256("DISTRIBUTOR_ROLE");

    uint256 private constant BALANCE_MASK = type(uint128).max;

    /// @dev account => balance (low 128 bits) | cumulative rewards claimed (high 128 bits).
    mapping(address account => uint256) private _accounts;
    // One slot: the total supply and a marker set by the constructor, so the slot is never zero and the
    // very first mint or claim pays no zero-to-non-zero write for it (2.9k gas, not 22.1k).
    uint128 private _supply;
    bool private _initialized;

    /// @notice The admin account is the zero address.
    error MCPTokenInvalidAdmin(address admin);

    /// @notice Adding `value` to the total supply `supply` would pass 2^128 - 1.
    error MCPTokenSupplyOverflow(uint256 supply, uint256 value);

    /// @param admin Receives DEFAULT_ADMIN_ROLE (may grant and revoke MINTER_ROLE and DISTRIBUTOR_ROLE).
    constructor(address admin) ERC20("MeshChain Compute", "MCP") ERC20Permit("MeshChain Compute") {
        if (admin == address(0)) revert MCPTokenInvalidAdmin(admin);
        _initialized = true;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Mints `amount` tokens (18 decimals) to `to`.
    /// @dev Only MINTER_ROLE. Emits {Transfer} from the zero address. Does not change `to`'s claimed
    /// rewards.
    /// @param to Receiver of the new tokens.
    /// @param amount Amount in the smallest unit.
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }

    /// @notice Pays `account` its rewards up to `cumulativeAmount`: mints `cumulativeAmount` minus what
    /// it has claimed so far and records `cumulativeAmount` as its claimed total, in one storage write.
    /// @dev Only DISTRIBUTOR_ROLE, which has checked `cumulativeAmount` against its Merkle root. When
    /// `cumulativeAmount` is not above the claimed total it changes nothing and returns 0 (the caller
    /// reports that in its own terms). Emits {Transfer} from the zero address for a non-zero amount.
    /// Reverts with {ERC20InvalidReceiver} for the zero address, with SafeCast's
    /// `SafeCastOverflowedUintDowncast` when `cumulativeAmount` does not fit 128 bits and with
    /// {MCPTokenSupplyOverflow} past the supply cap.
    /// @param account The owner paid.
    /// @param cumulativeAmount Everything `account` has earned so far, in the smallest unit.
    /// @return amount What was minted to `account` now.
    function creditRewards(address account, uint256 cumulativeAmount)
        external
        onlyRole(DISTRIBUTOR_ROLE)
        returns (uint256 amount)
    {
        if (account == address(0)) revert ERC20InvalidReceiver(address(0));
        uint256 packed = _accounts[account];
        uint256 claimedBefore = packed >> 128;
        if (cumulativeAmount <= claimedBefore) return 0;
        SafeCast.toUint128(cumulativeAmount);
        unchecked {
            amount = cumulativeAmount - claimedBefore; // > 0, checked above
        }
        _increaseSupply(amount);
        unchecked {
            // balance + amount <= total supply < 2^128, so the low half cannot carry into the high half.
            _accounts[account] = (cumulativeAmount << 128) | ((packed & BALANCE_MASK) + amount);
        }
        emit Transfer(address(0), account, amount);
    }

    /// @notice The cumulative rewards `account` has claimed (credited through {creditRewards}).
    function rewardsClaimed(address account) external view returns (uint256) {
        return _accounts[account] >> 128;
    }

    /// @inheritdoc ERC20
    function balanceOf(address account) public view override returns (uint256) {
        return _accounts[account] & BALANCE_MASK;
    }

    /// @inheritdoc ERC20
    function totalSupply() public view override returns (uint256) {
        return _supply;
    }

    /// @dev OpenZeppelin's ERC20 `_update` over the packed slots: mints (from = 0), burns (to = 0) and
    /// transfers, with the same errors and the {Transfer} event. The claimed half of a slot is never
    /// touched here.
    function _update(address from, address to, uint256 value) internal override {
        if (from == address(0)) {
            _increaseSupply(value);
        } else {
            uint256 packed = _accounts[from];
            uint256 fromBalance = packed & BALANCE_MASK;
            if (fromBalance < value) revert ERC20InsufficientBalance(from, fromBalance, value);
            unchecked {
                // value <= the low half: no borrow from the high half.
                _accounts[from] = packed - value;
            }
        }
        unchecked {
            if (to == address(0)) {
                // value <= fromBalance <= total supply.
                _supply -= uint128(value);
            } else {
                // balance + value <= total supply < 2^128: no carry into the high half.
                _accounts[to] += value;
            }
        }
        emit Transfer(from, to, value);
    }

    function _increaseSupply(uint256 value) private {
        uint256 supply = _supply;
        if (value > BALANCE_MASK - supply) revert MCPTokenSupplyOverflow(supply, value);
        unchecked {
            _supply = uint128(supply + value); // <= 2^128 - 1, checked above
        }
    }
}
