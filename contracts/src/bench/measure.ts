// Gas of every rewards operation, measured from transaction receipts on a local anvil (so each figure
// includes the 21 000 base cost and calldata), plus the batch-transfer baseline the Merkle design is
// compared with. Used by `npm run gas -w contracts` and by `npm run bench -- gas`.
import {
  concat,
  createPublicClient,
  createWalletClient,
  getAddress,
  hexToBigInt,
  http,
  keccak256,
  maxUint256,
  numberToHex,
  zeroHash,
  type Abi,
  type Address,
  type Hex,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import solcModule from 'solc';
import { earningsLeaf, earningsLeafHash } from '@meshchain/protocol';
import { startAnvil } from '../anvil/startAnvil.ts';
import { compilerSettings } from '../build/sources.ts';
import { roles } from '../deploy/roles.ts';
import { mcpTokenAbi, mcpTokenBytecode, rewardDistributorAbi, rewardDistributorBytecode } from '../generated/artifacts.ts';
import { buildEarningsTree, epochProof, epochRoot } from '../rewards/trees.ts';

/** One measured transaction. */
export interface GasRow {
  /** Stable key, e.g. `claim.first.d14`. */
  key: string;
  label: string;
  gas: bigint;
}

export interface MeasureRewardsGasOptions {
  /** Earnings-tree depths to claim at (default 10, 14, 20). */
  depths?: readonly number[];
  /** Owners of the real StandardMerkleTree posted and claimed against (default 10,000; 0 skips it). */
  realTreeOwners?: number;
  /** Batch sizes of the one-transaction mint/transfer baseline (default 100 and 200). */
  batchSizes?: readonly number[];
  /** Called before each step (progress). */
  onStep?: (step: string) => void;
}

export interface MeasureRewardsGasReturnType {
  rows: GasRow[];
  /** Block gas limit of the anvil chain (for how many batch transactions 10,000 owners take). */
  blockGasLimit: bigint;
}

/** A tiny contract that pays many accounts in one transaction: the baseline the Merkle design replaces. */
const BATCH_PAYER_SOURCE = `// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;
interface IPayToken {
    function mint(address to, uint256 amount) external;
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
}
contract BatchPayer {
    function mintBatch(IPayToken token, address[] calldata to, uint256[] calldata amounts) external {
        for (uint256 i = 0; i < to.length; i++) token.mint(to[i], amounts[i]);
    }
    function transferBatch(IPayToken token, address[] calldata to, uint256[] calldata amounts) external {
        for (uint256 i = 0; i < to.length; i++) token.transferFrom(msg.sender, to[i], amounts[i]);
    }
}
`;

const batchPayerAbi = [
  {
    type: 'function',
    name: 'mintBatch',
    stateMutability: 'nonpayable',
    inputs: [
      { name: 'token', type: 'address' },
      { name: 'to', type: 'address[]' },
      { name: 'amounts', type: 'uint256[]' },
    ],
    outputs: [],
  },
  {
    type: 'function',
    name: 'transferBatch',
    stateMutability: 'nonpayable',
    inputs: [
      { name: 'token', type: 'address' },
      { name: 'to', type: 'address[]' },
      { name: 'amounts', type: 'uint256[]' },
    ],
    outputs: [],
  },
] as const satisfies Abi;

interface SolcJs {
  compile(input: string): string;
}

function compileBatchPayer(): Hex {
  const solc = solcModule as unknown as SolcJs;
  const input = {
    language: 'Solidity',
    sources: { 'BatchPayer.sol': { content: BATCH_PAYER_SOURCE } },
    settings: { ...compilerSettings, outputSelection: { 'BatchPayer.sol': { BatchPayer: ['evm.bytecode.object'] } } },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input))) as {
    errors?: { severity: string; message: string }[];
    contracts?: Record<string, Record<string, { evm: { bytecode: { object: string } } }>>;
  };
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
  const object = output.contracts?.['BatchPayer.sol']?.BatchPayer?.evm.bytecode.object;
  if (errors.length > 0 || !object) throw new Error(`BatchPayer did not compile: ${errors.map((e) => e.message).join('; ')}`);
  return `0x${object}`;
}

/** Deterministic distinct addresses that never held anything: `fresh(seed, i)`. */
function freshAddress(seed: number, i: number): Address {
  return getAddress(`0x${keccak256(concat([numberToHex(seed, { size: 32 }), numberToHex(i, { size: 32 })])).slice(-40)}`);
}

function hashPair(a: Hex, b: Hex): Hex {
  return hexToBigInt(a) <= hexToBigInt(b) ? keccak256(concat([a, b])) : keccak256(concat([b, a]));
}

/**
 * An earnings tree of depth `depth` in which the two given leaves are siblings; the other subtrees are
 * random hashes (claim gas depends on the proof's length and bytes only, so this stands for a real
 * tree of 2^depth owners without building a million-leaf tree). Returns the root and both proofs.
 */
