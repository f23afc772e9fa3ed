// The reward ledger: contributions, epochs and their state transitions, each one SQLite transaction.
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { getAddress, zeroHash, type Hex } from 'viem';
import { buildContributionsTree, buildEarningsTree } from '@meshchain/contracts';
import type { ContributionLeaf, EarningsLeaf } from '@meshchain/protocol';
import { ConflictError } from '../errors.ts';
import type { AcceptedShard } from '../intake/result-intake.ts';
import type { Db } from '../store/db.ts';
import { planEpochClose, type EpochClosePlan, type LedgerContribution } from './epoch-plan.ts';
import type { EpochRecord, EpochState } from './types.ts';
import { modelCostFactor } from './units.ts';
import { workloadModule } from '../workloads/index.ts';

export interface LedgerOptions {
  /** Compute units per token, per model sha256 (1 when absent). */
  modelCostFactors: Readonly<Record<string, number>>;
}

export interface StoredContribution extends LedgerContribution {
  epoch: number;
  leafIndex: number | null;
  modelSha256: string;
  promptTokens: number;
  generatedTokens: number;
  resultId: string;
  recordedAt: number;
  forfeitReason: string | null;
}

interface EpochRow {
  epoch: number;
  state: EpochState;
  opened_at: number;
  closed_at: number | null;
  wei_per_unit: string | null;
  units: string | null;
  total_cumulative: string | null;
  earnings_root: string | null;
  contributions_root: string | null;
  owners: number | null;
  contributions: number | null;
  tx_hash: string | null;
  tx_nonce: number | null;
  tx_raw: string | null;
  tx_sent_at: number | null;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  posted_at: number | null;
  posted_block: number | null;
  gas_used: number | null;
}

interface ContributionRow {
  job_id: string;
  shard_index: number;
  node_id: string;
  owner: string | null;
  units: number;
  prompt_tokens: number;
  generated_tokens: number;
  model_sha256: string;
  result_id: string;
  epoch: number;
  forfeited: number;
  forfeit_reason: string | null;
  leaf_index: number | null;
  recorded_at: number;
}

const EPOCH_COLUMNS = `epoch, state, opened_at, closed_at, wei_per_unit, units, total_cumulative, earnings_root, contributions_root,
  owners, contributions, tx_hash, tx_nonce, tx_raw, tx_sent_at, attempts, next_attempt_at, last_error, posted_at, posted_block, gas_used`;

const epochFromRow = (row: EpochRow): EpochRecord => ({
  epoch: row.epoch,
  state: row.state,
  openedAt: row.opened_at,
  closedAt: row.closed_at,
  weiPerUnit: row.wei_per_unit,
  units: row.units,
  totalCumulative: row.total_cumulative,
  earningsRoot: row.earnings_root as Hex | null,
  contributionsRoot: row.contributions_root as Hex | null,
  owners: row.owners,
  contributions: row.contributions,
  txHash: row.tx_hash as Hex | null,
  txNonce: row.tx_nonce,
  attempts: row.attempts,
  nextAttemptAt: row.state === 'closed' || row.state === 'posting' ? row.next_attempt_at : null,
  lastError: row.last_error,
  postedAt: row.posted_at,
  postedBlock: row.posted_block,
  gasUsed: row.gas_used,
});

const contributionFromRow = (row: ContributionRow): StoredContribution => ({
  jobId: row.job_id,
  shardIndex: row.shard_index,
  nodeId: row.node_id,
  owner: row.owner,
  units: row.units,
  forfeited: row.forfeited === 1,
  forfeitReason: row.forfeit_reason,
  epoch: row.epoch,
  leafIndex: row.leaf_index,
  modelSha256: row.model_sha256,
  promptTokens: row.prompt_tokens,
  generatedTokens: row.generated_tokens,
  resultId: row.result_id,
  recordedAt: row.recorded_at,
});

