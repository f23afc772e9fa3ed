// Posts closed epochs to the RewardDistributor, in order, exactly once each, whatever crashes or outages happen.
import type { Logger } from 'pino';
import type { Hex } from 'viem';
import { ChainError, toChainError } from '../chain/errors.ts';
import type { DistributorClient } from '../chain/distributor.ts';
import type { Ledger } from './ledger.ts';
import { firstEpochToRepost, planPostStep, postRetryDelay, type PostRetryPolicy } from './post-plan.ts';
import type { EpochRecord, PosterStatus } from './types.ts';

/** Fault injection for crash tests; never set in production. */
export interface BatcherFaults {
  /** Called right after a post transaction was sent, before its receipt is awaited and recorded. */
  afterPostSent?: () => void;
}

export interface EpochBatcherOptions {
  ledger: Ledger;
  chain: DistributorClient;
  logger: Logger;
  retry: PostRetryPolicy;
  /** How long to wait for a receipt; a transaction pending longer than this is replaced (same nonce). */
  receiptTimeoutMs: number;
  /** Receipt polling interval. */
  pollingIntervalMs: number;
  faults?: BatcherFaults;
  random?: () => number;
}

type PendingEpoch = NonNullable<ReturnType<Ledger['nextEpochToPost']>>;

/**
 * The batcher's posting loop. Each pass asks the chain first (currentEpoch, epochRoot, the state of the
 * transaction recorded for the epoch), then takes the step planPostStep decides. The signed transaction
 * is recorded in the ledger before it is sent, so after a crash the next pass finds it on chain (and
 * confirms) or in the mempool (and waits) instead of posting again. Failures are retried on the declared
 * policy (capped exponential backoff with jitter); errors no retry can fix halt the loop and are reported.
 *
 * Retries have no attempt limit by design: giving up on an epoch would skip it, and every later epoch
 * waits behind it. The cap on the delay bounds the load an outage causes; `attempts` and `lastError` on
 * the epoch show an operator what is happening.
 */
export class EpochBatcher {
  readonly #o: EpochBatcherOptions;
  readonly #log: Logger;
  #abort = new AbortController();
  #running: Promise<void> | null = null;
  #again = false;
  #timer: NodeJS.Timeout | null = null;
  #status: PosterStatus = { state: 'stopped', epoch: null, reason: null };

  constructor(options: EpochBatcherOptions) {
    this.#o = options;
    this.#log = options.logger;
  }

  get status(): PosterStatus {
    return { ...this.#status };
  }

  start(): void {
    this.#abort = new AbortController();
    this.#status = { state: 'idle', epoch: null, reason: null };
    this.kick();
  }

  /** Stops posting; an in-flight receipt wait ends at its next poll. The recorded transaction is reconciled on the next start. */
  async stop(): Promise<void> {
    this.#abort.abort();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running;
    this.#status = { state: 'stopped', epoch: null, reason: null };
  }

  /** Runs a pass now (or right after the current one). */
  kick(): void {
    if (this.#abort.signal.aborted || this.#status.state === 'halted') return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#running = this.#pass().finally(() => {
      this.#running = null;
      if (this.#again) {
        this.#again = false;
        this.kick();
      }
    });
  }

