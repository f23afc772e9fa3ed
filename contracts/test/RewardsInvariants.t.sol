// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MCPToken} from "../src/MCPToken.sol";
import {RewardDistributor} from "../src/RewardDistributor.sol";
import {RewardLeaves} from "../src/RewardLeaves.sol";
import {StandardMerkle} from "./utils/StandardMerkle.sol";
import {TestBase} from "./utils/TestBase.sol";

/// @notice Drives the token and the distributor with random sequences of posts, claims, transfers,
/// transferFroms and mints among a few owners. Every action is bounded so it cannot revert
/// (`fail_on_revert` is on for invariants in foundry.toml) and checks its own outcome, so a wrong
/// payment fails the run; ghost variables track what the invariants compare with.
contract RewardsHandler is TestBase {
    uint256 internal constant OWNERS = 4;
    bytes32 internal constant CONTRIBUTIONS_ROOT = keccak256("contributions");

    MCPToken public immutable token;
    RewardDistributor public immutable distributor;
    address internal immutable batcher;
    address internal immutable minter;
    address[OWNERS] internal owners;

    /// Cumulative earnings of each owner in the latest posted tree.
    uint256[OWNERS] public cumulative;
    bytes32[] internal tree;
    uint64 public epoch;
    /// MCP minted outside rewards (MINTER_ROLE).
    uint256 public mintedOutsideRewards;
    /// Calls that ran, per kind (to see that the run exercised everything).
    uint256 public posts;
    uint256 public claims;
    uint256 public transfers;

    constructor(MCPToken token_, RewardDistributor distributor_, address batcher_, address minter_) {
        token = token_;
        distributor = distributor_;
        batcher = batcher_;
        minter = minter_;
        for (uint256 i = 0; i < OWNERS; i++) {
            owners[i] = vm.addr(uint256(keccak256(abi.encode("owner", i))));
        }
    }

    function owner(uint256 i) public view returns (address) {
        return owners[i % OWNERS];
    }

    /// Next epoch: every owner's cumulative grows by a random amount (possibly zero).
    function postEpoch(uint256 seed) external {
        bytes32[] memory leaves = new bytes32[](OWNERS);
        uint256 total;
        for (uint256 i = 0; i < OWNERS; i++) {
            uint256 increase = uint256(keccak256(abi.encode(seed, i))) % 4;
            increase = increase == 0 ? 0 : uint256(keccak256(abi.encode(seed, i, "amount"))) % 1e24;
            cumulative[i] += increase;
            leaves[i] = RewardLeaves.earningsLeaf(owners[i], cumulative[i]);
            total += cumulative[i];
        }
        tree = StandardMerkle.build(leaves);
        epoch += 1;
        vm.prank(batcher);
        require(distributor.postEpoch(epoch, StandardMerkle.root(tree), CONTRIBUTIONS_ROOT, total), "posted");
        posts += 1;
    }

    /// Claims for owner `i` (by anyone): pays exactly what is new, or nothing when nothing is.
    function claim(uint256 i) external {
        if (epoch == 0) return;
        address account = owner(i);
        uint256 amount = cumulative[i % OWNERS];
        uint256 before = distributor.claimed(account);
        if (amount <= before) return;
        uint256 balanceBefore = token.balanceOf(account);
        bytes32[] memory proof = _withContributionsRoot(StandardMerkle.proof(tree, RewardLeaves.earningsLeaf(account, amount)));
        uint256 paid = distributor.claim(account, amount, proof);
        require(paid == amount - before, "paid the difference");
        require(token.balanceOf(account) == balanceBefore + paid, "balance grew by the payment");
        require(distributor.claimed(account) == amount, "claimed total recorded");
        claims += 1;
    }

    function transfer(uint256 from, uint256 to, uint256 amount) external {
        address sender = owner(from);
        amount = bound(amount, 0, token.balanceOf(sender));
        uint256 claimedBefore = token.rewardsClaimed(sender);
        vm.prank(sender);
        token.transfer(owner(to), amount);
        require(token.rewardsClaimed(sender) == claimedBefore, "a transfer keeps the claimed total");
        transfers += 1;
    }

    function approveAndTransferFrom(uint256 from, uint256 spender, uint256 to, uint256 amount) external {
        address holder = owner(from);
        amount = bound(amount, 0, token.balanceOf(holder));
        vm.prank(holder);
        token.approve(owner(spender), amount);
        vm.prank(owner(spender));
        token.transferFrom(holder, owner(to), amount);
        require(token.allowance(holder, owner(spender)) == 0, "allowance spent");
        transfers += 1;
    }

    function mint(uint256 to, uint256 amount) external {
        amount = bound(amount, 0, 1e24);
        vm.prank(minter);
        token.mint(owner(to), amount);
        mintedOutsideRewards += amount;
    }

    function _withContributionsRoot(bytes32[] memory path) internal pure returns (bytes32[] memory out) {
        out = new bytes32[](path.length + 1);
        for (uint256 i = 0; i < path.length; i++) {
            out[i] = path[i];
        }
        out[path.length] = CONTRIBUTIONS_ROOT;
    }
}

/// @notice Invariants of the token and the distributor together: supply = balances, supply = claims +
/// mints outside rewards, claimed totals = the distributor's total, claims never exceed what was posted.
contract RewardsInvariantsTest is TestBase {
    MCPToken internal token;
    RewardDistributor internal distributor;
    RewardsHandler internal handler;

    function setUp() public {
        address admin = makeAddr("admin");
        address batcher = makeAddr("batcher");
        address minter = makeAddr("minter");
        token = new MCPToken(admin);
        distributor = new RewardDistributor(token, admin);
        handler = new RewardsHandler(token, distributor, batcher, minter);
        vm.startPrank(admin);
        token.grantRole(token.DISTRIBUTOR_ROLE(), address(distributor));
        token.grantRole(token.MINTER_ROLE(), minter);
        distributor.grantRole(distributor.BATCHER_ROLE(), batcher);
        vm.stopPrank();
    }

    /// forge fuzzes only the handler's functions.
    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function invariant_supplyEqualsSumOfBalances() public view {
        uint256 sum;
        for (uint256 i = 0; i < 4; i++) {
            sum += token.balanceOf(handler.owner(i));
        }
        vm.assertEq(token.totalSupply(), sum, "supply = sum of balances");
    }

    function invariant_supplyEqualsClaimsPlusMints() public view {
        vm.assertEq(
            token.totalSupply(), distributor.totalClaimed() + handler.mintedOutsideRewards(), "supply = claims + mints"
        );
    }

    function invariant_claimedTotalsAddUp() public view {
        uint256 sum;
        for (uint256 i = 0; i < 4; i++) {
            address account = handler.owner(i);
            uint256 claimed = token.rewardsClaimed(account);
            vm.assertEq(distributor.claimed(account), claimed, "distributor reads the token's record");
            vm.assertTrue(claimed <= handler.cumulative(i), "never more than earned");
            sum += claimed;
        }
        vm.assertEq(sum, distributor.totalClaimed(), "sum of claimed totals = total claimed");
        vm.assertTrue(distributor.totalClaimed() <= distributor.totalCumulative(), "claims within the posted total");
    }

    function invariant_epochFollowsPosts() public view {
        vm.assertEq(distributor.currentEpoch(), handler.epoch(), "epoch");
        vm.assertEq(handler.posts(), handler.epoch(), "one post per epoch");
    }
}