/** What a post transaction looked like when it was recorded, before it was sent. */
export interface PostRecord {
  txHash: Hex;
  nonce: number;
  raw: Hex;
  sentAt: number;
}

/**
 * The ledger of contributions and epochs. Epoch states: `open` (one at a time; accepted shards land in
 * it) → `closed` (trees built and stored, waiting to post) → `posting` (transaction recorded, then sent)
 * → `posted` (the chain has it). Every transition is one transaction with a verb-first name.
 */
export class Ledger {
  readonly #db: Db;
  readonly #options: LedgerOptions;
  readonly #trees = new Map<string, unknown>();

  constructor(db: Db, options: LedgerOptions) {
    this.#db = db;
    this.#options = options;
  }

  /** Intake hook: records an accepted shard as a contribution (idempotent on job and shard index). */
  recordContribution(shard: AcceptedShard, now = Date.now()): void {
    const { promptTokens, generatedTokens, units } = workloadModule(shard.workload ?? 'infer').units(
      shard.inputs,
      shard.result,
      modelCostFactor(this.#options.modelCostFactors, shard.modelSha256),
    );
    const epoch = this.openEpoch(now).epoch;
    this.#db
      .prepare(
        `INSERT INTO contributions (job_id, shard_index, node_id, owner, units, prompt_tokens, generated_tokens, model_sha256, result_id, epoch, recorded_at)
         VALUES (?, ?, ?, (SELECT owner FROM node_bindings WHERE node_id = ?), ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (job_id, shard_index) DO NOTHING`,
      )
      .run(shard.jobId, shard.shardIndex, shard.nodeId, shard.nodeId, units, promptTokens, generatedTokens, shard.modelSha256, shard.resultId, epoch, now);
  }

  /**
   * Marks a node's unsettled contributions (those not yet in a closed epoch) forfeited: they are left out
   * of every tree. Contributions of closed epochs are settled and are not touched. Returns how many changed.
   */
  forfeitContributions(filter: { nodeId: string; jobId?: string; reason: string }): number {
    return this.#db.transaction(() => {
      const open = this.#openRow();
      if (!open) return 0;
      const info = this.#db
        .prepare(
          `UPDATE contributions SET forfeited = 1, forfeit_reason = ?
           WHERE node_id = ? AND epoch >= ? AND forfeited = 0 AND (? IS NULL OR job_id = ?)`,
        )
        .run(filter.reason.slice(0, 512), filter.nodeId, open.epoch, filter.jobId ?? null, filter.jobId ?? null);
      return info.changes;
    })();
  }

  /** The open epoch, opening epoch (last + 1) at `now` if there is none. */
  openEpoch(now = Date.now()): EpochRecord {
    const existing = this.#openRow();
    if (existing) return epochFromRow(existing);
    return this.#db.transaction(() => {
      const last = this.#db.prepare('SELECT MAX(epoch) AS n FROM reward_epochs').get() as { n: number | null };
      const epoch = (last.n ?? 0) + 1;
      this.#db.prepare(`INSERT INTO reward_epochs (epoch, state, opened_at) VALUES (?, 'open', ?)`).run(epoch, now);
      return epochFromRow(this.#epochRow(epoch) as EpochRow);
    })();
  }

  /** Contributions of the open epoch that a close would pay (not forfeited, owner known or node bound). */
  payableInOpenEpoch(): number {
    const open = this.#openRow();
    if (!open) return 0;
    const row = this.#db
      .prepare(
        `SELECT COUNT(*) AS n FROM contributions c
         WHERE c.epoch = ? AND c.forfeited = 0 AND (c.owner IS NOT NULL OR EXISTS (SELECT 1 FROM node_bindings b WHERE b.node_id = c.node_id))`,
      )
      .get(open.epoch) as { n: number };
    return row.n;
  }

  /** Restarts the open epoch's window at `now` (the timer found nothing to pay). */
  rollOpenEpoch(now = Date.now()): void {
    this.#db.prepare(`UPDATE reward_epochs SET opened_at = ? WHERE state = 'open'`).run(now);
  }

  /**
   * Closes the open epoch: plans it (see planEpochClose), builds and stores both trees, records every
   * owner's cumulative earnings, moves unbound contributions to the next epoch and opens it. One transaction.
   */
  closeEpoch(weiPerUnit: bigint, now = Date.now()): EpochRecord {
    return this.#db.transaction((): EpochRecord => {
      const open = this.openEpoch(now);
      const n = open.epoch;
      const rows = (this.#db.prepare('SELECT * FROM contributions WHERE epoch = ?').all(n) as ContributionRow[]).map(contributionFromRow);
      const bindings = new Map<string, string>();
      for (const row of this.#db.prepare('SELECT node_id, owner FROM node_bindings').all() as { node_id: string; owner: string }[]) {
        bindings.set(row.node_id, row.owner);
      }
      const previous = new Map<string, bigint>();
      for (const row of this.#db.prepare('SELECT owner, cumulative FROM reward_earnings WHERE epoch = ?').all(n - 1) as { owner: string; cumulative: string }[]) {
        previous.set(row.owner, BigInt(row.cumulative));
      }
      const plan = planEpochClose({ epoch: n, contributions: rows, bindings, previous, weiPerUnit });
      const trees = buildTrees(plan);

      const setPaid = this.#db.prepare('UPDATE contributions SET owner = ?, leaf_index = ? WHERE job_id = ? AND shard_index = ?');
      for (const c of plan.included) setPaid.run(c.owner, c.leafIndex, c.jobId, c.shardIndex);
      const carry = this.#db.prepare('UPDATE contributions SET epoch = ? WHERE job_id = ? AND shard_index = ?');
      for (const c of plan.carried) carry.run(n + 1, c.jobId, c.shardIndex);
      const earn = this.#db.prepare('INSERT INTO reward_earnings (epoch, owner, cumulative, epoch_units, leaf_index) VALUES (?, ?, ?, ?, ?)');
      for (const e of plan.earnings) earn.run(n, e.account, e.cumulativeAmount.toString(), e.epochUnits.toString(), e.leafIndex);

      this.#db
        .prepare(
          `UPDATE reward_epochs SET state = 'closed', closed_at = ?, wei_per_unit = ?, units = ?, total_cumulative = ?,
             earnings_root = ?, contributions_root = ?, owners = ?, contributions = ?, earnings_tree = ?, contributions_tree = ?,
             attempts = 0, next_attempt_at = 0
           WHERE epoch = ? AND state = 'open'`,
        )
        .run(
          now,
          weiPerUnit.toString(),
          plan.units.toString(),
          plan.totalCumulative.toString(),
          trees.earningsRoot,
          trees.contributionsRoot,
          plan.earnings.length,
          plan.included.length,
          trees.earningsDump,
          trees.contributionsDump,
          n,
        );
      this.#db.prepare(`INSERT INTO reward_epochs (epoch, state, opened_at) VALUES (?, 'open', ?)`).run(n + 1, now);
      return epochFromRow(this.#epochRow(n) as EpochRow);
    })();
  }

  epochs(): EpochRecord[] {
    return (this.#db.prepare(`SELECT ${EPOCH_COLUMNS} FROM reward_epochs ORDER BY epoch`).all() as EpochRow[]).map(epochFromRow);
  }

  epoch(n: number): EpochRecord | null {
    const row = this.#epochRow(n);
    return row ? epochFromRow(row) : null;
  }

  /** The lowest epoch waiting to be posted, with its recorded transaction. */
  nextEpochToPost(): (EpochRecord & { txRaw: Hex | null; txSentAt: number | null }) | null {
    const row = this.#db
      .prepare(`SELECT ${EPOCH_COLUMNS} FROM reward_epochs WHERE state IN ('closed', 'posting') ORDER BY epoch LIMIT 1`)
      .get() as EpochRow | undefined;
    return row ? { ...epochFromRow(row), txRaw: row.tx_raw as Hex | null, txSentAt: row.tx_sent_at } : null;
  }

  latestPostedEpoch(): number | null {
    const row = this.#db.prepare(`SELECT MAX(epoch) AS n FROM reward_epochs WHERE state = 'posted'`).get() as { n: number | null };
    return row.n;
  }

  latestClosedEpoch(): number | null {
    const row = this.#db.prepare(`SELECT MAX(epoch) AS n FROM reward_epochs WHERE state != 'open'`).get() as { n: number | null };
    return row.n;
  }

  /** Sends posted epochs ≥ `from` back to `closed`, to be posted again (the chain lost them). */
  rewindPostedFrom(from: number): number {
    return this.#db
      .prepare(
        `UPDATE reward_epochs SET state = 'closed', tx_hash = NULL, tx_nonce = NULL, tx_raw = NULL, tx_sent_at = NULL,
           attempts = 0, next_attempt_at = 0, posted_at = NULL, posted_block = NULL, gas_used = NULL
         WHERE epoch >= ? AND state IN ('posted', 'posting')`,
      )
      .run(from).changes;
  }

  /** Records a signed post transaction before it is sent: the epoch is `posting` from here on. */
  recordPostSending(epoch: number, post: PostRecord): void {
    const info = this.#db
      .prepare(
        `UPDATE reward_epochs SET state = 'posting', tx_hash = ?, tx_nonce = ?, tx_raw = ?, tx_sent_at = ?, attempts = attempts + 1
         WHERE epoch = ? AND state IN ('closed', 'posting')`,
      )
      .run(post.txHash, post.nonce, post.raw, post.sentAt, epoch);
    if (info.changes !== 1) throw new ConflictError(`epoch ${epoch} is not waiting to be posted`);
  }

  /** The chain has the epoch; `txHash` is the transaction that posted it (null when unknown). */
  markPosted(epoch: number, details: { txHash: Hex | null; block: bigint | null; gasUsed: bigint | null; now?: number }): void {
    this.#db
      .prepare(
        `UPDATE reward_epochs SET state = 'posted', tx_hash = ?, posted_block = ?, gas_used = ?, posted_at = ?,
           last_error = NULL, next_attempt_at = 0
         WHERE epoch = ? AND state IN ('closed', 'posting')`,
      )
      .run(details.txHash, details.block === null ? null : Number(details.block), details.gasUsed === null ? null : Number(details.gasUsed), details.now ?? Date.now(), epoch);
  }

  /** A posting attempt failed; the next one is due at `nextAttemptAt`. Counts attempts that sent nothing too. */
  recordPostFailure(epoch: number, error: string, nextAttemptAt: number, countAttempt: boolean): void {
    this.#db
      .prepare(
        `UPDATE reward_epochs SET last_error = ?, next_attempt_at = ?, attempts = attempts + ? WHERE epoch = ? AND state IN ('closed', 'posting')`,
      )
      .run(error.slice(0, 1000), nextAttemptAt, countAttempt ? 1 : 0, epoch);
  }

  contribution(jobId: string, shardIndex: number): StoredContribution | null {
    const row = this.#db.prepare('SELECT * FROM contributions WHERE job_id = ? AND shard_index = ?').get(jobId, shardIndex) as ContributionRow | undefined;
    return row ? contributionFromRow(row) : null;
  }

  contributionsOfEpoch(epoch: number): StoredContribution[] {
    return (this.#db.prepare('SELECT * FROM contributions WHERE epoch = ? ORDER BY job_id, shard_index').all(epoch) as ContributionRow[]).map(contributionFromRow);
  }

  /** An owner's earnings leaf in an epoch's tree. */
  earningsOf(owner: string, epoch: number): { cumulative: bigint; leafIndex: number } | null {
    const row = this.#db.prepare('SELECT cumulative, leaf_index FROM reward_earnings WHERE epoch = ? AND owner = ?').get(epoch, getAddress(owner)) as
      | { cumulative: string; leaf_index: number }
      | undefined;
    return row ? { cumulative: BigInt(row.cumulative), leafIndex: row.leaf_index } : null;
  }

  /** Units of an owner's contributions in the open epoch. */
  openUnitsOf(owner: string): bigint {
    const open = this.#openRow();
    if (!open) return 0n;
    const row = this.#db
      .prepare('SELECT COALESCE(SUM(units), 0) AS n FROM contributions WHERE epoch = ? AND owner = ? AND forfeited = 0')
      .get(open.epoch, getAddress(owner)) as { n: number };
    return BigInt(row.n);
  }

  /** A closed epoch's earnings tree (null when it paid nobody). Loaded from its stored dump and cached. */
  earningsTree(epoch: number): StandardMerkleTree<EarningsLeaf> | null {
    return this.#tree<EarningsLeaf>(epoch, 'earnings');
  }

  /** A closed epoch's contributions tree (null when it had none). */
  contributionsTree(epoch: number): StandardMerkleTree<ContributionLeaf> | null {
    return this.#tree<ContributionLeaf>(epoch, 'contributions');
  }

  #tree<T extends EarningsLeaf | ContributionLeaf>(epoch: number, kind: 'earnings' | 'contributions'): StandardMerkleTree<T> | null {
    const key = `${kind}:${epoch}`;
    const cached = this.#trees.get(key);
    if (cached) return cached as StandardMerkleTree<T>;
    const row = this.#db.prepare(`SELECT ${kind}_tree AS dump FROM reward_epochs WHERE epoch = ?`).get(epoch) as { dump: string | null } | undefined;
    if (!row?.dump) return null;
    const tree = StandardMerkleTree.load<T>(JSON.parse(row.dump) as Parameters<typeof StandardMerkleTree.load<T>>[0]);
    // A closed epoch's trees never change, so an entry never goes stale; keep the few most recent.
    if (this.#trees.size >= 8) this.#trees.delete(this.#trees.keys().next().value as string);
    this.#trees.set(key, tree);
    return tree;
  }

  #openRow(): EpochRow | undefined {
    return this.#db.prepare(`SELECT ${EPOCH_COLUMNS} FROM reward_epochs WHERE state = 'open'`).get() as EpochRow | undefined;
  }

  #epochRow(epoch: number): EpochRow | undefined {
    return this.#db.prepare(`SELECT ${EPOCH_COLUMNS} FROM reward_epochs WHERE epoch = ?`).get(epoch) as EpochRow | undefined;
  }
}

/** Both trees of a planned epoch: roots (zero for an empty tree, as the contract expects) and dumps. */
function buildTrees(plan: EpochClosePlan): { earningsRoot: Hex; contributionsRoot: Hex; earningsDump: string | null; contributionsDump: string | null } {
  const earnings = plan.earnings.length > 0 ? buildEarningsTree(plan.earnings) : null;
  const contributions =
    plan.included.length > 0
      ? buildContributionsTree(plan.included.map((c) => ({ jobId: c.jobId, shardIndex: c.shardIndex, nodeId: c.nodeId, owner: c.owner, units: BigInt(c.units) })))
      : null;
  return {
    earningsRoot: (earnings?.root as Hex | undefined) ?? zeroHash,
    contributionsRoot: (contributions?.root as Hex | undefined) ?? zeroHash,
    earningsDump: earnings ? JSON.stringify(earnings.dump(), bigintReplacer) : null,
    contributionsDump: contributions ? JSON.stringify(contributions.dump(), bigintReplacer) : null,
  };
}

/** StandardMerkleTree dumps hold bigint values; store them as decimal strings (load() accepts those). */
function bigintReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
