// Shared helpers of the rewards tests: chain fixtures, a cuttable RPC proxy, condition waits.
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPublicClient, createWalletClient, http, type Address, type Hex, type PublicClient } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { deployContracts, rewardDistributorAbi } from '@meshchain/contracts';
import { sealMessage, deriveNodeId, generateSeed, NodeCryptoSigner, type Envelope } from '@meshchain/protocol';
import { chainFor } from '../../src/chain/deployment.ts';
import type { AcceptedShard } from '../../src/intake/result-intake.ts';

/** Polls `condition` every 20 ms until it holds; fails after `timeoutMs` naming what it waited for. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Deploys fresh contracts on `rpcUrl` with `deployerKey` as admin and batcher. */
export async function deployFresh(rpcUrl: string, chainId: number, deployerKey: Hex): Promise<{ token: Address; distributor: Address }> {
  const chain = chainFor(chainId, rpcUrl);
  const account = privateKeyToAccount(deployerKey);
  const publicClient = createPublicClient({ chain, transport: http(rpcUrl), pollingInterval: 50 });
  const walletClient = createWalletClient({ chain, account, transport: http(rpcUrl), pollingInterval: 50 });
  return deployContracts({ walletClient, publicClient, admin: account.address, batcher: account.address });
}

export function chainReader(rpcUrl: string): PublicClient {
  return createPublicClient({ transport: http(rpcUrl), pollingInterval: 50 });
}

/** Every EpochPosted event of a distributor, in order. */
export async function postedEvents(client: PublicClient, distributor: Address): Promise<{ epoch: number; txHash: Hex; earningsRoot: Hex }[]> {
  const logs = await client.getContractEvents({ address: distributor, abi: rewardDistributorAbi, eventName: 'EpochPosted', fromBlock: 0n });
  return logs.map((log) => ({ epoch: Number(log.args.epoch), txHash: log.transactionHash, earningsRoot: log.args.earningsRoot as Hex }));
}

export interface TestNode {
  id: string;
  signer: NodeCryptoSigner;
  binding(owner: string, boundAt?: number): Envelope<'binding'>;
}

export function testNode(): TestNode {
  const signer = new NodeCryptoSigner(generateSeed());
  return { id: deriveNodeId(signer.publicKey), signer, binding: (owner, boundAt = Date.now()) => sealMessage('binding', { owner, boundAt }, signer) };
}

/** An accepted shard worth 5 + `tokens` units (prompt "abc" with BOS/EOS, then `tokens` generated). */
export function acceptedShard(jobId: string, shardIndex: number, nodeId: string, tokens: number): AcceptedShard {
  const model = 'e'.repeat(64);
  return {
    jobId,
    shardIndex,
    nodeId,
    modelSha256: model,
    inputs: [{ index: 0, prompt: 'abc' }],
    result: {
      jobId,
      shardId: `${jobId}.${shardIndex}`,
      leaseId: 'lease',
      modelSha256: model,
      inputHash: 'f'.repeat(64),
      outputs: [{ index: 0, tokens: Array.from({ length: tokens }, (_, i) => i % 100), text: '', finishReason: 'length' }],
      stats: { promptTokens: 5, generatedTokens: tokens, computeMs: 1 },
    },
    resultId: `r-${jobId}-${shardIndex}`,
  };
}

/**
 * A JSON-RPC proxy in front of anvil that the test can cut and restore on the same port: an RPC outage
 * (connections refused) without losing the chain's state.
 */
export class RpcProxy {
  readonly #target: URL;
  #server: Server | null = null;
  #port = 0;

  constructor(targetUrl: string) {
    this.#target = new URL(targetUrl);
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  async up(): Promise<void> {
    const server = createServer((req, res) => {
      const upstream = request(
        { host: this.#target.hostname, port: this.#target.port, path: req.url, method: req.method, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => resolve());
    });
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** Closes the port and every open connection: requests fail with ECONNREFUSED until `up()`. */
  async down(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
