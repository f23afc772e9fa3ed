// Pure epoch planning: what an epoch's close pays, and when the timer closes an epoch.

/** A contribution as the ledger holds it (owner checksummed, null while the node was unbound). */
export interface LedgerContribution {
  jobId: string;
  shardIndex: number;
  nodeId: string;
  owner: string | null;
  units: number;
  forfeited: boolean;
}

export interface PlanEpochCloseParameters {
  epoch: number;
  /** Every contribution counted in this epoch (forfeited and unbound ones included). */
  contributions: readonly LedgerContribution[];
  /** Each node's current owner (checksummed), from the bindings table. */
  bindings: ReadonlyMap<string, string>;
  /** Every owner's cumulative earnings (wei) as of the previous epoch. */
  previous: ReadonlyMap<string, bigint>;
  /** MCP wei per compute unit, applied to this epoch's units. */
  weiPerUnit: bigint;
}

export interface PaidContribution extends LedgerContribution {
  owner: string;
  /** Position of the contribution in the values given to the contributions tree. */
  leafIndex: number;
}

export interface EarningsEntry {
  account: string;
  cumulativeAmount: bigint;
  /** Units credited to the account in this epoch. */
  epochUnits: bigint;
  /** Position of the entry in the values given to the earnings tree. */
  leafIndex: number;
}

export interface EpochClosePlan {
  epoch: number;
  /** Paid in this epoch, ordered by (jobId, shardIndex). */
  included: PaidContribution[];
  /** From nodes still unbound: they move to the next epoch and are paid once an owner is bound. */
  carried: LedgerContribution[];
  /** Excluded from the trees for good. */
  forfeited: LedgerContribution[];
  /** Every owner ever paid (cumulative), ordered by lower-cased address. */
  earnings: EarningsEntry[];
  /** Sum of every cumulative amount: postEpoch's totalCumulative. */
  totalCumulative: bigint;
  /** Units paid in this epoch. */
  units: bigint;
}

/**
 * Plans closing `epoch`: forfeited contributions are dropped; a contribution without an owner takes the
 * owner its node is bound to now, or, with none bound, is carried into the next epoch; every owner's
 * cumulative earnings grow by its units × weiPerUnit. Owners from earlier epochs stay in the tree with
 * their cumulative amount, so a tree pays everything ever earned and a claim takes the difference.
 */
export function planEpochClose(parameters: PlanEpochCloseParameters): EpochClosePlan {
  const { epoch, contributions, bindings, previous, weiPerUnit } = parameters;
  if (weiPerUnit < 0n) throw new RangeError('weiPerUnit must not be negative');
  const forfeited: LedgerContribution[] = [];
  const carried: LedgerContribution[] = [];
  const paid: Omit<PaidContribution, 'leafIndex'>[] = [];
  for (const contribution of contributions) {
    if (contribution.forfeited) {
      forfeited.push(contribution);
      continue;
    }
    const owner = contribution.owner ?? bindings.get(contribution.nodeId) ?? null;
    if (owner === null) carried.push(contribution);
    else paid.push({ ...contribution, owner });
  }
  paid.sort((a, b) => compareStrings(a.jobId, b.jobId) || a.shardIndex - b.shardIndex);
  const included = paid.map((c, leafIndex) => ({ ...c, leafIndex }));

  const epochUnits = new Map<string, bigint>();
  for (const c of included) epochUnits.set(c.owner, (epochUnits.get(c.owner) ?? 0n) + BigInt(c.units));
  const accounts = new Map<string, string>();
  for (const account of [...previous.keys(), ...epochUnits.keys()]) {
    const key = account.toLowerCase();
    if (accounts.has(key) && accounts.get(key) !== account) throw new RangeError(`account ${account} appears in two spellings`);
    accounts.set(key, account);
  }
  const earnings = [...accounts.entries()]
    .sort(([a], [b]) => compareStrings(a, b))
    .map(([, account], leafIndex) => {
      const units = epochUnits.get(account) ?? 0n;
      return { account, cumulativeAmount: (previous.get(account) ?? 0n) + units * weiPerUnit, epochUnits: units, leafIndex };
    });
  return {
    epoch,
    included,
    carried,
    forfeited,
    earnings,
    totalCumulative: earnings.reduce((sum, e) => sum + e.cumulativeAmount, 0n),
    units: included.reduce((sum, c) => sum + BigInt(c.units), 0n),
  };
}

export type EpochTimerDecision = 'wait' | 'close' | 'roll';

/**
 * What the epoch timer does with the open epoch: `wait` before its end; at its end `close` it when it
 * has something to pay, else `roll` its window forward (an empty epoch is not worth a transaction).
 */
export function decideEpochTimer(parameters: { openedAt: number; now: number; epochMs: number; payable: number }): EpochTimerDecision {
  const { openedAt, now, epochMs, payable } = parameters;
  if (now - openedAt < epochMs) return 'wait';
  return payable > 0 ? 'close' : 'roll';
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
