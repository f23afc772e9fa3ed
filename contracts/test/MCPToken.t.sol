// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {MCPToken} from "../src/MCPToken.sol";
import {TestBase} from "./utils/TestBase.sol";

contract MCPTokenTest is TestBase {
    MCPToken internal token;
    address internal admin;
    address internal minter;

    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    function setUp() public {
        admin = makeAddr("admin");
        minter = makeAddr("minter");
        token = new MCPToken(admin);
        bytes32 role = token.MINTER_ROLE();
        vm.prank(admin);
        token.grantRole(role, minter);
    }

    function test_metadata() public view {
        vm.assertEq(token.name(), "MeshChain Compute", "name");
        vm.assertEq(token.symbol(), "MCP", "symbol");
        vm.assertEq(token.decimals(), 18, "decimals");
        vm.assertEq(token.totalSupply(), 0, "no initial supply");
        vm.assertTrue(token.hasRole(token.DEFAULT_ADMIN_ROLE(), admin), "admin");
    }

    function test_constructor_rejectsZeroAdmin() public {
        vm.expectRevert(abi.encodeWithSelector(MCPToken.MCPTokenInvalidAdmin.selector, address(0)));
        new MCPToken(address(0));
    }

    function testFuzz_mint_byMinter(address to, uint256 amount) public {
        vm.assume(to != address(0));
        vm.prank(minter);
        token.mint(to, amount);
        vm.assertEq(token.balanceOf(to), amount, "balance");
        vm.assertEq(token.totalSupply(), amount, "supply");
    }

    function testFuzz_mint_revertsForOthers(address caller) public {
        vm.assume(caller != minter);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, caller, token.MINTER_ROLE()
            )
        );
        vm.prank(caller);
        token.mint(caller, 1);
    }

    function test_permit_setsAllowance() public {
        uint256 ownerKey = 0xA11CE;
        address owner = vm.addr(ownerKey);
        address spender = makeAddr("spender");
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 structHash = keccak256(abi.encode(PERMIT_TYPEHASH, owner, spender, 5e18, token.nonces(owner), deadline));
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ownerKey, digest);

        token.permit(owner, spender, 5e18, deadline, v, r, s);
        vm.assertEq(token.allowance(owner, spender), 5e18, "allowance");
        vm.assertEq(token.nonces(owner), 1, "nonce used");
    }
}