  /** Resolves once nothing is being posted right now (for tests and orderly shutdowns). */
  async settled(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #pass(): Promise<void> {
    let current: PendingEpoch | null = null;
    try {
      for (;;) {
        if (this.#abort.signal.aborted) return;
        current = this.#o.ledger.nextEpochToPost();
        const latestPosted = this.#o.ledger.latestPostedEpoch();
        if (!current && latestPosted === null) {
          this.#status = { state: 'idle', epoch: null, reason: null };
          return;
        }
        const chainEpoch = await this.#o.chain.currentEpoch();
        const repost = firstEpochToRepost(latestPosted, chainEpoch);
        if (repost !== null) {
          const rewound = this.#o.ledger.rewindPostedFrom(repost);
          this.#log.warn({ chainEpoch, latestPosted, from: repost, epochs: rewound }, 'the chain lacks posted epochs (devnet restarted, new distributor or reorg): posting them again in order');
          continue;
        }
        if (!current) {
          this.#status = { state: 'idle', epoch: null, reason: null };
          return;
        }
        this.#status = { state: 'posting', epoch: current.epoch, reason: null };
        const done = await this.#step(current, chainEpoch);
        if (!done) return;
      }
    } catch (error) {
      this.#fail(current, error);
    }
  }

  /** One reconciled step for the lowest unposted epoch; false when the pass should end. */
  async #step(epoch: PendingEpoch, chainEpoch: number): Promise<boolean> {
    const { chain } = this.#o;
    const roots = requireRoots(epoch);
    const chainRoot = chainEpoch >= epoch.epoch ? await chain.epochRoot(epoch.epoch) : null;
    const tx = epoch.txHash && chainEpoch < epoch.epoch ? await chain.transactionState(epoch.txHash) : null;
    const nonceUsed = tx?.status === 'pending' && epoch.txNonce !== null ? (await chain.minedNonce()) > epoch.txNonce : false;
    const step = planPostStep({
      epoch: epoch.epoch,
      roots,
      txHash: epoch.txHash,
      sentAt: epoch.txSentAt,
      chainEpoch,
      chainRoot,
      tx,
      nonceUsed,
      now: Date.now(),
      replaceAfterMs: this.#o.receiptTimeoutMs,
    });
    switch (step.action) {
      case 'confirm':
        await this.#confirm(epoch);
        return true;
      case 'conflict':
        throw new ChainError(`cannot post epoch ${epoch.epoch}`, { details: step.reason, retryable: false });
      case 'wait':
        this.#log.info({ epoch: epoch.epoch, txHash: step.txHash }, 'post transaction pending: waiting for its receipt');
        return this.#awaitReceipt(epoch.epoch, step.txHash);
      case 'replace':
        if (!epoch.txRaw) throw new ChainError(`epoch ${epoch.epoch}: no recorded transaction to replace`, { retryable: false });
        return this.#send(epoch, roots, epoch.txRaw);
      case 'send':
        return this.#send(epoch, roots, null);
    }
  }

