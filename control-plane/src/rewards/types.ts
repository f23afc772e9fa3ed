// Shapes the rewards API returns (JSON: amounts in wei and units as decimal strings).

export type EpochState = 'open' | 'closed' | 'posting' | 'posted';

export interface EpochRecord {
  epoch: number;
  state: EpochState;
  openedAt: number;
  closedAt: number | null;
  /** MCP wei per unit applied when the epoch closed. */
  weiPerUnit: string | null;
  /** Units paid in this epoch. */
  units: string | null;
  /** Sum of every owner's cumulative earnings (wei): postEpoch's totalCumulative. */
  totalCumulative: string | null;
  earningsRoot: `0x${string}` | null;
  contributionsRoot: `0x${string}` | null;
  owners: number | null;
  contributions: number | null;
  /** The posting transaction, recorded before it was sent. */
  txHash: `0x${string}` | null;
  txNonce: number | null;
  attempts: number;
  nextAttemptAt: number | null;
  lastError: string | null;
  postedAt: number | null;
  postedBlock: number | null;
  gasUsed: number | null;
}

export interface ChainInfo {
  chainId: number | null;
  rpcUrl: string;
  /** True when `meshchain serve` started the anvil devnet itself. */
  devnet: boolean;
  token: `0x${string}` | null;
  distributor: `0x${string}`;
  batcher: `0x${string}`;
}

export interface PosterStatus {
  /** idle: nothing to post; posting: working on an epoch; retrying: waiting to try again; halted: needs an operator. */
  state: 'idle' | 'posting' | 'retrying' | 'halted' | 'stopped';
  epoch: number | null;
  reason: string | null;
}

export interface EpochsResponse {
  epochs: EpochRecord[];
  poster: PosterStatus;
  chain: ChainInfo | null;
}

export interface OwnerRewards {
  owner: `0x${string}`;
  /** Nodes bound to this owner now. */
  nodes: { nodeId: string; boundAt: number }[];
  /** Cumulative earnings (wei) as of the latest closed epoch. */
  cumulative: string;
  latestClosedEpoch: number | null;
  /** The latest epoch on chain, which claims are checked against. */
  latestPostedEpoch: number | null;
  /** Cumulative earnings (wei) in the latest posted epoch's tree: what `claim` takes as cumulativeAmount. */
  cumulativePosted: string;
  /** Claimed on chain so far (wei); null when the chain did not answer. */
  claimedOnChain: string | null;
  /** cumulativePosted − claimedOnChain (wei); null when the chain did not answer. */
  claimable: string | null;
  /** MCP balance of the owner (wei); null when the chain did not answer. */
  balance: string | null;
  /** Units of this owner's shards in the open epoch (not yet in any tree). */
  openEpochUnits: string;
  /**
   * Proof of (owner, cumulativePosted) against the latest posted epoch root: the proof in that epoch's
   * earnings tree followed by its contributions root (what `claim` takes); null when not in it.
   */
  proof: `0x${string}`[] | null;
  /** Ready-made arguments for RewardDistributor.claim; null when there is nothing posted for this owner. */
  claim: { distributor: `0x${string}`; chainId: number | null; account: `0x${string}`; cumulativeAmount: string; proof: `0x${string}`[] } | null;
  chainError: string | null;
}

export interface ContributionProof {
  epoch: number;
  epochState: EpochState;
  contribution: { jobId: string; shardIndex: number; nodeId: string; owner: `0x${string}`; units: string };
  /** The leaf as the contract sees it: ids hashed with keccak256 of their UTF-8 bytes. */
  leaf: { jobId: `0x${string}`; shardIndex: number; nodeId: `0x${string}`; owner: `0x${string}`; units: string };
  leafHash: `0x${string}`;
  contributionsRoot: `0x${string}`;
  earningsRoot: `0x${string}`;
  /** What the distributor stores for the epoch: the sorted-pair hash of the two roots. */
  epochRoot: `0x${string}`;
  /** The leaf's proof in the contributions tree followed by the earnings root: the proof against epochRoot. */
  proof: `0x${string}`[];
  distributor: `0x${string}` | null;
  chainId: number | null;
}
