// The control plane's view of the RewardDistributor over viem: reads, and signed posts recorded before they are sent.
import {
  createPublicClient,
  encodeFunctionData,
  http,
  keccak256,
  parseTransaction,
  TransactionNotFoundError,
  TransactionReceiptNotFoundError,
  type Address,
  type Hash,
  type Hex,
  type PrivateKeyAccount,
  type PublicClient,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { mcpTokenAbi, rewardDistributorAbi, roles } from '@meshchain/contracts';
import type { TxState } from '../rewards/post-plan.ts';
import { ChainError, toChainError } from './errors.ts';

export interface PostEpochArgs {
  epoch: number;
  earningsRoot: Hex;
  contributionsRoot: Hex;
  totalCumulative: bigint;
}

export interface SignedPost {
  hash: Hash;
  nonce: number;
  raw: Hex;
  gas: bigint;
}

export interface DistributorClientParameters {
  rpcUrl: string;
  /** Signs posts (needs BATCHER_ROLE); null for a read-only client. */
  privateKey: Hex | null;
  distributor: Address;
  /** Known chain id (skips one eth_chainId call). */
  chainId?: number;
  /** Per-request timeout. */
  requestTimeoutMs?: number;
  pollingIntervalMs?: number;
}

/** Gas headroom over the estimate: the estimate is exact on anvil but state can move before inclusion. */
const GAS_HEADROOM_PERCENT = 20n;
/** A replacement must pay at least 10% more (geth, anvil); 25% leaves a margin. */
const REPLACEMENT_FEE_BUMP_PERCENT = 125n;

/**
 * Reads and posts against one RewardDistributor. The HTTP transport does no retries of its own: the
 * batcher's declared retry policy is the only one, so an outage shows up at once and is paced by it.
 */
export class DistributorClient {
  readonly rpcUrl: string;
  readonly address: Address;
  readonly publicClient: PublicClient;
  readonly #account: PrivateKeyAccount | null;
  #chainId: number | null;
  #token: Address | null = null;

  get #contract() {
    return { address: this.address, abi: rewardDistributorAbi } as const;
  }

  constructor(parameters: DistributorClientParameters) {
    this.rpcUrl = parameters.rpcUrl;
    this.address = parameters.distributor;
    this.#account = parameters.privateKey ? privateKeyToAccount(parameters.privateKey) : null;
    this.#chainId = parameters.chainId ?? null;
    this.publicClient = createPublicClient({
      transport: http(parameters.rpcUrl, { retryCount: 0, timeout: parameters.requestTimeoutMs ?? 10_000 }),
      pollingInterval: parameters.pollingIntervalMs ?? 1_000,
    });
  }

  /** The batcher's address, or null for a read-only client. */
  get batcher(): Address | null {
    return this.#account?.address ?? null;
  }

  /** The chain id once known (after the first successful call that needed it). */
  get knownChainId(): number | null {
    return this.#chainId;
  }

  get knownToken(): Address | null {
    return this.#token;
  }

  async chainId(): Promise<number> {
    if (this.#chainId === null) this.#chainId = await this.#call('eth_chainId', () => this.publicClient.getChainId());
    return this.#chainId;
  }

  async hasCode(): Promise<boolean> {
    const code = await this.#call('eth_getCode', () => this.publicClient.getCode({ address: this.address }));
    return code !== undefined && code !== '0x';
  }

  async token(): Promise<Address> {
    if (this.#token === null) this.#token = await this.#call('token()', () => this.publicClient.readContract({ ...this.#contract, functionName: 'token' }));
    return this.#token;
  }

  async currentEpoch(): Promise<number> {
    return Number(await this.#call('currentEpoch()', () => this.publicClient.readContract({ ...this.#contract, functionName: 'currentEpoch' })));
  }

  /**
   * The one value the chain stores for a posted epoch: the sorted-pair hash of its earnings and
   * contributions roots (`epochRoot` in `@meshchain/contracts` computes it from the roots).
   */
  async epochRoot(epoch: number): Promise<Hex> {
    return this.#call(`epochRoot(${epoch})`, () => this.publicClient.readContract({ ...this.#contract, functionName: 'epochRoot', args: [BigInt(epoch)] }));
  }

  /**
   * What `account` has claimed in all. The token keeps it (beside the balance, in one slot); the
   * distributor's `claimed()` reads it there, and is what contracts deployed before that answer too.
   */
  async claimed(account: Address): Promise<bigint> {
    return this.#call('claimed()', () => this.publicClient.readContract({ ...this.#contract, functionName: 'claimed', args: [account] }));
  }

  async balanceOf(account: Address): Promise<bigint> {
    const token = await this.token();
    return this.#call('balanceOf()', () => this.publicClient.readContract({ address: token, abi: mcpTokenAbi, functionName: 'balanceOf', args: [account] }));
  }

  async isBatcher(): Promise<boolean> {
    const account = this.#requireAccount();
    return this.#call('hasRole(BATCHER_ROLE)', () =>
      this.publicClient.readContract({ ...this.#contract, functionName: 'hasRole', args: [roles.BATCHER_ROLE, account.address] }),
    );
  }

  async verifyContribution(args: { epoch: number; jobId: Hex; shardIndex: number; nodeId: Hex; owner: Address; units: bigint; proof: Hex[] }): Promise<boolean> {
    return this.#call('verifyContribution()', () =>
      this.publicClient.readContract({
        ...this.#contract,
        functionName: 'verifyContribution',
        args: [BigInt(args.epoch), args.jobId, args.shardIndex, args.nodeId, args.owner, args.units, args.proof],
      }),
    );
  }

  /**
   * Simulates postEpoch from the batcher: true when it would post, false when the chain already has this
   * exact epoch as its current one (the contract's idempotent no-op). Reverts come back as ChainErrors.
   */
  async simulatePost(args: PostEpochArgs): Promise<boolean> {
    const account = this.#requireAccount();
    const { result } = await this.#call('simulate postEpoch', () =>
      this.publicClient.simulateContract({ ...this.#contract, functionName: 'postEpoch', args: postArgs(args), account }),
    );
    return result;
  }

  /**
   * Builds and signs a postEpoch transaction without sending it: gas estimated (+20%), the account's
   * pending nonce (or `replace.nonce` with fees bumped over the transaction it replaces), EIP-1559 fees
   * where the chain has them. The caller records the hash before it sends.
   */
  async signPost(args: PostEpochArgs, replace?: { raw: Hex }): Promise<SignedPost> {
    const account = this.#requireAccount();
    const chainId = await this.chainId();
    const data = encodeFunctionData({ abi: rewardDistributorAbi, functionName: 'postEpoch', args: postArgs(args) });
    // Against the latest block: a pending state holding our own earlier post would make this one a cheap no-op.
    const estimate = await this.#call('estimate gas', () => this.publicClient.estimateGas({ account, to: this.address, data, blockTag: 'latest' }));
    const gas = (estimate * (100n + GAS_HEADROOM_PERCENT)) / 100n;
    const previous = replace ? parseTransaction(replace.raw) : null;
    const nonce =
      previous?.nonce ?? (await this.#call('eth_getTransactionCount', () => this.publicClient.getTransactionCount({ address: account.address, blockTag: 'pending' })));
    const fees = await this.#fees();
    const bump = (value: bigint, old: bigint | undefined): bigint => (old === undefined ? value : max(value, (old * REPLACEMENT_FEE_BUMP_PERCENT) / 100n));
    let raw: Hex;
    if (fees.type === 'eip1559') {
      raw = await account.signTransaction({
        type: 'eip1559',
        chainId,
        to: this.address,
        data,
        gas,
        nonce,
        maxFeePerGas: bump(fees.maxFeePerGas, previous?.maxFeePerGas),
        maxPriorityFeePerGas: bump(fees.maxPriorityFeePerGas, previous?.maxPriorityFeePerGas),
      });
    } else {
      raw = await account.signTransaction({ type: 'legacy', chainId, to: this.address, data, gas, nonce, gasPrice: bump(fees.gasPrice, previous?.gasPrice) });
    }
    return { hash: keccak256(raw), nonce, raw, gas };
  }

  /** Transactions of the batcher mined so far: a recorded nonce below this can no longer be mined. */
  async minedNonce(): Promise<number> {
    const account = this.#requireAccount();
    return this.#call('eth_getTransactionCount', () => this.publicClient.getTransactionCount({ address: account.address, blockTag: 'latest' }));
  }

  async sendRaw(raw: Hex): Promise<Hash> {
    return this.#call('eth_sendRawTransaction', () => this.publicClient.sendRawTransaction({ serializedTransaction: raw }));
  }

  /**
   * The transaction that posted `epoch` (its EpochPosted event), or null when it cannot be found (some
   * RPC providers limit log queries; `fromBlock` narrows the search).
   */
  async findPostTransaction(epoch: number, fromBlock: bigint = 0n): Promise<Hash | null> {
    try {
      const logs = await this.publicClient.getContractEvents({ ...this.#contract, eventName: 'EpochPosted', args: { epoch: BigInt(epoch) }, fromBlock });
      return logs.at(-1)?.transactionHash ?? null;
    } catch {
      return null;
    }
  }

  /** What the chain knows of a transaction. */
  async transactionState(hash: Hash): Promise<TxState> {
    try {
      const receipt = await this.publicClient.getTransactionReceipt({ hash });
      return { status: receipt.status, blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed };
    } catch (error) {
      if (!(error instanceof TransactionReceiptNotFoundError)) throw toChainError('eth_getTransactionReceipt', error);
    }
    try {
      await this.publicClient.getTransaction({ hash });
      return { status: 'pending' };
    } catch (error) {
      if (error instanceof TransactionNotFoundError) return { status: 'unknown' };
      throw toChainError('eth_getTransactionByHash', error);
    }
  }

  /**
   * Polls for a receipt until it comes, `timeoutMs` passes or `signal` aborts; null when it did not come.
   * Polling (rather than viem's waitForTransactionReceipt) lets a shutdown stop the wait at once.
   */
  async waitForReceipt(hash: Hash, options: { timeoutMs: number; pollMs: number; signal?: AbortSignal }): Promise<Extract<TxState, { blockNumber: bigint }> | null> {
    const deadline = Date.now() + options.timeoutMs;
    for (;;) {
      const state = await this.transactionState(hash);
      if (state.status === 'success' || state.status === 'reverted') return state;
      if (options.signal?.aborted || Date.now() >= deadline) return null;
      await sleep(Math.min(options.pollMs, Math.max(0, deadline - Date.now())), options.signal);
    }
  }

  /** EIP-1559 fees (2 × base fee + the node's suggested tip) where the chain has a base fee; else the legacy gas price. */
  async #fees(): Promise<{ type: 'eip1559'; maxFeePerGas: bigint; maxPriorityFeePerGas: bigint } | { type: 'legacy'; gasPrice: bigint }> {
    const block = await this.#call('eth_getBlockByNumber', () => this.publicClient.getBlock({ blockTag: 'latest' }));
    if (block.baseFeePerGas === null) {
      return { type: 'legacy', gasPrice: await this.#call('eth_gasPrice', () => this.publicClient.getGasPrice()) };
    }
    const tip = await this.#call('eth_maxPriorityFeePerGas', () => this.publicClient.request({ method: 'eth_maxPriorityFeePerGas' })).then(
      (hex) => BigInt(hex),
      () => 1_000_000_000n,
    );
    return { type: 'eip1559', maxFeePerGas: block.baseFeePerGas * 2n + tip, maxPriorityFeePerGas: tip };
  }

  #requireAccount(): PrivateKeyAccount {
    if (!this.#account) throw new ChainError('no batcher key configured', { retryable: false, details: 'set chain.privateKey (MESHCHAIN_CHAIN_PRIVATE_KEY)' });
    return this.#account;
  }

  async #call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw toChainError(what, error);
    }
  }
}

function postArgs(args: PostEpochArgs): readonly [bigint, Hex, Hex, bigint] {
  return [BigInt(args.epoch), args.earningsRoot, args.contributionsRoot, args.totalCumulative];
}

function max(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
