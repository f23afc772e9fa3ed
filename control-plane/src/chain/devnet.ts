// The local devnet `meshchain serve` starts when no RPC is configured: anvil on 127.0.0.1.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Address, Hex } from 'viem';
import { mnemonicToAccount } from 'viem/accounts';
import { toHex } from 'viem';
import type { Logger } from 'pino';
import { ANVIL_MNEMONIC, startAnvil, type StartAnvilReturnType } from '@meshchain/contracts';
import { ChainError } from './errors.ts';

export interface Devnet {
  rpcUrl: string;
  chainId: number;
  /** anvil account 0: deploys the contracts and posts epochs. */
  privateKey: Hex;
  stop(): Promise<void>;
}

/** anvil's default-mnemonic account `index` (0 is the devnet's deployer and batcher; the demo's owners are 1–3). */
export function devnetAccount(index: number): { address: Address; privateKey: Hex } {
  const account = mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: index });
  const key = account.getHdKey().privateKey;
  if (!key) throw new ChainError(`cannot derive devnet account ${index}`, { retryable: false });
  return { address: account.address, privateKey: toHex(key) };
}

/**
 * Starts anvil on 127.0.0.1, on the port it had last time when that port is free (so the RPC URL a user
 * copied keeps working), else on any free port. anvil keeps its state in memory only: a restarted devnet
 * is empty, which ensureDeployment detects (it redeploys) and the batcher repairs (it reposts every epoch).
 */
export async function startDevnet(parameters: { dataDir: string; logger: Logger }): Promise<Devnet> {
  const statePath = join(parameters.dataDir, 'chain', 'devnet.json');
  const previousPort = await readFile(statePath, 'utf8').then(
    (text) => Number((JSON.parse(text) as { port?: unknown }).port) || 0,
    () => 0,
  );
  let anvil: StartAnvilReturnType;
  try {
    anvil = await startAnvil({ port: previousPort, accounts: 10 });
  } catch (error) {
    if (previousPort === 0) throw new ChainError('cannot start the anvil devnet', { cause: error, retryable: false, details: error instanceof Error ? error.message : String(error) });
    parameters.logger.warn({ port: previousPort }, 'the devnet port of the last run is taken; starting anvil on another port');
    anvil = await startAnvil({ port: 0, accounts: 10 });
  }
  const port = Number(new URL(anvil.rpcUrl).port);
  await mkdir(join(parameters.dataDir, 'chain'), { recursive: true });
  await writeFile(statePath, `${JSON.stringify({ version: 1, port }, null, 2)}\n`);
  const privateKey = anvil.accounts[0];
  if (!privateKey) throw new ChainError('anvil gave no accounts', { retryable: false });
  parameters.logger.info({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId }, 'devnet started (anvil)');
  return { rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, privateKey, stop: () => anvil.stop() };
}
