// Deploys the reward contracts once per chain and remembers where, so a restart reuses them.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createPublicClient, createWalletClient, defineChain, getAddress, http, type Address, type Chain, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import type { Logger } from 'pino';
import { deployContracts } from '@meshchain/contracts';
import { ChainError, toChainError } from './errors.ts';

export interface DeploymentRecord {
  version: 1;
  chainId: number;
  token: Address;
  distributor: Address;
  deployBlock: string;
  deployedAt: number;
}

export interface EnsureDeploymentParameters {
  rpcUrl: string;
  /** Deploys, and becomes admin and batcher. */
  privateKey: Hex;
  /** Where the addresses are kept (`<dataDir>/chain/deployment.json`). */
  recordPath: string;
  logger: Logger;
}

export interface EnsureDeploymentReturnType {
  record: DeploymentRecord;
  /** True when the contracts were deployed now (first start, or a chain that lost them). */
  deployed: boolean;
}

/** A viem chain for any JSON-RPC endpoint, from its chain id. */
export function chainFor(chainId: number, rpcUrl: string): Chain {
  return defineChain({
    id: chainId,
    name: `chain ${chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
}

/**
 * Reuses the recorded deployment when the chain still has its code (same chain id, code at the
 * distributor address); otherwise deploys MCPToken + RewardDistributor with `privateKey` as admin and
 * batcher and records the addresses. A devnet that restarted empty is detected here and redeployed;
 * the batcher then posts every closed epoch again, in order, from epoch 1.
 */
export async function ensureDeployment(parameters: EnsureDeploymentParameters): Promise<EnsureDeploymentReturnType> {
  const { rpcUrl, privateKey, recordPath, logger } = parameters;
  const publicClient = createPublicClient({ transport: http(rpcUrl, { retryCount: 0 }), pollingInterval: 100 });
  let chainId: number;
  try {
    chainId = await publicClient.getChainId();
  } catch (error) {
    throw toChainError(`cannot reach the chain at ${rpcUrl} to deploy the reward contracts`, error);
  }
  const existing = await readRecord(recordPath);
  if (existing && existing.chainId === chainId) {
    const code = await publicClient.getCode({ address: existing.distributor }).catch((error: unknown) => {
      throw toChainError('eth_getCode', error);
    });
    if (code && code !== '0x') return { record: existing, deployed: false };
    logger.warn({ distributor: existing.distributor, chainId }, 'the recorded distributor has no code on this chain (a devnet that restarted empty?): deploying again');
  }

  const chain = chainFor(chainId, rpcUrl);
  const account = privateKeyToAccount(privateKey);
  const walletClient = createWalletClient({ chain, account, transport: http(rpcUrl, { retryCount: 0 }), pollingInterval: 100 });
  const deployment = await deployContracts({
    walletClient,
    publicClient: createPublicClient({ chain, transport: http(rpcUrl, { retryCount: 0 }), pollingInterval: 100 }),
    admin: account.address,
    batcher: account.address,
  }).catch((error: unknown) => {
    throw new ChainError('deploying the reward contracts failed', { cause: error, details: error instanceof Error ? error.message : String(error), retryable: false });
  });
  const record: DeploymentRecord = {
    version: 1,
    chainId,
    token: deployment.token,
    distributor: deployment.distributor,
    deployBlock: deployment.deployBlock.toString(),
    deployedAt: Date.now(),
  };
  await writeRecord(recordPath, record);
  logger.info({ chainId, token: record.token, distributor: record.distributor }, 'deployed the reward contracts');
  return { record, deployed: true };
}

async function readRecord(path: string): Promise<DeploymentRecord | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ChainError(`cannot read ${path}`, { cause: error, retryable: false });
  }
  try {
    const parsed = JSON.parse(text) as Partial<DeploymentRecord>;
    if (parsed.version !== 1 || typeof parsed.chainId !== 'number' || !parsed.token || !parsed.distributor) throw new Error('unexpected format');
    return { ...(parsed as DeploymentRecord), token: getAddress(parsed.token), distributor: getAddress(parsed.distributor) };
  } catch (cause) {
    throw new ChainError(`${path} is corrupt`, { cause, retryable: false, details: 'remove it to deploy the contracts again' });
  }
}

async function writeRecord(path: string, record: DeploymentRecord): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`);
  await rename(tmp, path);
}
