// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IRewardDistributor} from "../src/IRewardDistributor.sol";
import {MCPToken} from "../src/MCPToken.sol";
import {RewardDistributor} from "../src/RewardDistributor.sol";
import {RewardLeaves} from "../src/RewardLeaves.sol";
import {StandardMerkle} from "./utils/StandardMerkle.sol";
import {TestBase} from "./utils/TestBase.sol";

contract RewardDistributorTest is TestBase {
    MCPToken internal token;
    RewardDistributor internal distributor;
    address internal admin;
    address internal batcher;
    address internal alice;
    address internal bob;
    address internal carol;
    address internal stranger;

    bytes32 internal constant CONTRIBUTIONS_ROOT = keccak256("contributions");

    /// A contributions-tree leaf's fields (a struct keeps the fuzz test's stack small).
    struct Contribution {
        bytes32 jobId;
        uint32 shardIndex;
        bytes32 nodeId;
        address owner;
        uint256 units;
    }

    function setUp() public {
        admin = makeAddr("admin");
        batcher = makeAddr("batcher");
        alice = makeAddr("alice");
        bob = makeAddr("bob");
        carol = makeAddr("carol");
        stranger = makeAddr("stranger");

        token = new MCPToken(admin);
        distributor = new RewardDistributor(token, admin);
        vm.startPrank(admin);
        token.grantRole(token.DISTRIBUTOR_ROLE(), address(distributor));
        distributor.grantRole(distributor.BATCHER_ROLE(), batcher);
        vm.stopPrank();
    }

    // ---- helpers -------------------------------------------------------------------------------

    function _earningsTree(address[] memory accounts, uint256[] memory amounts)
        internal
        pure
        returns (bytes32[] memory tree, uint256 total)
    {
        bytes32[] memory leaves = new bytes32[](accounts.length);
        for (uint256 i = 0; i < accounts.length; i++) {
            leaves[i] = RewardLeaves.earningsLeaf(accounts[i], amounts[i]);
            total += amounts[i];
        }
        tree = StandardMerkle.build(leaves);
    }

    function _post(uint64 epoch, address[] memory accounts, uint256[] memory amounts)
        internal
        returns (bytes32[] memory tree)
    {
        uint256 total;
        (tree, total) = _earningsTree(accounts, amounts);
        vm.prank(batcher);
        distributor.postEpoch(epoch, StandardMerkle.root(tree), CONTRIBUTIONS_ROOT, total);
    }

    function _three(uint256 a, uint256 b, uint256 c)
        internal
        view
        returns (address[] memory accounts, uint256[] memory amounts)
    {
        accounts = new address[](3);
        amounts = new uint256[](3);
        (accounts[0], accounts[1], accounts[2]) = (alice, bob, carol);
        (amounts[0], amounts[1], amounts[2]) = (a, b, c);
    }

    /// The claim proof: the leaf's proof in the earnings tree, then the epoch's contributions root.
    function _proof(bytes32[] memory tree, address account, uint256 amount) internal pure returns (bytes32[] memory) {
        return _append(StandardMerkle.proof(tree, RewardLeaves.earningsLeaf(account, amount)), CONTRIBUTIONS_ROOT);
    }

    function _append(bytes32[] memory path, bytes32 last) internal pure returns (bytes32[] memory out) {
        out = new bytes32[](path.length + 1);
        for (uint256 i = 0; i < path.length; i++) {
            out[i] = path[i];
        }
        out[path.length] = last;
    }

    // ---- leaves and the off-chain tree -----------------------------------------------------------

    /// Root computed by the JS library (OpenZeppelin merkle-tree) StandardMerkleTree.of(values, ["address", "uint256"]).
    function test_earningsRoot_matchesStandardMerkleTreeJs() public pure {
        bytes32[] memory leaves = new bytes32[](3);
        leaves[0] = RewardLeaves.earningsLeaf(0x1111111111111111111111111111111111111111, 100e18);
        leaves[1] = RewardLeaves.earningsLeaf(0x2222222222222222222222222222222222222222, 250e18);
        leaves[2] = RewardLeaves.earningsLeaf(0x3333333333333333333333333333333333333333, 1);
        vm.assertEq(leaves[0], 0x923a571f712ff2d205bc7da76152ab30459ae47d04647ff145ba9ad746468fc6, "leaf hash");
        vm.assertEq(
            StandardMerkle.root(StandardMerkle.build(leaves)),
            0xc3a097166c253ce39f0a9da2f3254c5dddce85e8d2dbfbdeb78b394fb081745e,
            "earnings root"
        );
    }

    /// Root computed by StandardMerkleTree.of(values, ["bytes32", "uint32", "bytes32", "address", "uint256"])
    /// with ids hashed as keccak256(utf8(id)).
    function test_contributionsRoot_matchesStandardMerkleTreeJs() public pure {
        bytes32 job = keccak256(bytes("job-1"));
        vm.assertEq(job, 0x1e8d7affdec8df51ae5319b51f761c1e6cd166e9fa61e013889f2e65136eb73a, "job id hash");
        bytes32[] memory leaves = new bytes32[](2);
        leaves[0] = RewardLeaves.contributionLeaf(
            job, 0, keccak256(bytes("node-a")), 0x1111111111111111111111111111111111111111, 1000
        );
        leaves[1] = RewardLeaves.contributionLeaf(
            job, 1, keccak256(bytes("node-b")), 0x2222222222222222222222222222222222222222, 2500
        );
        vm.assertEq(
            StandardMerkle.root(StandardMerkle.build(leaves)),
            0x7eea6119930273f3c0c69e9f8d30ce7cb517951837b799db9d096aa2ebaa19ce,
            "contributions root"
        );
    }

    function test_leafGetters_matchLibrary() public view {
        vm.assertEq(distributor.earningsLeaf(alice, 7), RewardLeaves.earningsLeaf(alice, 7), "earnings leaf");
        vm.assertEq(
            distributor.contributionLeaf(bytes32(uint256(1)), 2, bytes32(uint256(3)), bob, 4),
            RewardLeaves.contributionLeaf(bytes32(uint256(1)), 2, bytes32(uint256(3)), bob, 4),
            "contribution leaf"
        );
    }

    // ---- deployment ------------------------------------------------------------------------------

    function test_constructor_setsRolesAndToken() public view {
        vm.assertEq(address(distributor.token()), address(token), "token");
        vm.assertTrue(distributor.hasRole(distributor.DEFAULT_ADMIN_ROLE(), admin), "admin role");
        vm.assertTrue(distributor.hasRole(distributor.PAUSER_ROLE(), admin), "pauser role");
        vm.assertTrue(distributor.hasRole(distributor.BATCHER_ROLE(), batcher), "batcher role");
        vm.assertEq(distributor.currentEpoch(), 0, "no epoch yet");
    }

    function test_constructor_rejectsZeroAddresses() public {
        vm.expectRevert(abi.encodeWithSelector(IRewardDistributor.InvalidToken.selector, address(0)));
        new RewardDistributor(MCPToken(address(0)), admin);
        vm.expectRevert(abi.encodeWithSelector(IRewardDistributor.InvalidAdmin.selector, address(0)));
        new RewardDistributor(token, address(0));
    }

    // ---- postEpoch -------------------------------------------------------------------------------

    function test_postEpoch_recordsRootsAndEmits() public {
        bytes32 earnings = keccak256("earnings-1");
        vm.expectEmit(address(distributor));
        emit IRewardDistributor.EpochPosted(1, earnings, CONTRIBUTIONS_ROOT, 42);
        vm.prank(batcher);
        bool posted = distributor.postEpoch(1, earnings, CONTRIBUTIONS_ROOT, 42);

        vm.assertTrue(posted, "posted");
        vm.assertEq(distributor.currentEpoch(), 1, "current epoch");
        vm.assertEq(distributor.totalCumulative(), 42, "total cumulative");
        bytes32 expected = earnings < CONTRIBUTIONS_ROOT
            ? keccak256(abi.encode(earnings, CONTRIBUTIONS_ROOT))
            : keccak256(abi.encode(CONTRIBUTIONS_ROOT, earnings));
        vm.assertEq(distributor.epochRoot(1), expected, "epoch root = sorted-pair hash of the two roots");
        vm.assertEq(distributor.epochRootOf(earnings, CONTRIBUTIONS_ROOT), expected, "helper");
        vm.assertEq(distributor.epochRootOf(CONTRIBUTIONS_ROOT, earnings), expected, "order-free");
    }

    function test_postEpoch_keepsEveryEpochRoot() public {
        vm.startPrank(batcher);
        distributor.postEpoch(1, keccak256("e1"), keccak256("c1"), 1);
        distributor.postEpoch(2, keccak256("e2"), bytes32(0), 2);
        vm.stopPrank();
        vm.assertEq(distributor.epochRoot(1), distributor.epochRootOf(keccak256("e1"), keccak256("c1")), "epoch 1");
        vm.assertEq(distributor.epochRoot(2), distributor.epochRootOf(keccak256("e2"), bytes32(0)), "epoch 2");
    }

    function test_postEpoch_revertsPastUint32Epochs() public {
        // Epochs are stored in 32 bits; epoch 2^32 can only follow 2^32 - 1, which is out of reach
        // (hourly epochs for 490,000 years), so the bound shows as EpochOutOfOrder.
        vm.expectRevert(abi.encodeWithSelector(IRewardDistributor.EpochOutOfOrder.selector, 1, uint64(1) << 32));
        vm.prank(batcher);
        distributor.postEpoch(uint64(1) << 32, keccak256("a"), bytes32(0), 0);
    }

    function test_postEpoch_revertsWhenTotalExceeds104Bits() public {
        uint256 tooBig = uint256(type(uint104).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(SafeCast.SafeCastOverflowedUintDowncast.selector, 104, tooBig));
        vm.prank(batcher);
        distributor.postEpoch(1, keccak256("a"), bytes32(0), tooBig);
    }

    /// The packed slot (Pausable's flag, epoch, totals) must not disturb pausing.
    function test_packedState_pauseFlagIndependentOfTotals() public {
        vm.prank(batcher);
        distributor.postEpoch(1, keccak256("a"), bytes32(0), type(uint104).max);
        vm.assertFalse(distributor.paused(), "not paused");
        vm.prank(admin);
        distributor.pause();
        vm.assertTrue(distributor.paused(), "paused");
        vm.assertEq(distributor.currentEpoch(), 1, "epoch kept");
        vm.assertEq(distributor.totalCumulative(), type(uint104).max, "total kept");
        vm.prank(admin);
        distributor.unpause();
        vm.assertFalse(distributor.paused(), "unpaused");
        vm.assertEq(distributor.totalCumulative(), type(uint104).max, "total kept after unpause");
    }

    function test_postEpoch_revertsOutOfOrder() public {
        vm.startPrank(batcher);
        vm.expectRevert(abi.encodeWithSelector(IRewardDistributor.EpochOutOfOrder.selector, 1, 0));
        distributor.postEpoch(0, bytes32(0), bytes32(0), 0);
        vm.expectRevert(abi.encodeWithSelector(IRewardDistributor.EpochOutOfOrder.selector, 1, 2));
        distributor.postEpoch(2, keccak256("a"), bytes32(0), 0);

        distributor.postEpoch(1, keccak256("a"), bytes32(0), 10);
        vm.expectRevert(abi.encodeWithSelector(IRewardDistributor.EpochOutOfOrder.selector, 2, 1));
        distributor.postEpoch(1, keccak256("b"), bytes32(0), 10);
        vm.expectRevert(abi.encodeWithSelector(IRewardDistributor.EpochOutOfOrder.selector, 2, 3));
        distributor.postEpoch(3, keccak256("b"), bytes32(0), 10);
        vm.stopPrank();
    }

    function testFuzz_postEpoch_onlyNextEpochAccepted(uint64 epoch) public {
        vm.assume(epoch != 1);
        vm.expectRevert(abi.encodeWithSelector(IRewardDistributor.EpochOutOfOrder.selector, 1, epoch));
        vm.prank(batcher);
        distributor.postEpoch(epoch, keccak256("a"), bytes32(0), 0);
    }

    function test_postEpoch_repostWithOtherContributionsRootOrTotalReverts() public {
        vm.startPrank(batcher);
        distributor.postEpoch(1, keccak256("a"), CONTRIBUTIONS_ROOT, 10);
        vm.expectRevert(abi.encodeWithSelector(IRewardDistributor.EpochOutOfOrder.selector, 2, 1));
        distributor.postEpoch(1, keccak256("a"), bytes32(0), 10);
        vm.expectRevert(abi.encodeWithSelector(IRewardDistributor.EpochOutOfOrder.selector, 2, 1));
        distributor.postEpoch(1, keccak256("a"), CONTRIBUTIONS_ROOT, 11);
        vm.stopPrank();
    }

    function test_postEpoch_identicalRepostIsNoop() public {
        vm.startPrank(batcher);
        distributor.postEpoch(1, keccak256("a"), CONTRIBUTIONS_ROOT, 10);
        vm.recordLogs();
        bool posted = distributor.postEpoch(1, keccak256("a"), CONTRIBUTIONS_ROOT, 10);
        vm.stopPrank();
        vm.assertFalse(posted, "re-post reports not posted");
        vm.assertEq(vm.getRecordedLogs().length, 0, "re-post emits nothing");
        vm.assertEq(distributor.currentEpoch(), 1, "epoch unchanged");
    }

    function test_postEpoch_revertsForNonBatcher() public {
        bytes32 role = distributor.BATCHER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, role)
        );
        vm.prank(stranger);
        distributor.postEpoch(1, keccak256("a"), bytes32(0), 0);

        // The admin is not a batcher either unless it grants itself the role.
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, admin, role));
        vm.prank(admin);
        distributor.postEpoch(1, keccak256("a"), bytes32(0), 0);
    }

    function test_postEpoch_revertsWhenTotalDecreases() public {
        vm.startPrank(batcher);
        distributor.postEpoch(1, keccak256("a"), bytes32(0), 100);
        vm.expectRevert(abi.encodeWithSelector(IRewardDistributor.TotalCumulativeDecreased.selector, 100, 99));
        distributor.postEpoch(2, keccak256("b"), bytes32(0), 99);
        vm.stopPrank();
    }

    function test_postEpoch_revertsWhenPaused() public {
        vm.prank(admin);
        distributor.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(batcher);
        distributor.postEpoch(1, keccak256("a"), bytes32(0), 0);
    }

    function test_epochRoot_revertsForUnknownEpoch() public {
        vm.expectRevert(abi.encodeWithSelector(IRewardDistributor.UnknownEpoch.selector, 0));
        distributor.epochRoot(0);
        vm.expectRevert(abi.encodeWithSelector(IRewardDistributor.UnknownEpoch.selector, 1));
        distributor.epochRoot(1);
    }

    // ---- claim -----------------------------------------------------------------------------------

    function test_claim_paysCumulativeAmountAndEmits() public {
        (address[] memory accounts, uint256[] memory amounts) = _three(100e18, 250e18, 1);
        bytes32[] memory tree = _post(1, accounts, amounts);

        vm.expectEmit(address(distributor));
        emit IRewardDistributor.Claimed(bob, 1, 250e18, 250e18);
        vm.prank(stranger); // anyone may claim on an owner's behalf; tokens go to the owner
        uint256 paid = distributor.claim(bob, 250e18, _proof(tree, bob, 250e18));

        vm.assertEq(paid, 250e18, "paid");
        vm.assertEq(token.balanceOf(bob), 250e18, "bob balance");
        vm.assertEq(token.balanceOf(stranger), 0, "caller gets nothing");
        vm.assertEq(distributor.claimed(bob), 250e18, "claimed");
        vm.assertEq(distributor.totalClaimed(), 250e18, "total claimed");
        vm.assertEq(token.totalSupply(), 250e18, "supply equals claims");
    }

    function test_claim_twiceRevertsNothingToClaim() public {
        (address[] memory accounts, uint256[] memory amounts) = _three(100e18, 250e18, 1);
        bytes32[] memory tree = _post(1, accounts, amounts);
        bytes32[] memory proof = _proof(tree, alice, 100e18);
        distributor.claim(alice, 100e18, proof);

        vm.expectRevert(abi.encodeWithSelector(IRewardDistributor.NothingToClaim.selector, alice));
        distributor.claim(alice, 100e18, proof);
        vm.assertEq(token.balanceOf(alice), 100e18, "paid once");
    }

    function test_claim_revertsOnWrongProof() public {
        (address[] memory accounts, uint256[] memory amounts) = _three(100e18, 250e18, 1);
        bytes32[] memory tree = _post(1, accounts, amounts);
        bytes32[] memory aliceProof = _proof(tree, alice, 100e18);

        vm.expectRevert(IRewardDistributor.InvalidProof.selector);
        distributor.claim(alice, 100e18 + 1, aliceProof); // inflated amount
        vm.expectRevert(IRewardDistributor.InvalidProof.selector);
        distributor.claim(stranger, 100e18, aliceProof); // someone else's leaf
        vm.expectRevert(IRewardDistributor.InvalidProof.selector);
        distributor.claim(alice, 100e18, _proof(tree, bob, 250e18)); // another leaf's proof
        vm.expectRevert(IRewardDistributor.InvalidProof.selector);
        distributor.claim(alice, 100e18, new bytes32[](0)); // no proof
    }

    function test_claim_revertsBeforeFirstEpoch() public {
        vm.expectRevert(IRewardDistributor.NoEpochPosted.selector);
        distributor.claim(alice, 1, new bytes32[](0));
    }

    function test_claim_revertsWhilePausedAndWorksAfterUnpause() public {
        (address[] memory accounts, uint256[] memory amounts) = _three(100e18, 250e18, 1);
        bytes32[] memory tree = _post(1, accounts, amounts);
        bytes32[] memory proof = _proof(tree, carol, 1);

        vm.prank(admin);
        distributor.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        distributor.claim(carol, 1, proof);

        vm.prank(admin);
        distributor.unpause();
        distributor.claim(carol, 1, proof);
        vm.assertEq(token.balanceOf(carol), 1, "paid after unpause");
    }

    function test_pause_onlyPauser() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, batcher, distributor.PAUSER_ROLE()
            )
        );
        vm.prank(batcher);
        distributor.pause();
    }

    function test_claim_acrossEpochsPaysOnlyTheDifference() public {
        (address[] memory accounts, uint256[] memory amounts) = _three(100e18, 250e18, 1);
        bytes32[] memory tree1 = _post(1, accounts, amounts);
        distributor.claim(alice, 100e18, _proof(tree1, alice, 100e18));

        (accounts, amounts) = _three(160e18, 300e18, 1);
        bytes32[] memory tree2 = _post(2, accounts, amounts);

        // Proofs against the replaced root no longer work.
        vm.expectRevert(IRewardDistributor.InvalidProof.selector);
        distributor.claim(bob, 250e18, _proof(tree1, bob, 250e18));

        vm.expectEmit(address(distributor));
        emit IRewardDistributor.Claimed(alice, 2, 60e18, 160e18);
        uint256 paid = distributor.claim(alice, 160e18, _proof(tree2, alice, 160e18));
        vm.assertEq(paid, 60e18, "alice gets the difference");
        vm.assertEq(token.balanceOf(alice), 160e18, "alice total");

        // Bob skipped epoch 1's claim: he gets everything at once.
        distributor.claim(bob, 300e18, _proof(tree2, bob, 300e18));
        vm.assertEq(token.balanceOf(bob), 300e18, "bob total");

        // Carol's cumulative did not change: nothing new.
        distributor.claim(carol, 1, _proof(tree2, carol, 1));
        vm.expectRevert(abi.encodeWithSelector(IRewardDistributor.NothingToClaim.selector, carol));
        distributor.claim(carol, 1, _proof(tree2, carol, 1));

        vm.assertEq(distributor.totalClaimed(), 460e18 + 1, "total claimed");
        vm.assertEq(token.totalSupply(), distributor.totalClaimed(), "supply equals claims");
    }

    function test_claim_cannotExceedPostedTotal() public {
        // A faulty tree whose leaves add up to more than the posted total.
        (address[] memory accounts, uint256[] memory amounts) = _three(100, 100, 100);
        (bytes32[] memory tree,) = _earningsTree(accounts, amounts);
        vm.prank(batcher);
        distributor.postEpoch(1, StandardMerkle.root(tree), CONTRIBUTIONS_ROOT, 150);

        distributor.claim(alice, 100, _proof(tree, alice, 100));
        vm.expectRevert(abi.encodeWithSelector(IRewardDistributor.ClaimExceedsTotal.selector, 200, 150));
        distributor.claim(bob, 100, _proof(tree, bob, 100));
    }

    function test_claim_revertsWithoutDistributorRole() public {
        (address[] memory accounts, uint256[] memory amounts) = _three(1, 2, 3);
        bytes32[] memory tree = _post(1, accounts, amounts);
        bytes32 role = token.DISTRIBUTOR_ROLE();
        vm.prank(admin);
        token.revokeRole(role, address(distributor));
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, address(distributor), role)
        );
        distributor.claim(alice, 1, _proof(tree, alice, 1));
    }

    /// The claimed total lives in the token, beside the balance: moving tokens away does not let an owner
    /// claim again, and a claim after a transfer pays only the new earnings.
    function test_claim_claimedTotalSurvivesTransfers() public {
        (address[] memory accounts, uint256[] memory amounts) = _three(100e18, 250e18, 1);
        bytes32[] memory tree1 = _post(1, accounts, amounts);
        bytes32[] memory proof = _proof(tree1, alice, 100e18);
        distributor.claim(alice, 100e18, proof);
        vm.prank(alice);
        token.transfer(stranger, 100e18);
        vm.assertEq(token.balanceOf(alice), 0, "alice emptied her balance");
        vm.assertEq(distributor.claimed(alice), 100e18, "claimed kept");
        vm.assertEq(token.rewardsClaimed(alice), 100e18, "the token's record");
        vm.expectRevert(abi.encodeWithSelector(IRewardDistributor.NothingToClaim.selector, alice));
        distributor.claim(alice, 100e18, proof);

        (accounts, amounts) = _three(130e18, 250e18, 1);
        bytes32[] memory tree2 = _post(2, accounts, amounts);
        vm.assertEq(distributor.claim(alice, 130e18, _proof(tree2, alice, 130e18)), 30e18, "only the new 30");
        vm.assertEq(token.balanceOf(alice), 30e18, "balance");
        vm.assertEq(token.balanceOf(stranger), 100e18, "the transferred tokens stay where they went");
        vm.assertEq(token.totalSupply(), distributor.totalClaimed(), "supply equals claims");
    }

    /// Tokens received before the first claim do not count as claimed: the owner is paid in full.
    function test_claim_paysInFullWhateverTheBalance() public {
        (address[] memory accounts, uint256[] memory amounts) = _three(100e18, 250e18, 1);
        bytes32[] memory tree = _post(1, accounts, amounts);
        distributor.claim(bob, 250e18, _proof(tree, bob, 250e18));
        vm.prank(bob);
        token.transfer(alice, 50e18);
        vm.assertEq(distributor.claim(alice, 100e18, _proof(tree, alice, 100e18)), 100e18, "paid in full");
        vm.assertEq(token.balanceOf(alice), 150e18, "transfer + claim");
        vm.assertEq(distributor.claimed(alice), 100e18, "claimed counts only the claim");
    }

    function test_verifyEarnings() public {
        vm.assertFalse(distributor.verifyEarnings(alice, 1, new bytes32[](0)), "false before any epoch");
        (address[] memory accounts, uint256[] memory amounts) = _three(5, 6, 7);
        bytes32[] memory tree = _post(1, accounts, amounts);
        vm.assertTrue(distributor.verifyEarnings(bob, 6, _proof(tree, bob, 6)), "member");
        vm.assertFalse(distributor.verifyEarnings(bob, 7, _proof(tree, bob, 6)), "wrong amount");
        bytes32[] memory bare = StandardMerkle.proof(tree, RewardLeaves.earningsLeaf(bob, 6));
        vm.assertFalse(distributor.verifyEarnings(bob, 6, bare), "earnings proof without the contributions root");
    }

    /// Neither tree's leaves pass for the other's: a contribution leaf cannot be claimed, an earnings
    /// leaf is no contribution, whatever proof is given.
    function test_epochRoot_treesDoNotMix() public {
        bytes32 cLeaf = RewardLeaves.contributionLeaf(keccak256("job"), 0, keccak256("node"), alice, 7);
        bytes32[] memory cLeaves = new bytes32[](2);
        cLeaves[0] = cLeaf;
        cLeaves[1] = RewardLeaves.contributionLeaf(keccak256("job"), 1, keccak256("node"), bob, 9);
        bytes32[] memory cTree = StandardMerkle.build(cLeaves);
        (address[] memory accounts, uint256[] memory amounts) = _three(5, 6, 7);
        (bytes32[] memory eTree,) = _earningsTree(accounts, amounts);
        vm.prank(batcher);
        distributor.postEpoch(1, StandardMerkle.root(eTree), StandardMerkle.root(cTree), 18);

        bytes32[] memory cProof = _append(StandardMerkle.proof(cTree, cLeaf), StandardMerkle.root(eTree));
        vm.assertTrue(distributor.verifyContribution(1, keccak256("job"), 0, keccak256("node"), alice, 7, cProof), "member");
        bytes32[] memory eProof = _append(
            StandardMerkle.proof(eTree, RewardLeaves.earningsLeaf(alice, 5)), StandardMerkle.root(cTree)
        );
        vm.assertTrue(distributor.verifyEarnings(alice, 5, eProof), "earnings member");
        vm.assertFalse(distributor.verifyEarnings(alice, 7, cProof), "contribution proof as earnings");
        vm.assertFalse(
            distributor.verifyContribution(1, keccak256("job"), 0, keccak256("node"), alice, 5, eProof),
            "earnings proof as contribution"
        );
        vm.expectRevert(IRewardDistributor.InvalidProof.selector);
        distributor.claim(alice, 7, cProof);
    }

    // ---- contributions ---------------------------------------------------------------------------

    function test_verifyContribution() public {
        bytes32 job = keccak256(bytes("job-42"));
        bytes32[] memory leaves = new bytes32[](3);
        leaves[0] = RewardLeaves.contributionLeaf(job, 0, keccak256(bytes("node-a")), alice, 1000);
        leaves[1] = RewardLeaves.contributionLeaf(job, 1, keccak256(bytes("node-b")), bob, 2000);
        leaves[2] = RewardLeaves.contributionLeaf(job, 2, keccak256(bytes("node-a")), alice, 1500);
        bytes32[] memory tree = StandardMerkle.build(leaves);
        vm.prank(batcher);
        distributor.postEpoch(1, keccak256("earnings"), StandardMerkle.root(tree), 0);

        bytes32[] memory proof = _append(StandardMerkle.proof(tree, leaves[1]), keccak256("earnings"));
        bytes32 nodeB = keccak256(bytes("node-b"));
        vm.assertTrue(distributor.verifyContribution(1, job, 1, nodeB, bob, 2000, proof), "member");
        vm.assertFalse(distributor.verifyContribution(1, job, 1, nodeB, bob, 2001, proof), "wrong units");
        vm.assertFalse(
            distributor.verifyContribution(1, job, 1, keccak256(bytes("node-a")), bob, 2000, proof), "wrong node"
        );
        vm.assertFalse(distributor.verifyContribution(1, job, 2, nodeB, bob, 2000, proof), "wrong shard");
        vm.assertFalse(
            distributor.verifyContribution(1, job, 1, nodeB, bob, 2000, StandardMerkle.proof(tree, leaves[1])),
            "contributions proof without the earnings root"
        );
        vm.expectRevert(abi.encodeWithSelector(IRewardDistributor.UnknownEpoch.selector, 2));
        distributor.verifyContribution(2, job, 1, nodeB, bob, 2000, proof);
    }

    function testFuzz_verifyContribution(Contribution memory c, bytes32 otherLeaf, bytes32 earnings)
        public
    {
        bytes32[] memory leaves = new bytes32[](2);
        leaves[0] = RewardLeaves.contributionLeaf(c.jobId, c.shardIndex, c.nodeId, c.owner, c.units);
        leaves[1] = otherLeaf;
        vm.assume(leaves[0] != otherLeaf);
        bytes32[] memory tree = StandardMerkle.build(leaves);
        vm.prank(batcher);
        distributor.postEpoch(1, earnings, StandardMerkle.root(tree), 0);
        bytes32[] memory proof = _append(StandardMerkle.proof(tree, leaves[0]), earnings);
        vm.assertTrue(_verify(c, proof), "member");
        unchecked {
            c.units += 1;
        }
        vm.assertFalse(_verify(c, proof), "units");
    }

    function _verify(Contribution memory c, bytes32[] memory proof) internal view returns (bool) {
        return distributor.verifyContribution(1, c.jobId, c.shardIndex, c.nodeId, c.owner, c.units, proof);
    }

    // ---- fuzzing ---------------------------------------------------------------------------------

    /// Any accounts and amounts, two epochs: each claim pays exactly cumulative - claimed.
    function testFuzz_claim_cumulativeAcrossEpochs(
        address[4] memory owners,
        uint96[4] memory first,
        uint96[4] memory increase,
        uint256 claimFirstMask
    ) public {
        address[] memory accounts = new address[](4);
        uint256[] memory amounts1 = new uint256[](4);
        uint256[] memory amounts2 = new uint256[](4);
        for (uint256 i = 0; i < 4; i++) {
            vm.assume(owners[i] != address(0) && owners[i].code.length == 0);
            for (uint256 j = 0; j < i; j++) {
                vm.assume(owners[i] != owners[j]);
            }
            accounts[i] = owners[i];
            amounts1[i] = uint256(first[i]) + 1;
            amounts2[i] = amounts1[i] + increase[i];
        }
        bytes32[] memory tree1 = _post(1, accounts, amounts1);
        for (uint256 i = 0; i < 4; i++) {
            if (claimFirstMask & (1 << i) != 0) {
                distributor.claim(accounts[i], amounts1[i], _proof(tree1, accounts[i], amounts1[i]));
            }
        }
        bytes32[] memory tree2 = _post(2, accounts, amounts2);
        for (uint256 i = 0; i < 4; i++) {
            uint256 before = token.balanceOf(accounts[i]);
            bool claimedFirst = claimFirstMask & (1 << i) != 0;
            bytes32[] memory proof = _proof(tree2, accounts[i], amounts2[i]);
            if (claimedFirst && increase[i] == 0) {
                vm.expectRevert(abi.encodeWithSelector(IRewardDistributor.NothingToClaim.selector, accounts[i]));
                distributor.claim(accounts[i], amounts2[i], proof);
                continue;
            }
            uint256 paid = distributor.claim(accounts[i], amounts2[i], proof);
            vm.assertEq(paid, claimedFirst ? increase[i] : amounts2[i], "paid the difference");
            vm.assertEq(token.balanceOf(accounts[i]), before + paid, "balance");
            vm.assertEq(token.balanceOf(accounts[i]), amounts2[i], "balance equals cumulative");
        }
        vm.assertEq(token.totalSupply(), distributor.totalClaimed(), "supply equals claims");
        vm.assertEq(distributor.totalClaimed(), distributor.totalCumulative(), "everything claimed");
    }

    /// A proof of any depth works, and any change to the amount breaks it.
    function testFuzz_claim_anyProofDepth(address account, uint256 amount, bytes32 seed, uint8 depthSeed) public {
        vm.assume(account != address(0) && account.code.length == 0);
        amount = bound(amount, 1, type(uint104).max);
        uint256 depth = bound(depthSeed, 0, 24);
        bytes32[] memory siblings = new bytes32[](depth);
        for (uint256 i = 0; i < depth; i++) {
            siblings[i] = keccak256(abi.encode(seed, i));
        }
        bytes32 root = StandardMerkle.rootFromProof(RewardLeaves.earningsLeaf(account, amount), siblings);
        vm.prank(batcher);
        distributor.postEpoch(1, root, CONTRIBUTIONS_ROOT, type(uint104).max);
        siblings = _append(siblings, CONTRIBUTIONS_ROOT);

        vm.expectRevert(IRewardDistributor.InvalidProof.selector);
        distributor.claim(account, amount - 1, siblings);
        vm.assertEq(distributor.claim(account, amount, siblings), amount, "paid");
        vm.assertEq(token.balanceOf(account), amount, "balance");
    }
}
