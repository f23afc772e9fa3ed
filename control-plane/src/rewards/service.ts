// Rewards, wired: ledger + bindings + chain (devnet or configured) + batcher + epoch timer, and the queries the API serves.
import { join } from 'node:path';
import { getAddress, type Address, type Hex } from 'viem';
import type { Logger } from 'pino';
import { contributionLeaf, contributionLeafHash, evmAddressSchema, type Envelope } from '@meshchain/protocol';
import { epochProof, epochRoot } from '@meshchain/contracts';
import type { ControlPlaneConfig } from '../config.ts';
import { ensureDeployment } from '../chain/deployment.ts';
import { startDevnet, type Devnet } from '../chain/devnet.ts';
import { DistributorClient } from '../chain/distributor.ts';
import { ChainError } from '../chain/errors.ts';
import { ConflictError, ControlPlaneError, InvalidRequestError, NotFoundError } from '../errors.ts';
import type { IntakeHooks } from '../intake/result-intake.ts';
import type { Db } from '../store/db.ts';
import { EpochBatcher, type BatcherFaults } from './batcher.ts';
import { BindingStore, type BindingVerdict } from './bindings.ts';
import { decideEpochTimer } from './epoch-plan.ts';
import { Ledger } from './ledger.ts';
import type { ChainInfo, ContributionProof, EpochRecord, EpochsResponse, OwnerRewards } from './types.ts';

export interface RewardsServiceOptions {
  db: Db;
  dataDir: string;
  chain: ControlPlaneConfig['chain'];
  rewards: ControlPlaneConfig['rewards'];
  /** Clock tolerance for binding timestamps. */
  maxSkewMs: number;
  logger: Logger;
  faults?: BatcherFaults;
}

/**
 * The rewards component of `meshchain serve`. The constructor does no work; `start()` brings up the chain
 * (anvil + deployment when no RPC is configured), the batcher and the epoch timer.
 */
export class RewardsService {
  readonly ledger: Ledger;
  readonly bindings: BindingStore;
  readonly #o: RewardsServiceOptions;
  readonly #log: Logger;
  #devnet: Devnet | null = null;
  #client: DistributorClient | null = null;
  #batcher: EpochBatcher | null = null;
  #timer: NodeJS.Timeout | null = null;
  #info: ChainInfo | null = null;

  constructor(options: RewardsServiceOptions) {
    this.#o = options;
    this.#log = options.logger;
    this.ledger = new Ledger(options.db, { modelCostFactors: options.rewards.modelCostFactors });
    this.bindings = new BindingStore(options.db);
  }

  /** The result intake's hook: every accepted shard becomes a contribution in the same transaction. */
  get intakeHooks(): IntakeHooks {
    return { onAccepted: (shard, now) => this.ledger.recordContribution(shard, now) };
  }

