// Pure posting decisions: reconcile one closed epoch with what the chain says, and the retry schedule.
import type { Hex } from 'viem';
import { epochRoot } from '@meshchain/contracts';

export interface EpochRoots {
  earningsRoot: Hex;
  contributionsRoot: Hex;
}

/** What the chain knows of a transaction we signed. */
export type TxState =
  | { status: 'unknown' }
  | { status: 'pending' }
  | { status: 'success' | 'reverted'; blockNumber: bigint; gasUsed: bigint };

export interface PlanPostStepParameters {
  /** The lowest epoch not yet posted, as the ledger has it. */
  epoch: number;
  roots: EpochRoots;
  /** The transaction recorded before it was sent, if any. */
  txHash: Hex | null;
  /** When that transaction was recorded (ms). */
  sentAt: number | null;
  /** The distributor's currentEpoch(). */
  chainEpoch: number;
  /** The distributor's epochRoot(epoch) (the sorted-pair hash of both roots) when chainEpoch ≥ epoch. */
  chainRoot: Hex | null;
  /** State of txHash when there is one and the chain has not got the epoch yet. */
  tx: TxState | null;
  /** The recorded transaction's nonce was used by another mined transaction: it can never be mined. */
  nonceUsed: boolean;
  now: number;
  /** How long a transaction may stay pending before it is replaced (same nonce, higher fee). */
  replaceAfterMs: number;
}

export type PostStep =
  /** The chain has the epoch with our roots: record it posted. */
  | { action: 'confirm' }
  /** The chain has the epoch with other roots: stop and tell an operator. */
  | { action: 'conflict'; reason: string }
  /** Our transaction is in the mempool: wait for its receipt. */
  | { action: 'wait'; txHash: Hex }
  /** Our transaction has been pending too long: send it again with the same nonce and a higher fee. */
  | { action: 'replace'; txHash: Hex }
  /** Nothing of ours is in flight and the epoch is next on chain: sign and send it. */
  | { action: 'send' };

/**
 * Decides the next step for the lowest unposted epoch. The chain is the truth: an epoch it already has
 * (with the same roots) is never sent again, and a transaction of ours still in flight is waited for,
 * so a crash after sending or a lost receipt cannot double-post.
 */
export function planPostStep(p: PlanPostStepParameters): PostStep {
  if (p.chainEpoch >= p.epoch) {
    if (!p.chainRoot) return { action: 'conflict', reason: `the chain is at epoch ${p.chainEpoch} but gave no root for epoch ${p.epoch}` };
    const ours = epochRoot(p.roots.earningsRoot, p.roots.contributionsRoot);
    if (sameRoot(p.chainRoot, ours)) return { action: 'confirm' };
    return {
      action: 'conflict',
      reason: `epoch ${p.epoch} is on chain with other roots (epoch root ${p.chainRoot}, ours ${ours} from earnings ${p.roots.earningsRoot}): another batcher, or a ledger that lost state`,
    };
  }
  if (p.chainEpoch < p.epoch - 1) {
    return { action: 'conflict', reason: `the chain is at epoch ${p.chainEpoch}, so epoch ${p.epoch} cannot be posted before epoch ${p.chainEpoch + 1}` };
  }
  if (p.txHash && p.tx?.status === 'pending' && !p.nonceUsed) {
    const pendingFor = p.sentAt === null ? 0 : p.now - p.sentAt;
    return pendingFor > p.replaceAfterMs ? { action: 'replace', txHash: p.txHash } : { action: 'wait', txHash: p.txHash };
  }
  // No transaction, or one that is unknown (dropped), mined without posting (reverted) or outrun by its
  // nonce: sign and send a new one.
  return { action: 'send' };
}

/**
 * Posted epochs the chain no longer has (a devnet that restarted empty, a new distributor, a reorg):
 * the first epoch to post again, or null when the chain has everything the ledger posted.
 */
export function firstEpochToRepost(latestPosted: number | null, chainEpoch: number): number | null {
  return latestPosted !== null && latestPosted > chainEpoch ? chainEpoch + 1 : null;
}

/** The declared posting retry policy: exponential backoff capped at maxDelayMs, spread by ±jitter. */
export interface PostRetryPolicy {
  delayMs: number;
  factor: number;
  jitter: number;
  maxDelayMs: number;
}

/** Delay before the next attempt after `attempt` (≥ 1) failed attempts. */
export function postRetryDelay(policy: PostRetryPolicy, attempt: number, random: () => number = Math.random): number {
  const nominal = Math.min(policy.maxDelayMs, policy.delayMs * policy.factor ** Math.max(0, attempt - 1));
  return Math.max(0, Math.round(nominal * (1 + policy.jitter * (2 * random() - 1))));
}

function sameRoot(a: Hex, b: Hex): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
