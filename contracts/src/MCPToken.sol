// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title MeshChain Compute (MCP)
/// @notice The reward token of MeshChain. Supply starts at zero and grows only when an account holding
/// MINTER_ROLE mints; in a standard deployment that is the RewardDistributor alone, so the supply equals
/// the rewards claimed so far. Supports EIP-2612 permits.
contract MCPToken is ERC20, ERC20Permit, AccessControl {
    /// @notice Role allowed to mint new tokens.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @notice The admin account is the zero address.
    error MCPTokenInvalidAdmin(address admin);

    /// @param admin Receives DEFAULT_ADMIN_ROLE (may grant and revoke MINTER_ROLE).
    constructor(address admin) ERC20("MeshChain Compute", "MCP") ERC20Permit("MeshChain Compute") {
        if (admin == address(0)) revert MCPTokenInvalidAdmin(admin);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Mints `amount` tokens (18 decimals) to `to`.
    /// @dev Only MINTER_ROLE. Emits {Transfer} from the zero address.
    /// @param to Receiver of the new tokens.
    /// @param amount Amount in the smallest unit.
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }
}