  get chainInfo(): ChainInfo | null {
    if (!this.#info) return null;
    return { ...this.#info, chainId: this.#client?.knownChainId ?? this.#info.chainId, token: this.#client?.knownToken ?? this.#info.token };
  }

  async start(): Promise<ChainInfo> {
    const { chain, dataDir } = this.#o;
    this.ledger.openEpoch();
    let rpcUrl: string;
    let privateKey: Hex;
    let chainId: number | undefined;
    let token: Address | null = null;
    if (chain.rpcUrl) {
      rpcUrl = chain.rpcUrl;
      if (!chain.privateKey) throw new ChainError('chain.rpcUrl needs chain.privateKey', { retryable: false });
      privateKey = chain.privateKey as Hex;
    } else {
      this.#devnet = await startDevnet({ dataDir, logger: this.#log });
      ({ rpcUrl, privateKey, chainId } = this.#devnet);
    }
    try {
      let distributor: Address;
      if (chain.distributor) {
        distributor = getAddress(chain.distributor);
      } else {
        const { record } = await ensureDeployment({ rpcUrl, privateKey, recordPath: join(dataDir, 'chain', 'deployment.json'), logger: this.#log });
        ({ distributor, token, chainId } = record);
      }
      const client = new DistributorClient({
        rpcUrl,
        privateKey,
        distributor,
        ...(chainId !== undefined ? { chainId } : {}),
        pollingIntervalMs: this.#devnet ? 50 : chain.pollingIntervalMs,
      });
      this.#client = client;
      this.#info = { chainId: chainId ?? null, rpcUrl, devnet: this.#devnet !== null, token, distributor, batcher: client.batcher as Address };
      await this.#checkChain(client);
      this.#batcher = new EpochBatcher({
        ledger: this.ledger,
        chain: client,
        logger: this.#log,
        retry: this.#o.rewards.retry,
        receiptTimeoutMs: chain.receiptTimeoutMs,
        pollingIntervalMs: this.#devnet ? 50 : chain.pollingIntervalMs,
        ...(this.#o.faults ? { faults: this.#o.faults } : {}),
      });
      this.#batcher.start();
      const epochMs = this.#o.rewards.epochMs;
      this.#timer = setInterval(() => this.#tick(), Math.max(50, Math.min(5_000, Math.floor(epochMs / 4))));
      this.#timer.unref();
      return this.chainInfo as ChainInfo;
    } catch (error) {
      await this.#devnet?.stop();
      this.#devnet = null;
      throw error;
    }
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#batcher?.stop();
    this.#batcher = null;
    await this.#devnet?.stop();
    this.#devnet = null;
  }

  /** Records a verified binding envelope (the link checked signature, sender and schema); logs the verdict. */
  recordBinding(nodeId: string, envelope: Envelope<'binding'>): BindingVerdict {
    const verdict = this.bindings.record(nodeId, envelope, { maxSkewMs: this.#o.maxSkewMs });
    const fields = { nodeId, owner: envelope.body.owner, boundAt: envelope.body.boundAt };
    if (verdict.status === 'recorded') this.#log.info(fields, 'node bound to owner');
    else if (verdict.status === 'refused') this.#log.warn({ ...fields, reason: verdict.reason }, 'binding refused');
    else if (verdict.status === 'stale') this.#log.info({ ...fields, reason: verdict.reason }, 'binding ignored');
    return verdict;
  }

  /** Closes the open epoch now (even with nothing to pay) and starts posting it. */
  closeEpoch(now = Date.now()): EpochRecord {
    const closed = this.ledger.closeEpoch(BigInt(this.#o.rewards.weiPerUnit), now);
    this.#log.info(
      { epoch: closed.epoch, owners: closed.owners, contributions: closed.contributions, units: closed.units, earningsRoot: closed.earningsRoot, contributionsRoot: closed.contributionsRoot },
      'epoch closed',
    );
    this.#batcher?.kick();
    return closed;
  }

  epochs(): EpochsResponse {
    return {
      epochs: this.ledger.epochs(),
      poster: this.#batcher?.status ?? { state: 'stopped', epoch: null, reason: null },
      chain: this.chainInfo,
    };
  }

  async owner(address: string): Promise<OwnerRewards> {
    if (!evmAddressSchema.safeParse(address).success) {
      throw new InvalidRequestError(`"${address.slice(0, 64)}" is not an EVM address (0x + 40 hex digits, EIP-55 checksummed or lowercase)`);
    }
    const owner = getAddress(address);
    const latestClosedEpoch = this.ledger.latestClosedEpoch();
    const latestPostedEpoch = this.ledger.latestPostedEpoch();
    const closed = latestClosedEpoch === null ? null : this.ledger.earningsOf(owner, latestClosedEpoch);
    const posted = latestPostedEpoch === null ? null : this.ledger.earningsOf(owner, latestPostedEpoch);
    const proof = posted && latestPostedEpoch !== null ? this.#claimProof(latestPostedEpoch, posted.leafIndex) : null;
    const cumulativePosted = posted?.cumulative ?? 0n;

    let claimedOnChain: bigint | null = null;
    let balance: bigint | null = null;
    let chainError: string | null = null;
    if (this.#client) {
      try {
        [claimedOnChain, balance] = await Promise.all([this.#client.claimed(owner), this.#client.balanceOf(owner)]);
      } catch (error) {
        chainError = error instanceof ControlPlaneError ? error.shortMessage : String(error);
      }
    } else {
      chainError = 'the chain is not connected';
    }
    const info = this.chainInfo;
    return {
      owner,
      nodes: this.bindings.nodesOf(owner).map((b) => ({ nodeId: b.nodeId, boundAt: b.boundAt })),
      cumulative: (closed?.cumulative ?? 0n).toString(),
      latestClosedEpoch,
      latestPostedEpoch,
      cumulativePosted: cumulativePosted.toString(),
      claimedOnChain: claimedOnChain?.toString() ?? null,
      claimable: claimedOnChain === null ? null : (cumulativePosted > claimedOnChain ? cumulativePosted - claimedOnChain : 0n).toString(),
      balance: balance?.toString() ?? null,
      openEpochUnits: this.ledger.openUnitsOf(owner).toString(),
      proof,
      claim:
        proof && info ? { distributor: info.distributor, chainId: info.chainId, account: owner, cumulativeAmount: cumulativePosted.toString(), proof } : null,
      chainError,
    };
  }

  contributionProof(jobId: string, shardIndex: number): ContributionProof {
    const c = this.ledger.contribution(jobId, shardIndex);
    if (!c) throw new NotFoundError(`contribution ${jobId}/${shardIndex}`, { details: 'only accepted shards are contributions' });
    if (c.forfeited) throw new ConflictError(`contribution ${jobId}/${shardIndex} was forfeited`, { details: c.forfeitReason ?? undefined });
    const epoch = this.ledger.epoch(c.epoch);
    if (!epoch || epoch.state === 'open' || c.leafIndex === null || c.owner === null) {
      throw new ConflictError(`contribution ${jobId}/${shardIndex} is in the open epoch ${c.epoch}`, {
        details: c.owner === null ? 'its node has no owner bound yet (meshnode bind <0x…>)' : 'it is in a tree once the epoch closes (meshchain rewards close-epoch)',
      });
    }
    const tree = this.ledger.contributionsTree(c.epoch);
    if (!tree || !epoch.contributionsRoot || !epoch.earningsRoot) throw new ControlPlaneError(`epoch ${c.epoch} has no contributions tree`);
    const owner = getAddress(c.owner);
    const contribution = { jobId: c.jobId, shardIndex: c.shardIndex, nodeId: c.nodeId, owner, units: BigInt(c.units) };
    const [jobHash, , nodeHash] = contributionLeaf(contribution);
    const info = this.chainInfo;
    return {
      epoch: c.epoch,
      epochState: epoch.state,
      contribution: { ...contribution, units: contribution.units.toString() },
      leaf: { jobId: jobHash, shardIndex: c.shardIndex, nodeId: nodeHash, owner, units: contribution.units.toString() },
      leafHash: contributionLeafHash(contribution),
      contributionsRoot: epoch.contributionsRoot,
      earningsRoot: epoch.earningsRoot,
      epochRoot: epochRoot(epoch.earningsRoot, epoch.contributionsRoot),
      proof: epochProof(tree.getProof(c.leafIndex), epoch.earningsRoot),
      distributor: info?.distributor ?? null,
      chainId: info?.chainId ?? null,
    };
  }

  /**
   * The claim proof of an earnings leaf: its proof in the epoch's earnings tree followed by the epoch's
   * contributions root, i.e. the proof against the epoch root the distributor stores.
   */
  #claimProof(epoch: number, leafIndex: number): Hex[] | null {
    const tree = this.ledger.earningsTree(epoch);
    const contributionsRoot = this.ledger.epoch(epoch)?.contributionsRoot;
    return tree && contributionsRoot ? epochProof(tree.getProof(leafIndex), contributionsRoot) : null;
  }

  /** Resolves once the batcher has nothing in flight (tests). */
  async settled(): Promise<void> {
    await this.#batcher?.settled();
  }

  async #checkChain(client: DistributorClient): Promise<void> {
    try {
      if (!(await client.hasCode())) {
        this.#log.error({ distributor: client.address }, 'no contract at the configured distributor address; epochs will not post');
        return;
      }
      await client.token();
      if (!(await client.isBatcher())) {
        this.#log.error({ batcher: client.batcher, distributor: client.address }, 'the batcher key lacks BATCHER_ROLE on the distributor; epochs will not post');
      }
    } catch (error) {
      this.#log.warn({ reason: error instanceof ControlPlaneError ? error.shortMessage : String(error) }, 'chain not reachable at start; epochs will post when it answers');
    }
  }

  #tick(): void {
    try {
      const open = this.ledger.openEpoch();
      const decision = decideEpochTimer({ openedAt: open.openedAt, now: Date.now(), epochMs: this.#o.rewards.epochMs, payable: this.ledger.payableInOpenEpoch() });
      if (decision === 'close') this.closeEpoch();
      else if (decision === 'roll') this.ledger.rollOpenEpoch();
    } catch (error) {
      this.#log.error({ err: error }, 'epoch timer failed');
    }
  }
}
