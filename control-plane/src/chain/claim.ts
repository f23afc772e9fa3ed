// Claims an owner's rewards with viem: anyone holding a funded key may send it on the owner's behalf.
import { readFile, stat } from 'node:fs/promises';
import { createPublicClient, createWalletClient, encodeFunctionData, http, parseEventLogs, type Address, type Hash, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { rewardDistributorAbi } from '@meshchain/contracts';
import { ControlPlaneError } from '../errors.ts';
import { chainFor } from './deployment.ts';
import { toChainError } from './errors.ts';

export interface ClaimArgs {
  distributor: Address;
  account: Address;
  cumulativeAmount: bigint;
  proof: readonly Hex[];
}

export interface SendClaimParameters extends ClaimArgs {
  rpcUrl: string;
  chainId: number;
  /** The key that signs and pays gas (the owner's or a relayer's). */
  privateKey: Hex;
}

export interface SendClaimReturnType {
  txHash: Hash;
  /** MCP wei minted to the account by this claim. */
  amount: bigint;
  gasUsed: bigint;
  blockNumber: bigint;
  sender: Address;
}

/** The calldata of RewardDistributor.claim(account, cumulativeAmount, proof), to send with any wallet. */
export function claimCalldata(args: Omit<ClaimArgs, 'distributor'>): Hex {
  return encodeFunctionData({ abi: rewardDistributorAbi, functionName: 'claim', args: [args.account, args.cumulativeAmount, [...args.proof]] });
}

/** Simulates, sends and waits for a claim; reverts surface as ChainErrors naming the custom error. */
export async function sendClaim(parameters: SendClaimParameters): Promise<SendClaimReturnType> {
  const chain = chainFor(parameters.chainId, parameters.rpcUrl);
  const account = privateKeyToAccount(parameters.privateKey);
  const transport = http(parameters.rpcUrl, { retryCount: 1 });
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 250 });
  const walletClient = createWalletClient({ chain, transport, account });
  try {
    const { request } = await publicClient.simulateContract({
      address: parameters.distributor,
      abi: rewardDistributorAbi,
      functionName: 'claim',
      args: [parameters.account, parameters.cumulativeAmount, [...parameters.proof]],
      account,
    });
    const txHash = await walletClient.writeContract(request);
    const receipt = await publicClient.waitForTransactionReceipt({ hash: txHash, timeout: 120_000 });
    if (receipt.status !== 'success') throw new ControlPlaneError(`claim ${txHash} reverted in block ${receipt.blockNumber}`);
    const [claimed] = parseEventLogs({ abi: rewardDistributorAbi, eventName: 'Claimed', logs: receipt.logs });
    return { txHash, amount: claimed?.args.amount ?? 0n, gasUsed: receipt.gasUsed, blockNumber: receipt.blockNumber, sender: account.address };
  } catch (error) {
    if (error instanceof ControlPlaneError) throw error;
    throw toChainError('claim', error);
  }
}

/**
 * Reads a private key file: a 0x-prefixed (or bare) 32-byte hex key, or JSON `{ "privateKey": "0x…" }`.
 * Refused when others can read it, like the node and control-plane keys.
 */
export async function readPrivateKeyFile(path: string): Promise<Hex> {
  let text: string;
  try {
    const mode = (await stat(path)).mode & 0o777;
    if (mode & 0o077) throw new ControlPlaneError(`key file ${path} is readable by others (mode ${mode.toString(8)})`, { details: `run: chmod 600 ${path}` });
    text = (await readFile(path, 'utf8')).trim();
  } catch (error) {
    if (error instanceof ControlPlaneError) throw error;
    throw new ControlPlaneError(`cannot read key file ${path}`, { cause: error, details: (error as NodeJS.ErrnoException).code });
  }
  let key = text;
  if (text.startsWith('{')) {
    try {
      key = String((JSON.parse(text) as { privateKey?: unknown }).privateKey ?? '');
    } catch (cause) {
      throw new ControlPlaneError(`key file ${path} is not valid JSON`, { cause });
    }
  }
  if (!key.startsWith('0x')) key = `0x${key}`;
  if (!/^0x[0-9a-fA-F]{64}$/.test(key)) throw new ControlPlaneError(`key file ${path} does not hold a 32-byte hex private key`);
  return key as Hex;
}
