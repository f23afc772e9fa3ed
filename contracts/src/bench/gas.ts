// `npm run gas -w contracts`: gas per operation, measured from transaction receipts on a local anvil
// (so every figure includes the 21 000 base cost and calldata). Prints a Markdown table.
import {
  createPublicClient,
  createWalletClient,
  getAddress,
  http,
  keccak256,
  numberToHex,
  zeroHash,
  type Address,
  type Hex,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import { earningsLeaf } from '@meshchain/protocol';
import { startAnvil } from '../anvil/startAnvil.ts';
import { roles } from '../deploy/roles.ts';
import { mcpTokenAbi, mcpTokenBytecode, rewardDistributorAbi, rewardDistributorBytecode } from '../generated/artifacts.ts';
import { buildEarningsTree } from '../rewards/trees.ts';

const DEPTHS = [1, 4, 7, 10, 14, 17];
const rows: [string, bigint][] = [];

async function main(): Promise<void> {
  const anvil = await startAnvil({ accounts: 1 });
  try {
    const chain = { ...foundry, id: anvil.chainId };
    const transport = http(anvil.rpcUrl);
    const publicClient = createPublicClient({ chain, transport, pollingInterval: 20 });
    const [key] = anvil.accounts;
    if (!key) throw new Error('anvil gave no account');
    const wallet = createWalletClient({ chain, transport, account: privateKeyToAccount(key) });
    const me = wallet.account.address;
    const gas = async (what: string | undefined, hash: Hex) => {
      const receipt = await publicClient.waitForTransactionReceipt({ hash });
      if (receipt.status !== 'success') throw new Error(`${what ?? 'transaction'} reverted`);
      if (what) rows.push([what, receipt.gasUsed]);
      return receipt;
    };

    const tokenReceipt = await gas(
      'deploy MCPToken',
      await wallet.deployContract({ abi: mcpTokenAbi, bytecode: mcpTokenBytecode, args: [me] }),
    );
    const token = getAddress(tokenReceipt.contractAddress ?? '');
    const distributorReceipt = await gas(
      'deploy RewardDistributor',
      await wallet.deployContract({ abi: rewardDistributorAbi, bytecode: rewardDistributorBytecode, args: [token, me] }),
    );
    const distributor = getAddress(distributorReceipt.contractAddress ?? '');
    await gas(
      'grantRole (MINTER_ROLE to the distributor)',
      await wallet.writeContract({ address: token, abi: mcpTokenAbi, functionName: 'grantRole', args: [roles.MINTER_ROLE, distributor] }),
    );
    await gas(
      undefined,
      await wallet.writeContract({ address: distributor, abi: rewardDistributorAbi, functionName: 'grantRole', args: [roles.BATCHER_ROLE, me] }),
    );

    const maxLeaves = 2 ** Math.max(...DEPTHS);
    const accounts: Address[] = Array.from({ length: maxLeaves }, (_, i) => getAddress(`0x${keccak256(numberToHex(i + 1)).slice(-40)}`));
    const contributionsRoot = keccak256('0x01');
    let epoch = 0n;
    for (const depth of DEPTHS) {
      epoch += 1n;
      const size = 2 ** depth;
      const amount = (account: number) => (epoch * 10n ** 18n) + BigInt(account);
      const tree = buildEarningsTree(accounts.slice(0, size).map((account, i) => ({ account, cumulativeAmount: amount(i) })));
      const total = accounts.slice(0, size).reduce((sum, _, i) => sum + amount(i), 0n);
      const withContributions = epoch % 2n === 1n;
      const label = `postEpoch (epoch ${epoch}, ${withContributions ? 'with a' : 'zero'} contributions root)`;
      await gas(
        label,
        await wallet.writeContract({
          address: distributor,
          abi: rewardDistributorAbi,
          functionName: 'postEpoch',
          args: [epoch, tree.root as Hex, withContributions ? contributionsRoot : zeroHash, total],
        }),
      );
      const claim = async (what: string | undefined, index: number) => {
        const account = accounts[index] as Address;
        const proof = tree.getProof(earningsLeaf(account, amount(index))) as Hex[];
        if (proof.length !== depth) throw new Error(`expected depth ${depth}, got ${proof.length}`);
        await gas(
          what,
          await wallet.writeContract({ address: distributor, abi: rewardDistributorAbi, functionName: 'claim', args: [account, amount(index), proof] }),
        );
      };
      // Account 0 claims every epoch (a repeat claim after the first); account `epoch` claims for the first time.
      await claim(epoch === 1n ? `claim, very first claim on the contract, depth ${depth}` : `claim, repeat claimer, depth ${depth}`, 0);
      await claim(`claim, first-time claimer, depth ${depth}`, Number(epoch));
    }
  } finally {
    await anvil.stop();
  }

  console.log('| operation | gas used (receipt) |');
  console.log('| --- | ---: |');
  for (const [what, used] of rows) console.log(`| ${what} | ${used.toLocaleString('en-US')} |`);
}

await main();
