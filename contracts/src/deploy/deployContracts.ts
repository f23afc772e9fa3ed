// Deploys MCPToken + RewardDistributor and wires their roles.
import {
  getAddress,
  isAddressEqual,
  type Abi,
  type Account,
  type Address,
  type Chain,
  type Hash,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem';
import { DeploymentError } from '../errors.ts';
import { mcpTokenAbi, mcpTokenBytecode, rewardDistributorAbi, rewardDistributorBytecode } from '../generated/artifacts.ts';
import { roles } from './roles.ts';

export interface DeployContractsParameters {
  /** Signs the deployment; its account pays and is the initial admin. */
  walletClient: WalletClient<Transport, Chain | undefined, Account>;
  /** Waits for receipts. */
  publicClient: PublicClient;
  /** Final holder of DEFAULT_ADMIN_ROLE on both contracts and PAUSER_ROLE on the distributor. */
  admin: Address;
  /** Receives BATCHER_ROLE (the control plane's posting key). */
  batcher: Address;
}

export interface DeployContractsReturnType {
  token: Address;
  distributor: Address;
  /** Block of the distributor's deployment (a lower bound for event queries). */
  deployBlock: bigint;
}

/**
 * Deploys MCPToken and RewardDistributor, grants DISTRIBUTOR_ROLE on the token to the distributor and
 * BATCHER_ROLE to `batcher`. When `admin` is not the deploying account, it receives the admin and
 * pauser roles and the deployer renounces its own, so the deployer keeps no power afterwards.
 * Transactions are sent one after the other, each waiting for its receipt.
 */
export async function deployContracts(parameters: DeployContractsParameters): Promise<DeployContractsReturnType> {
  const { walletClient, publicClient, admin, batcher } = parameters;
  const account = walletClient.account;
  const chain = walletClient.chain;

  const confirm = async (what: string, hash: Hash) => {
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== 'success') {
      throw new DeploymentError(`${what} failed`, { details: `transaction ${hash} reverted` });
    }
    return receipt;
  };
  const deployed = async (what: string, hash: Hash) => {
    const receipt = await confirm(what, hash);
    if (!receipt.contractAddress) throw new DeploymentError(`${what}: the receipt has no contract address`);
    return { address: getAddress(receipt.contractAddress), blockNumber: receipt.blockNumber };
  };
  const call = async (what: string, address: Address, abi: Abi, functionName: string, args: readonly unknown[]) => {
    try {
      const hash = await walletClient.writeContract({ address, abi, functionName, args, account, chain });
      await confirm(what, hash);
    } catch (cause) {
      if (cause instanceof DeploymentError) throw cause;
      throw new DeploymentError(`${what} failed`, { cause, details: cause instanceof Error ? cause.message : undefined });
    }
  };

  try {
    const token = await deployed(
      'MCPToken deployment',
      await walletClient.deployContract({ abi: mcpTokenAbi, bytecode: mcpTokenBytecode, args: [account.address], account, chain }),
    );
    const distributor = await deployed(
      'RewardDistributor deployment',
      await walletClient.deployContract({
        abi: rewardDistributorAbi,
        bytecode: rewardDistributorBytecode,
        args: [token.address, account.address],
        account,
        chain,
      }),
    );

    await call('grant DISTRIBUTOR_ROLE to the distributor', token.address, mcpTokenAbi, 'grantRole', [roles.DISTRIBUTOR_ROLE, distributor.address]);
    await call('grant BATCHER_ROLE', distributor.address, rewardDistributorAbi, 'grantRole', [roles.BATCHER_ROLE, batcher]);

    if (!isAddressEqual(admin, account.address)) {
      await call('grant token admin', token.address, mcpTokenAbi, 'grantRole', [roles.DEFAULT_ADMIN_ROLE, admin]);
      await call('grant distributor admin', distributor.address, rewardDistributorAbi, 'grantRole', [roles.DEFAULT_ADMIN_ROLE, admin]);
      await call('grant PAUSER_ROLE', distributor.address, rewardDistributorAbi, 'grantRole', [roles.PAUSER_ROLE, admin]);
      await call('renounce deployer PAUSER_ROLE', distributor.address, rewardDistributorAbi, 'renounceRole', [roles.PAUSER_ROLE, account.address]);
      await call('renounce deployer distributor admin', distributor.address, rewardDistributorAbi, 'renounceRole', [roles.DEFAULT_ADMIN_ROLE, account.address]);
      await call('renounce deployer token admin', token.address, mcpTokenAbi, 'renounceRole', [roles.DEFAULT_ADMIN_ROLE, account.address]);
    }
    return { token: token.address, distributor: distributor.address, deployBlock: distributor.blockNumber };
  } catch (cause) {
    if (cause instanceof DeploymentError) throw cause;
    throw new DeploymentError('deployment failed', { cause, details: cause instanceof Error ? cause.message : undefined });
  }
}
