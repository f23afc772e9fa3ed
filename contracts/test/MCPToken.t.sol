// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {MCPToken} from "../src/MCPToken.sol";
import {TestBase} from "./utils/TestBase.sol";

/// @notice Exposes the internal burn, which MCPToken does not offer publicly, to test its `_update` path.
contract MCPTokenWithBurn is MCPToken {
    constructor(address admin) MCPToken(admin) {}

    function burn(address from, uint256 amount) external {
        _burn(from, amount);
    }
}

contract MCPTokenTest is TestBase {
    MCPToken internal token;
    address internal admin;
    address internal minter;
    address internal distributor;
    address internal alice;
    address internal bob;

    uint256 internal constant MAX_SUPPLY = type(uint128).max;
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    function setUp() public {
        admin = makeAddr("admin");
        minter = makeAddr("minter");
        distributor = makeAddr("distributor");
        alice = makeAddr("alice");
        bob = makeAddr("bob");
        token = new MCPToken(admin);
        vm.startPrank(admin);
        token.grantRole(token.MINTER_ROLE(), minter);
        token.grantRole(token.DISTRIBUTOR_ROLE(), distributor);
        vm.stopPrank();
    }

    function _mint(address to, uint256 amount) internal {
        vm.prank(minter);
        token.mint(to, amount);
    }

    function _credit(address account, uint256 cumulative) internal returns (uint256) {
        vm.prank(distributor);
        return token.creditRewards(account, cumulative);
    }

    // ---- metadata and roles ----------------------------------------------------------------------

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

    // ---- mint ------------------------------------------------------------------------------------

    function testFuzz_mint_byMinter(address to, uint256 amount) public {
        vm.assume(to != address(0));
        amount = bound(amount, 0, MAX_SUPPLY);
        vm.expectEmit(address(token));
        emit IERC20.Transfer(address(0), to, amount);
        _mint(to, amount);
        vm.assertEq(token.balanceOf(to), amount, "balance");
        vm.assertEq(token.totalSupply(), amount, "supply");
        vm.assertEq(token.rewardsClaimed(to), 0, "a mint is no claim");
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

    function test_mint_revertsToZeroAddress() public {
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InvalidReceiver.selector, address(0)));
        _mint(address(0), 1);
    }

    /// Balances live in 128 bits: the supply stops at 2^128 - 1, and past it a mint reverts cleanly.
    function testFuzz_mint_supplyCappedAt128Bits(uint256 first, uint256 second) public {
        first = bound(first, 1, MAX_SUPPLY);
        second = bound(second, MAX_SUPPLY - first + 1, type(uint256).max);
        _mint(alice, first);
        vm.expectRevert(abi.encodeWithSelector(MCPToken.MCPTokenSupplyOverflow.selector, first, second));
        _mint(bob, second);
        vm.assertEq(token.totalSupply(), first, "supply unchanged");
        vm.assertEq(token.balanceOf(bob), 0, "nothing minted");
    }

    function test_mint_upToTheCap() public {
        _mint(alice, MAX_SUPPLY - 1);
        _mint(bob, 1);
        vm.assertEq(token.totalSupply(), MAX_SUPPLY, "supply at the cap");
        vm.prank(bob);
        token.transfer(alice, 1);
        vm.assertEq(token.balanceOf(alice), MAX_SUPPLY, "one balance holds the whole supply");
        vm.assertEq(token.rewardsClaimed(alice), 0, "no carry into the claimed half");
    }

    // ---- creditRewards ---------------------------------------------------------------------------

    function test_creditRewards_paysTheDifferenceAndRecordsCumulative() public {
        vm.expectEmit(address(token));
        emit IERC20.Transfer(address(0), alice, 100);
        vm.assertEq(_credit(alice, 100), 100, "first credit pays everything");
        vm.assertEq(token.balanceOf(alice), 100, "balance");
        vm.assertEq(token.rewardsClaimed(alice), 100, "claimed");

        vm.assertEq(_credit(alice, 160), 60, "then only the difference");
        vm.assertEq(token.balanceOf(alice), 160, "balance");
        vm.assertEq(token.rewardsClaimed(alice), 160, "claimed");
        vm.assertEq(token.totalSupply(), 160, "supply");
    }

    function test_creditRewards_nothingNewChangesNothing() public {
        _credit(alice, 100);
        vm.recordLogs();
        vm.assertEq(_credit(alice, 100), 0, "same cumulative");
        vm.assertEq(_credit(alice, 99), 0, "lower cumulative");
        vm.assertEq(vm.getRecordedLogs().length, 0, "no event");
        vm.assertEq(token.balanceOf(alice), 100, "balance");
        vm.assertEq(token.rewardsClaimed(alice), 100, "claimed");
        vm.assertEq(token.totalSupply(), 100, "supply");
    }

    function testFuzz_creditRewards_revertsForOthers(address caller) public {
        vm.assume(caller != distributor);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, caller, token.DISTRIBUTOR_ROLE()
            )
        );
        vm.prank(caller);
        token.creditRewards(caller, 1);
    }

    function test_creditRewards_minterIsNotDistributor() public {
        bytes32 role = token.DISTRIBUTOR_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, minter, role));
        vm.prank(minter);
        token.creditRewards(alice, 1);
    }

    function test_creditRewards_rejectsBadInput() public {
        vm.startPrank(distributor);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InvalidReceiver.selector, address(0)));
        token.creditRewards(address(0), 1);
        vm.expectRevert(abi.encodeWithSelector(SafeCast.SafeCastOverflowedUintDowncast.selector, 128, MAX_SUPPLY + 1));
        token.creditRewards(alice, MAX_SUPPLY + 1);
        token.creditRewards(alice, 10);
        vm.expectRevert(abi.encodeWithSelector(MCPToken.MCPTokenSupplyOverflow.selector, 10, MAX_SUPPLY));
        token.creditRewards(bob, MAX_SUPPLY);
        vm.stopPrank();
        vm.assertEq(token.totalSupply(), 10, "supply unchanged");
        vm.assertEq(token.rewardsClaimed(bob), 0, "nothing recorded");
    }

    /// Balance and claimed total share a slot; neither half may leak into the other, whatever the values.
    function testFuzz_creditRewards_halvesStayApart(uint128 minted, uint128 cumulative, uint128 moved) public {
        vm.assume(cumulative > 0 && uint256(minted) + cumulative <= MAX_SUPPLY);
        _mint(alice, minted);
        vm.assertEq(_credit(alice, cumulative), cumulative, "credited");
        vm.assertEq(token.balanceOf(alice), uint256(minted) + cumulative, "balance = mint + credit");
        vm.assertEq(token.rewardsClaimed(alice), cumulative, "claimed = credit only");

        uint256 amount = bound(moved, 0, uint256(minted) + cumulative);
        vm.prank(alice);
        token.transfer(bob, amount);
        vm.assertEq(token.balanceOf(alice), uint256(minted) + cumulative - amount, "alice after transfer");
        vm.assertEq(token.balanceOf(bob), amount, "bob");
        vm.assertEq(token.rewardsClaimed(alice), cumulative, "alice's claimed total unchanged");
        vm.assertEq(token.rewardsClaimed(bob), 0, "a transfer carries no claimed total");
        vm.assertEq(token.totalSupply(), uint256(minted) + cumulative, "supply");
    }

    // ---- ERC-20 ----------------------------------------------------------------------------------

    function testFuzz_transfer(uint128 balance, uint128 amount) public {
        vm.assume(amount <= balance);
        _mint(alice, balance);
        vm.expectEmit(address(token));
        emit IERC20.Transfer(alice, bob, amount);
        vm.prank(alice);
        vm.assertTrue(token.transfer(bob, amount), "returns true");
        vm.assertEq(token.balanceOf(alice), uint256(balance) - amount, "sender");
        vm.assertEq(token.balanceOf(bob), amount, "receiver");
        vm.assertEq(token.totalSupply(), balance, "supply unchanged");
    }

    function testFuzz_transfer_revertsBeyondBalance(uint256 minted, uint256 amount) public {
        minted = bound(minted, 0, MAX_SUPPLY - 7);
        _mint(alice, minted);
        _credit(alice, 7); // the claimed half must not count as balance
        uint256 balance = minted + 7;
        amount = bound(amount, balance + 1, type(uint256).max);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, alice, balance, amount));
        vm.prank(alice);
        token.transfer(bob, amount);
        vm.assertEq(token.balanceOf(alice), balance, "nothing moved");
    }

    function test_transfer_toSelfKeepsBalance() public {
        _mint(alice, 5);
        _credit(alice, 3);
        vm.prank(alice);
        token.transfer(alice, 8);
        vm.assertEq(token.balanceOf(alice), 8, "balance");
        vm.assertEq(token.rewardsClaimed(alice), 3, "claimed");
    }

    function test_transfer_rejectsZeroAddressAndEmptyBalance() public {
        _mint(alice, 5);
        vm.startPrank(alice);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InvalidReceiver.selector, address(0)));
        token.transfer(address(0), 1);
        vm.stopPrank();
        // An account with a claimed total but no balance has nothing to send.
        _credit(bob, 9);
        vm.prank(bob);
        token.transfer(alice, 9);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, bob, 0, 1));
        vm.prank(bob);
        token.transfer(alice, 1);
    }

    function testFuzz_approveAndTransferFrom(uint128 balance, uint128 allowance, uint128 amount) public {
        vm.assume(amount <= balance && amount <= allowance && allowance != type(uint256).max);
        address spender = makeAddr("spender");
        _mint(alice, balance);
        vm.expectEmit(address(token));
        emit IERC20.Approval(alice, spender, allowance);
        vm.prank(alice);
        vm.assertTrue(token.approve(spender, allowance), "approve returns true");
        vm.assertEq(token.allowance(alice, spender), allowance, "allowance");

        vm.expectEmit(address(token));
        emit IERC20.Transfer(alice, bob, amount);
        vm.prank(spender);
        vm.assertTrue(token.transferFrom(alice, bob, amount), "transferFrom returns true");
        vm.assertEq(token.allowance(alice, spender), uint256(allowance) - amount, "allowance spent");
        vm.assertEq(token.balanceOf(alice), uint256(balance) - amount, "owner");
        vm.assertEq(token.balanceOf(bob), amount, "receiver");
    }

    function test_transferFrom_revertsBeyondAllowanceAndKeepsInfiniteAllowance() public {
        address spender = makeAddr("spender");
        _mint(alice, 10);
        vm.prank(alice);
        token.approve(spender, 3);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, spender, 3, 4));
        vm.prank(spender);
        token.transferFrom(alice, bob, 4);

        vm.prank(alice);
        token.approve(spender, type(uint256).max);
        vm.prank(spender);
        token.transferFrom(alice, bob, 4);
        vm.assertEq(token.allowance(alice, spender), type(uint256).max, "infinite allowance is not spent");
        vm.assertEq(token.balanceOf(bob), 4, "moved");
    }

    function testFuzz_burn_lowersBalanceAndSupplyOnly(uint128 minted, uint128 credited, uint256 burnt) public {
        vm.assume(credited > 0 && uint256(minted) + credited <= MAX_SUPPLY);
        MCPTokenWithBurn burnable = new MCPTokenWithBurn(admin);
        vm.startPrank(admin);
        burnable.grantRole(burnable.MINTER_ROLE(), minter);
        burnable.grantRole(burnable.DISTRIBUTOR_ROLE(), distributor);
        vm.stopPrank();
        vm.prank(minter);
        burnable.mint(alice, minted);
        vm.prank(distributor);
        burnable.creditRewards(alice, credited);
        uint256 balance = uint256(minted) + credited;

        burnt = bound(burnt, 0, balance);
        vm.expectEmit(address(burnable));
        emit IERC20.Transfer(alice, address(0), burnt);
        burnable.burn(alice, burnt);
        vm.assertEq(burnable.balanceOf(alice), balance - burnt, "balance");
        vm.assertEq(burnable.totalSupply(), balance - burnt, "supply");
        vm.assertEq(burnable.rewardsClaimed(alice), credited, "claimed total unchanged");

        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, alice, balance - burnt, balance - burnt + 1)
        );
        burnable.burn(alice, balance - burnt + 1);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InvalidSender.selector, address(0)));
        burnable.burn(address(0), 1);
    }

    function test_permit_setsAllowance() public {
        uint256 ownerKey = 0xA11CE;
        address owner = vm.addr(ownerKey);
        address spender = makeAddr("spender");
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(ownerKey, owner, spender, 5e18, deadline);

        token.permit(owner, spender, 5e18, deadline, v, r, s);
        vm.assertEq(token.allowance(owner, spender), 5e18, "allowance");
        vm.assertEq(token.nonces(owner), 1, "nonce used");

        // The same signature cannot be used twice (the nonce moved on).
        vm.expectRevert();
        token.permit(owner, spender, 5e18, deadline, v, r, s);
    }

    function test_permit_rejectsWrongSigner() public {
        address owner = vm.addr(0xA11CE);
        address spender = makeAddr("spender");
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(0xB0B, owner, spender, 1, deadline);
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612InvalidSigner.selector, vm.addr(0xB0B), owner));
        token.permit(owner, spender, 1, deadline, v, r, s);
        vm.assertEq(token.allowance(owner, spender), 0, "no allowance");
    }

    function _signPermit(uint256 key, address owner, address spender, uint256 value, uint256 deadline)
        internal
        view
        returns (uint8 v, bytes32 r, bytes32 s)
    {
        bytes32 structHash = keccak256(abi.encode(PERMIT_TYPEHASH, owner, spender, value, token.nonces(owner), deadline));
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash));
        (v, r, s) = vm.sign(key, digest);
    }
}
