// End to end on a real anvil: deploy, post epochs with TypeScript-built trees, claim with TypeScript proofs.
// One anvil serves the file; every test deploys its own contracts, so tests do not depend on each other.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  BaseError,
  ContractFunctionRevertedError,
  createPublicClient,
  createWalletClient,
  http,
  keccak256,
  parseEther,
  parseEventLogs,
  toHex,
  zeroHash,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type TransactionReceipt,
  type Transport,
  type WalletClient,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import {
  contributionLeaf,
  contributionLeafHash,
  earningsLeaf,
  earningsLeafHash,
  type RewardContribution,
} from '@meshchain/protocol';
import {
  buildContributionsTree,
  buildEarningsTree,
  deployContracts,
  epochProof,
  epochRoot,
  mcpTokenAbi,
  rewardDistributorAbi,
  roles,
  startAnvil,
  type StartAnvilReturnType,
} from '../src/index.ts';

type Wallet = WalletClient<Transport, Chain, Account>;
type Earnings = [account: Address, cumulativeAmount: bigint][];

const mcp = (amount: string): bigint => parseEther(amount);
/** The contributions root of an epoch without contributions. */
const NO_CONTRIBUTIONS = zeroHash;

/** The custom error a call reverted with, as viem decodes it from the ABI. */
async function revertName(call: Promise<unknown>): Promise<string | undefined> {
  try {
    await call;
  } catch (error) {
    assert.ok(error instanceof BaseError, `unexpected error ${String(error)}`);
    const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError);
    assert.ok(reverted instanceof ContractFunctionRevertedError, error.message);
    return reverted.data?.errorName;
  }
  return assert.fail('expected the call to revert');
}