  async #send(epoch: PendingEpoch, roots: { earningsRoot: Hex; contributionsRoot: Hex }, replace: Hex | null): Promise<boolean> {
    const { chain, ledger } = this.#o;
    const args = { epoch: epoch.epoch, ...roots, totalCumulative: BigInt(epoch.totalCumulative ?? '0') };
    if (!replace && !(await chain.simulatePost(args))) {
      // The contract's no-op: the chain moved to this exact epoch since currentEpoch() was read. Reconcile
      // on the next attempt rather than trust a simulation.
      throw new ChainError(`epoch ${epoch.epoch} is already the chain's current epoch; reconciling`, { retryable: true });
    }
    const signed = await chain.signPost(args, replace ? { raw: replace } : undefined);
    ledger.recordPostSending(epoch.epoch, { txHash: signed.hash, nonce: signed.nonce, raw: signed.raw, sentAt: Date.now() });
    this.#log.info({ epoch: epoch.epoch, txHash: signed.hash, nonce: signed.nonce, gas: Number(signed.gas), replaces: replace ? epoch.txHash : undefined }, 'posting epoch');
    await chain.sendRaw(signed.raw);
    this.#o.faults?.afterPostSent?.();
    return this.#awaitReceipt(epoch.epoch, signed.hash);
  }

  /**
   * Records an epoch the chain already has as posted, with the transaction that posted it: the recorded
   * one when it was mined, else the one its EpochPosted event names (a replacement, another attempt).
   */
  async #confirm(epoch: PendingEpoch): Promise<void> {
    const { chain, ledger } = this.#o;
    const mined = async (hash: Hex | null): Promise<{ hash: Hex; blockNumber: bigint; gasUsed: bigint } | null> => {
      if (!hash) return null;
      const state = await chain.transactionState(hash).catch(() => null);
      return state && 'blockNumber' in state && state.status === 'success' ? { hash, blockNumber: state.blockNumber, gasUsed: state.gasUsed } : null;
    };
    const tx = (await mined(epoch.txHash)) ?? (await mined(await chain.findPostTransaction(epoch.epoch)));
    ledger.markPosted(epoch.epoch, { txHash: tx?.hash ?? null, block: tx?.blockNumber ?? null, gasUsed: tx?.gasUsed ?? null });
    this.#log.info({ epoch: epoch.epoch, txHash: tx?.hash ?? null, recorded: epoch.txHash }, 'epoch found on chain: recorded as posted');
  }

  async #awaitReceipt(epoch: number, txHash: Hex): Promise<boolean> {
    const receipt = await this.#o.chain.waitForReceipt(txHash, {
      timeoutMs: this.#o.receiptTimeoutMs,
      pollMs: this.#o.pollingIntervalMs,
      signal: this.#abort.signal,
    });
    if (!receipt) {
      if (this.#abort.signal.aborted) return false;
      throw new ChainError(`no receipt for ${txHash} within ${this.#o.receiptTimeoutMs} ms`, { retryable: true });
    }
    if (receipt.status === 'reverted') {
      // Reconciled on the next pass: the chain may have the epoch by another transaction.
      throw new ChainError(`postEpoch(${epoch}) ${txHash} reverted in block ${receipt.blockNumber}`, { retryable: true });
    }
    this.#o.ledger.markPosted(epoch, { txHash, block: receipt.blockNumber, gasUsed: receipt.gasUsed });
    this.#log.info({ epoch, txHash, block: Number(receipt.blockNumber), gasUsed: Number(receipt.gasUsed) }, 'epoch posted');
    return true;
  }

  #fail(epoch: PendingEpoch | null, raw: unknown): void {
    const error = toChainError('posting', raw);
    const message = error.details && !error.shortMessage.includes(error.details) ? `${error.shortMessage}: ${error.details.split('\n')[0] ?? ''}` : error.shortMessage;
    // Re-read: the attempt may have sent a transaction (recordPostSending counted it).
    const fresh = epoch ? this.#o.ledger.epoch(epoch.epoch) : null;
    if (!error.retryable) {
      if (fresh) this.#o.ledger.recordPostFailure(fresh.epoch, message, 0, false);
      this.#status = { state: 'halted', epoch: fresh?.epoch ?? null, reason: message };
      this.#log.error({ epoch: fresh?.epoch, reason: message }, 'posting halted: this needs an operator (fix, then restart the control plane)');
      return;
    }
    if (this.#abort.signal.aborted) return;
    const sent = fresh !== null && epoch !== null && fresh.attempts > epoch.attempts;
    const attempts = (fresh?.attempts ?? 0) + (sent ? 0 : 1);
    const delay = postRetryDelay(this.#o.retry, Math.max(1, attempts), this.#o.random);
    if (fresh) this.#o.ledger.recordPostFailure(fresh.epoch, message, Date.now() + delay, !sent);
    this.#status = { state: 'retrying', epoch: fresh?.epoch ?? null, reason: message };
    this.#log.warn({ epoch: fresh?.epoch, attempts, retryInMs: delay, reason: message }, 'posting failed; will retry');
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.kick();
    }, delay);
    this.#timer.unref();
  }
}

function requireRoots(epoch: EpochRecord): { earningsRoot: Hex; contributionsRoot: Hex } {
  if (!epoch.earningsRoot || !epoch.contributionsRoot) throw new ChainError(`epoch ${epoch.epoch} has no roots`, { retryable: false });
  return { earningsRoot: epoch.earningsRoot, contributionsRoot: epoch.contributionsRoot };
}