function syntheticTree(depth: number, leafA: Hex, leafB: Hex, seed: number): { root: Hex; proofA: Hex[]; proofB: Hex[] } {
  const siblings = Array.from({ length: depth - 1 }, (_, i) => keccak256(concat([numberToHex(seed, { size: 32 }), numberToHex(i, { size: 32 })])));
  let node = hashPair(leafA, leafB);
  for (const sibling of siblings) node = hashPair(node, sibling);
  return { root: node, proofA: [leafB, ...siblings], proofB: [leafA, ...siblings] };
}

/** Measures deployment, posts and claims (first and repeat, per depth) and the batch-transfer baseline. */
export async function measureRewardsGas(options: MeasureRewardsGasOptions = {}): Promise<MeasureRewardsGasReturnType> {
  const depths = options.depths ?? [10, 14, 20];
  const realTreeOwners = options.realTreeOwners ?? 10_000;
  const batchSizes = options.batchSizes ?? [100, 200];
  const step = options.onStep ?? (() => undefined);
  const rows: GasRow[] = [];
  const anvil = await startAnvil({ accounts: 1 });
  try {
    const chain = { ...foundry, id: anvil.chainId };
    const transport = http(anvil.rpcUrl);
    const publicClient = createPublicClient({ chain, transport, pollingInterval: 20 });
    const [key] = anvil.accounts;
    if (!key) throw new Error('anvil gave no account');
    const wallet = createWalletClient({ chain, transport, account: privateKeyToAccount(key) });
    const me = wallet.account.address;
    const mined = async (key: string | null, label: string, hash: Hex) => {
      const receipt = await publicClient.waitForTransactionReceipt({ hash });
      if (receipt.status !== 'success') throw new Error(`${label} reverted`);
      if (key) rows.push({ key, label, gas: receipt.gasUsed });
      return receipt;
    };

    step('deploying');
    const tokenReceipt = await mined('deploy.token', 'deploy MCPToken', await wallet.deployContract({ abi: mcpTokenAbi, bytecode: mcpTokenBytecode, args: [me] }));
    const token = getAddress(tokenReceipt.contractAddress ?? '');
    const distributorReceipt = await mined(
      'deploy.distributor',
      'deploy RewardDistributor',
      await wallet.deployContract({ abi: rewardDistributorAbi, bytecode: rewardDistributorBytecode, args: [token, me] }),
    );
    const distributor = getAddress(distributorReceipt.contractAddress ?? '');
    await mined(
      'deploy.grantDistributor',
      'grantRole (DISTRIBUTOR_ROLE to the distributor)',
      await wallet.writeContract({ address: token, abi: mcpTokenAbi, functionName: 'grantRole', args: [roles.DISTRIBUTOR_ROLE, distributor] }),
    );
    await mined(
      'deploy.grantBatcher',
      'grantRole (BATCHER_ROLE to the batcher)',
      await wallet.writeContract({ address: distributor, abi: rewardDistributorAbi, functionName: 'grantRole', args: [roles.BATCHER_ROLE, me] }),
    );

    let epoch = 0n;
    let total = 0n;
    const post = async (key: string | null, label: string, earningsRoot: Hex, contributionsRoot: Hex) => {
      epoch += 1n;
      total += 10n ** 24n; // comfortably above every amount claimed below
      await mined(
        key,
        label,
        await wallet.writeContract({ address: distributor, abi: rewardDistributorAbi, functionName: 'postEpoch', args: [epoch, earningsRoot, contributionsRoot, total] }),
      );
    };
    const claim = async (key: string, label: string, account: Address, amount: bigint, proof: Hex[]) =>
      mined(key, label, await wallet.writeContract({ address: distributor, abi: rewardDistributorAbi, functionName: 'claim', args: [account, amount, proof] }));

    // The repeat claimer claims in every epoch; each epoch also has an owner that claims for the first time.
    const repeat = freshAddress(1, 0);
    const amountOf = (e: bigint, who: number) => e * 10n ** 18n + BigInt(who);
    const contributionsRootOf = (e: bigint) => keccak256(numberToHex(e, { size: 32 }));
    const epochClaims = async (depth: number, label: (kind: 'repeat' | 'first') => [string, string]) => {
      const next = epoch + 1n;
      const firstTimer = freshAddress(2, Number(next));
      const leafA = earningsLeafHash(repeat, amountOf(next, 0));
      const leafB = earningsLeafHash(firstTimer, amountOf(next, 1));
      const tree = syntheticTree(depth, leafA, leafB, Number(next));
      const contributionsRoot = contributionsRootOf(next);
      await post(`post.e${next}`, `postEpoch, epoch ${next}${next === 1n ? ' (the first post)' : ''}, 2^${depth} owners`, tree.root, contributionsRoot);
      const [repeatKey, repeatLabel] = label('repeat');
      await claim(repeatKey, repeatLabel, repeat, amountOf(next, 0), epochProof(tree.proofA, contributionsRoot));
      const [firstKey, firstLabel] = label('first');
      await claim(firstKey, firstLabel, firstTimer, amountOf(next, 1), epochProof(tree.proofB, contributionsRoot));
    };

    step('posts and claims');
    // Epoch 1 holds the very first claim on the contracts, at the deepest depth measured.
    const deepest = Math.max(...depths);
    await epochClaims(deepest, (kind) =>
      kind === 'repeat'
        ? [`claim.veryFirst.d${deepest}`, `claim, very first claim on the contracts, depth ${deepest}`]
        : [`claim.second.d${deepest}`, `claim, owner's first claim, second claim on the contracts, depth ${deepest}`],
    );
    for (const depth of depths) {
      await epochClaims(depth, (kind) =>
        kind === 'repeat' ? [`claim.repeat.d${depth}`, `claim, repeat claim, depth ${depth}`] : [`claim.first.d${depth}`, `claim, owner's first claim, depth ${depth}`],
      );
    }
    await post('post.zeroContributions', `postEpoch, epoch ${epoch + 1n}, zero contributions root`, keccak256('0x01'), zeroHash);

    if (realTreeOwners > 0) {
      step(`a real StandardMerkleTree of ${realTreeOwners.toLocaleString('en-US')} owners`);
      const owners = Array.from({ length: realTreeOwners }, (_, i) => ({ account: freshAddress(3, i), cumulativeAmount: 10n ** 18n + BigInt(i) }));
      const tree = buildEarningsTree(owners);
      const contributionsRoot = contributionsRootOf(epoch + 1n);
      await post('post.real', `postEpoch, epoch ${epoch + 1n}, real tree of ${realTreeOwners.toLocaleString('en-US')} owners`, tree.root as Hex, contributionsRoot);
      const owner = owners[0];
      if (!owner) throw new Error('no owner');
      const proof = tree.getProof(earningsLeaf(owner.account, owner.cumulativeAmount));
      await claim(
        'claim.first.real',
        `claim, owner's first claim, real ${realTreeOwners.toLocaleString('en-US')}-owner tree (depth ${proof.length})`,
        owner.account,
        owner.cumulativeAmount,
        epochProof(proof, contributionsRoot),
      );
      if (epochRoot(tree.root as Hex, contributionsRoot) !== (await publicClient.readContract({ address: distributor, abi: rewardDistributorAbi, functionName: 'epochRoot', args: [epoch] }))) {
        throw new Error('the TypeScript epoch root differs from the one on chain');
      }
    }

    step('batch-transfer baseline');
    const payerReceipt = await mined(null, 'deploy BatchPayer', await wallet.deployContract({ abi: batchPayerAbi, bytecode: compileBatchPayer() }));
    const payer = getAddress(payerReceipt.contractAddress ?? '');
    await mined(null, 'grant', await wallet.writeContract({ address: token, abi: mcpTokenAbi, functionName: 'grantRole', args: [roles.MINTER_ROLE, payer] }));
    await mined(null, 'grant', await wallet.writeContract({ address: token, abi: mcpTokenAbi, functionName: 'grantRole', args: [roles.MINTER_ROLE, me] }));
    await mined(null, 'fund', await wallet.writeContract({ address: token, abi: mcpTokenAbi, functionName: 'mint', args: [me, 10n ** 30n] }));
    await mined(null, 'approve', await wallet.writeContract({ address: token, abi: mcpTokenAbi, functionName: 'approve', args: [payer, maxUint256] }));
    let seed = 100;
    for (const n of batchSizes) {
      const amounts = Array.from({ length: n }, (_, i) => 10n ** 18n + BigInt(i));
      const newOwners = Array.from({ length: n }, (_, i) => freshAddress(seed, i));
      seed += 1;
      await mined(
        `batch.mint.new.n${n}`,
        `batch mint to ${n} new addresses (one transaction)`,
        await wallet.writeContract({ address: payer, abi: batchPayerAbi, functionName: 'mintBatch', args: [token, newOwners, amounts] }),
      );
      await mined(
        `batch.mint.again.n${n}`,
        `batch mint to the same ${n} addresses again (next epoch)`,
        await wallet.writeContract({ address: payer, abi: batchPayerAbi, functionName: 'mintBatch', args: [token, newOwners, amounts] }),
      );
      const transferOwners = Array.from({ length: n }, (_, i) => freshAddress(seed, i));
      seed += 1;
      await mined(
        `batch.transfer.new.n${n}`,
        `batch transferFrom to ${n} new addresses (one transaction)`,
        await wallet.writeContract({ address: payer, abi: batchPayerAbi, functionName: 'transferBatch', args: [token, transferOwners, amounts] }),
      );
    }
    await mined(
      'single.transfer.new',
      'one ERC-20 transfer to a new address (its own transaction)',
      await wallet.writeContract({ address: token, abi: mcpTokenAbi, functionName: 'transfer', args: [freshAddress(seed, 0), 10n ** 18n] }),
    );
    const block = await publicClient.getBlock({ blockTag: 'latest' });
    return { rows, blockGasLimit: block.gasLimit };
  } finally {
    await anvil.stop();
  }
}

/** The measured gas of `key`; throws when it was not measured. */
export function gasOf(rows: readonly GasRow[], key: string): bigint {
  const row = rows.find((r) => r.key === key);
  if (!row) throw new Error(`no gas measured for ${key}`);
  return row.gas;
}