describe('reward contracts on anvil', () => {
  let anvil: StartAnvilReturnType;
  let publicClient: PublicClient;
  let deployer: Wallet, batcher: Wallet, admin: Wallet, stranger: Wallet;
  let alice: Wallet, bob: Wallet, carol: Wallet;
  let contributions: RewardContribution[];

  before(async () => {
    anvil = await startAnvil();
    const chain = { ...foundry, id: anvil.chainId };
    const transport = http(anvil.rpcUrl);
    publicClient = createPublicClient({ chain, transport, pollingInterval: 50 });
    const wallet = (index: number): Wallet => {
      const key = anvil.accounts[index];
      assert.ok(key, `anvil account ${index}`);
      return createWalletClient({ chain, transport, account: privateKeyToAccount(key), pollingInterval: 50 });
    };
    [deployer, batcher, admin, stranger, alice, bob, carol] = [0, 1, 2, 3, 4, 5, 6].map(wallet) as [
      Wallet, Wallet, Wallet, Wallet, Wallet, Wallet, Wallet,
    ];
    contributions = [
      { jobId: 'job-7f3a', shardIndex: 0, nodeId: 'node-1b2c', owner: alice.account.address, units: 1200n },
      { jobId: 'job-7f3a', shardIndex: 1, nodeId: 'node-9d8e', owner: bob.account.address, units: 3000n },
      { jobId: 'job-7f3a', shardIndex: 2, nodeId: 'node-1b2c', owner: alice.account.address, units: 800n },
      { jobId: 'job-c001', shardIndex: 0, nodeId: 'node-5555', owner: carol.account.address, units: 10n },
    ];
  });

  after(async () => {
    await anvil?.stop();
  });

  /** Fresh contracts plus helpers bound to them. */
  async function deploy() {
    const { token, distributor } = await deployContracts({
      walletClient: deployer,
      publicClient,
      admin: admin.account.address,
      batcher: batcher.account.address,
    });
    const mined = async (hash: Hex): Promise<TransactionReceipt> => {
      const receipt = await publicClient.waitForTransactionReceipt({ hash });
      assert.equal(receipt.status, 'success');
      return receipt;
    };
    const read = publicClient.readContract;
    return {
      token,
      distributor,
      mined,
      async post(epoch: bigint, earnings: Earnings, contributionsRoot: Hex) {
        const tree = buildEarningsTree(earnings.map(([account, cumulativeAmount]) => ({ account, cumulativeAmount })));
        const total = earnings.reduce((sum, [, amount]) => sum + amount, 0n);
        const hash = await batcher.writeContract({
          address: distributor,
          abi: rewardDistributorAbi,
          functionName: 'postEpoch',
          args: [epoch, tree.root as Hex, contributionsRoot, total],
        });
        return { tree, receipt: await mined(hash) };
      },
      async claim(from: Wallet, account: Address, amount: bigint, proof: string[]) {
        const hash = await from.writeContract({
          address: distributor,
          abi: rewardDistributorAbi,
          functionName: 'claim',
          args: [account, amount, proof as Hex[]],
        });
        return mined(hash);
      },
      simulateClaim: (account: Address, amount: bigint, proof: string[]) =>
        publicClient.simulateContract({
          account: stranger.account,
          address: distributor,
          abi: rewardDistributorAbi,
          functionName: 'claim',
          args: [account, amount, proof as Hex[]],
        }),
      simulatePost: (from: Wallet, epoch: bigint, root: Hex, total: bigint) =>
        publicClient.simulateContract({
          account: from.account,
          address: distributor,
          abi: rewardDistributorAbi,
          functionName: 'postEpoch',
          args: [epoch, root, root, total],
        }),
      balance: (account: Address) =>
        read({ address: token, abi: mcpTokenAbi, functionName: 'balanceOf', args: [account] }),
      hasRole: (contract: Address, role: Hex, account: Address) =>
        read({ address: contract, abi: rewardDistributorAbi, functionName: 'hasRole', args: [role, account] }),
      async setPaused(paused: boolean) {
        const hash = await admin.writeContract({
          address: distributor,
          abi: rewardDistributorAbi,
          functionName: paused ? 'pause' : 'unpause',
        });
        await mined(hash);
      },
    };
  }

  it('starts anvil with deterministic funded accounts', async () => {
    assert.match(anvil.rpcUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(anvil.chainId, 31337);
    assert.equal(anvil.accounts.length, 10);
    assert.equal(deployer.account.address, '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266');
    assert.ok((await publicClient.getBalance({ address: deployer.account.address })) > 0n);
  });

  it('deploys the token and distributor and hands the admin roles to the admin', async () => {
    const c = await deploy();
    assert.equal(await c.hasRole(c.token, roles.DISTRIBUTOR_ROLE, c.distributor), true);
    assert.equal(await c.hasRole(c.token, roles.MINTER_ROLE, c.distributor), false, 'the distributor mints only through claims');
    assert.equal(await c.hasRole(c.distributor, roles.BATCHER_ROLE, batcher.account.address), true);
    assert.equal(await c.hasRole(c.distributor, roles.DEFAULT_ADMIN_ROLE, admin.account.address), true);
    assert.equal(await c.hasRole(c.distributor, roles.PAUSER_ROLE, admin.account.address), true);
    assert.equal(await c.hasRole(c.token, roles.DEFAULT_ADMIN_ROLE, admin.account.address), true);
    for (const contract of [c.token, c.distributor]) {
      assert.equal(await c.hasRole(contract, roles.DEFAULT_ADMIN_ROLE, deployer.account.address), false);
    }
    assert.equal(await c.hasRole(c.distributor, roles.PAUSER_ROLE, deployer.account.address), false);
    assert.equal(await publicClient.readContract({ address: c.token, abi: mcpTokenAbi, functionName: 'name' }), 'MeshChain Compute');
    assert.equal(await publicClient.readContract({ address: c.token, abi: mcpTokenAbi, functionName: 'symbol' }), 'MCP');
    assert.equal(
      await publicClient.readContract({ address: c.distributor, abi: rewardDistributorAbi, functionName: 'token' }),
      c.token,
    );
  });

  it('encodes leaves the same way in TypeScript, StandardMerkleTree and Solidity', async () => {
    const { distributor } = await deploy();
    const account = alice.account.address;
    const onChainEarnings = await publicClient.readContract({
      address: distributor,
      abi: rewardDistributorAbi,
      functionName: 'earningsLeaf',
      args: [account, mcp('12.5')],
    });
    const earningsTree = buildEarningsTree([{ account, cumulativeAmount: mcp('12.5') }]);
    assert.equal(earningsLeafHash(account, mcp('12.5')), onChainEarnings);
    assert.equal(earningsTree.leafHash(earningsLeaf(account, mcp('12.5'))), onChainEarnings);

    const contributionsTree = buildContributionsTree(contributions);
    for (const contribution of contributions) {
      const leaf = contributionLeaf(contribution);
      const onChain = await publicClient.readContract({
        address: distributor,
        abi: rewardDistributorAbi,
        functionName: 'contributionLeaf',
        args: leaf,
      });
      assert.equal(contributionLeafHash(contribution), onChain);
      assert.equal(contributionsTree.leafHash(leaf), onChain);
    }
  });

  it('pays epoch 1 claims made with TypeScript proofs, then only the difference after epoch 2', async () => {
    const c = await deploy();
    const [a, b, k] = [alice.account.address, bob.account.address, carol.account.address];
    const contributionsTree = buildContributionsTree(contributions);

    // Epoch 1
    const epoch1: Earnings = [[a, mcp('100')], [b, mcp('250')], [k, mcp('1')]];
    const { tree: tree1, receipt } = await c.post(1n, epoch1, contributionsTree.root as Hex);
    const [posted] = parseEventLogs({ abi: rewardDistributorAbi, eventName: 'EpochPosted', logs: receipt.logs });
    assert.deepEqual(posted?.args, {
      epoch: 1n,
      earningsRoot: tree1.root,
      contributionsRoot: contributionsTree.root,
      totalCumulative: mcp('351'),
    });
    // The one value stored per epoch: TypeScript's epochRoot equals the contract's, in either order.
    const stored = await publicClient.readContract({ address: c.distributor, abi: rewardDistributorAbi, functionName: 'epochRoot', args: [1n] });
    assert.equal(stored, epochRoot(tree1.root as Hex, contributionsTree.root as Hex));
    assert.equal(stored, epochRoot(contributionsTree.root as Hex, tree1.root as Hex));
    assert.equal(
      await publicClient.readContract({
        address: c.distributor,
        abi: rewardDistributorAbi,
        functionName: 'epochRootOf',
        args: [tree1.root as Hex, contributionsTree.root as Hex],
      }),
      stored,
    );
    // Claim proofs are the earnings proof followed by the epoch's contributions root.
    const p1 = (account: Address, amount: bigint) => epochProof(tree1.getProof(earningsLeaf(account, amount)), contributionsTree.root as Hex);
    const p2 = (account: Address, amount: bigint) => epochProof(tree2.getProof(earningsLeaf(account, amount)), contributionsTree.root as Hex);

    const claimReceipt = await c.claim(alice, a, mcp('100'), p1(a, mcp('100')));
    const [claimed] = parseEventLogs({ abi: rewardDistributorAbi, eventName: 'Claimed', logs: claimReceipt.logs });
    assert.deepEqual(claimed?.args, { account: a, epoch: 1n, amount: mcp('100'), cumulativeAmount: mcp('100') });
    assert.equal(await c.balance(a), mcp('100'));
    // Anyone may claim for an owner: the tokens go to the owner, not to the caller.
    await c.claim(stranger, b, mcp('250'), p1(b, mcp('250')));
    assert.equal(await c.balance(b), mcp('250'));
    assert.equal(await c.balance(stranger.account.address), 0n);

    // Epoch 2: cumulative amounts grow (bob's does not).
    const epoch2: Earnings = [[a, mcp('160')], [b, mcp('250')], [k, mcp('5')]];
    const { tree: tree2 } = await c.post(2n, epoch2, contributionsTree.root as Hex);
    assert.equal(
      await publicClient.readContract({ address: c.distributor, abi: rewardDistributorAbi, functionName: 'currentEpoch' }),
      2n,
    );
    const { result: paid } = await c.simulateClaim(a, mcp('160'), p2(a, mcp('160')));
    assert.equal(paid, mcp('60'));
    await c.claim(alice, a, mcp('160'), p2(a, mcp('160')));
    assert.equal(await c.balance(a), mcp('160'), 'alice received the 60 MCP difference');
    await c.claim(stranger, k, mcp('5'), p2(k, mcp('5')));
    assert.equal(await c.balance(k), mcp('5'), 'carol skipped epoch 1 and receives both epochs at once');
    assert.equal(
      await revertName(c.simulateClaim(b, mcp('250'), p2(b, mcp('250')))),
      'NothingToClaim',
    );

    const read = (functionName: 'totalClaimed' | 'totalCumulative') =>
      publicClient.readContract({ address: c.distributor, abi: rewardDistributorAbi, functionName });
    assert.equal(await read('totalClaimed'), mcp('415'));
    assert.equal(await read('totalCumulative'), mcp('415'));
    assert.equal(await publicClient.readContract({ address: c.token, abi: mcpTokenAbi, functionName: 'totalSupply' }), mcp('415'));
  });

  it('verifies contribution proofs on-chain', async () => {
    const c = await deploy();
    const tree = buildContributionsTree(contributions);
    const { tree: earnings } = await c.post(1n, [[alice.account.address, 1n]], tree.root as Hex);
    for (const contribution of contributions) {
      const [jobId, shardIndex, nodeId, owner] = contributionLeaf(contribution);
      const proof = epochProof(tree.getProof(contributionLeaf(contribution)), earnings.root as Hex);
      const verify = (epoch: bigint, units: bigint) =>
        publicClient.readContract({
          address: c.distributor,
          abi: rewardDistributorAbi,
          functionName: 'verifyContribution',
          args: [epoch, jobId, shardIndex, nodeId, owner, units, proof],
        });
      assert.equal(await verify(1n, contribution.units), true);
      assert.equal(await verify(1n, contribution.units + 1n), false);
      assert.equal(await revertName(verify(2n, contribution.units)), 'UnknownEpoch');
    }
  });

  it('surfaces the custom errors through viem', async () => {
    const c = await deploy();
    const a = alice.account.address;
    const earnings: Earnings = [[a, mcp('10')], [bob.account.address, mcp('20')]];
    const proof = epochProof(
      buildEarningsTree(earnings.map(([account, cumulativeAmount]) => ({ account, cumulativeAmount }))).getProof(earningsLeaf(a, mcp('10'))),
      NO_CONTRIBUTIONS,
    );

    assert.equal(await revertName(c.simulateClaim(a, mcp('10'), proof)), 'NoEpochPosted');
    const { tree } = await c.post(1n, earnings, NO_CONTRIBUTIONS);
    const root = tree.root as Hex;

    assert.equal(await revertName(c.simulateClaim(a, mcp('11'), proof)), 'InvalidProof');
    await c.claim(alice, a, mcp('10'), proof);
    assert.equal(await revertName(c.simulateClaim(a, mcp('10'), proof)), 'NothingToClaim');

    assert.equal(await revertName(c.simulatePost(batcher, 3n, root, mcp('30'))), 'EpochOutOfOrder');
    assert.equal(await revertName(c.simulatePost(batcher, 1n, NO_CONTRIBUTIONS, mcp('30'))), 'EpochOutOfOrder');
    assert.equal(await revertName(c.simulatePost(batcher, 2n, root, mcp('29'))), 'TotalCumulativeDecreased');
    assert.equal(await revertName(c.simulatePost(stranger, 2n, root, mcp('30'))), 'AccessControlUnauthorizedAccount');
    assert.equal(await revertName(c.simulatePost(admin, 2n, root, mcp('30'))), 'AccessControlUnauthorizedAccount');

    await c.setPaused(true);
    const bobProof = epochProof(tree.getProof(earningsLeaf(bob.account.address, mcp('20'))), NO_CONTRIBUTIONS);
    assert.equal(await revertName(c.simulateClaim(bob.account.address, mcp('20'), bobProof)), 'EnforcedPause');
    assert.equal(await revertName(c.simulatePost(batcher, 2n, root, mcp('30'))), 'EnforcedPause');
    await c.setPaused(false);
    await c.claim(bob, bob.account.address, mcp('20'), bobProof);
    assert.equal(await c.balance(bob.account.address), mcp('20'));
  });

  it('treats an identical re-post of the current epoch as a no-op', async () => {
    const c = await deploy();
    const earnings: Earnings = [[alice.account.address, mcp('3')]];
    const { tree } = await c.post(1n, earnings, NO_CONTRIBUTIONS);
    const repost = await publicClient.simulateContract({
      account: batcher.account,
      address: c.distributor,
      abi: rewardDistributorAbi,
      functionName: 'postEpoch',
      args: [1n, tree.root as Hex, NO_CONTRIBUTIONS, mcp('3')],
    });
    assert.equal(repost.result, false);
    const { receipt } = await c.post(1n, earnings, NO_CONTRIBUTIONS);
    assert.equal(parseEventLogs({ abi: rewardDistributorAbi, eventName: 'EpochPosted', logs: receipt.logs }).length, 0);
  });

  it('meets the gas goals: every post ≤ 60k gas (the first included), whatever the tree', async () => {
    const c = await deploy();
    const contributionsRoot = buildContributionsTree(contributions).root as Hex;
    const owners = (n: number, epoch: bigint): Earnings =>
      Array.from({ length: n }, (_, i) => [privateKeyToAccount(`0x${(i + 1).toString(16).padStart(64, '0')}`).address, mcp(String(epoch)) + BigInt(i)]);
    const sizes = [1, 50, 300];
    for (const [i, n] of sizes.entries()) {
      const epoch = BigInt(i + 1);
      const { receipt } = await c.post(epoch, owners(n, epoch), i % 2 === 0 ? contributionsRoot : NO_CONTRIBUTIONS);
      assert.ok(receipt.gasUsed <= 60_000n, `postEpoch(${epoch}) with ${n} owners used ${receipt.gasUsed} gas`);
    }
  });

  it("meets the gas goals: an owner's first claim ≤ 90k gas at depths 10, 14 and 20 (the very first claim included)", async () => {
    const c = await deploy();
    let total = 0n;
    for (const [i, depth] of [20, 10, 14, 20].entries()) {
      const epoch = BigInt(i + 1);
      // Two fresh owners side by side; the rest of the tree is random hashes (gas depends only on the proof).
      const [a, b] = [1, 2].map((k) => privateKeyToAccount(`0x${(1000 * (i + 1) + k).toString(16).padStart(64, '0')}`).address) as [Address, Address];
      const amount = mcp('1') + epoch;
      const [leafA, leafB] = [earningsLeafHash(a, amount), earningsLeafHash(b, amount)];
      const siblings = Array.from({ length: depth - 1 }, (_, level) => keccak256(toHex(`epoch ${epoch} level ${level}`)));
      const root = siblings.reduce((node, sibling) => epochRoot(node, sibling), epochRoot(leafA, leafB));
      total += 2n * amount;
      await c.mined(
        await batcher.writeContract({ address: c.distributor, abi: rewardDistributorAbi, functionName: 'postEpoch', args: [epoch, root, NO_CONTRIBUTIONS, total] }),
      );
      for (const [account, sibling] of [[a, leafB], [b, leafA]] as const) {
        const proof = epochProof([sibling, ...siblings], NO_CONTRIBUTIONS);
        assert.equal(proof.length, depth + 1);
        const receipt = await c.claim(stranger, account, amount, proof);
        assert.ok(receipt.gasUsed <= 90_000n, `first claim at depth ${depth} (epoch ${epoch}) used ${receipt.gasUsed} gas`);
        assert.equal(await c.balance(account), amount);
      }
    }
  });
});
