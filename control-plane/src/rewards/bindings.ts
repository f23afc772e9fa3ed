// Node → owner bindings: the pure verdict and the SQLite store.
import { getAddress, type Address } from 'viem';
import type { BindingBody, Envelope } from '@meshchain/protocol';
import type { Db } from '../store/db.ts';

export interface Binding {
  nodeId: string;
  owner: Address;
  boundAt: number;
  receivedAt: number;
}

export type BindingVerdict =
  | { status: 'recorded' }
  | { status: 'unchanged' }
  | { status: 'stale'; reason: string }
  | { status: 'refused'; reason: string };

/**
 * Judges a verified binding (signature, sender and schema are already checked by the link) against the
 * stored one: last writer wins on `boundAt`; a tie keeps the stored owner; a binding dated further in the
 * future than the clock tolerance is refused, since it would win over every later rebinding.
 */
export function judgeBinding(
  current: { owner: string; boundAt: number } | null,
  body: BindingBody,
  now: number,
  maxSkewMs: number,
): BindingVerdict {
  if (body.boundAt > now + maxSkewMs) {
    return { status: 'refused', reason: `boundAt ${new Date(body.boundAt).toISOString()} is in the future (beyond ${maxSkewMs} ms of clock skew)` };
  }
  if (!current) return { status: 'recorded' };
  const sameOwner = current.owner.toLowerCase() === body.owner.toLowerCase();
  if (body.boundAt === current.boundAt) {
    return sameOwner ? { status: 'unchanged' } : { status: 'stale', reason: `a binding to ${current.owner} with the same boundAt is already recorded` };
  }
  if (body.boundAt < current.boundAt) return { status: 'stale', reason: `older than the recorded binding to ${current.owner}` };
  return { status: 'recorded' };
}

interface BindingRow {
  node_id: string;
  owner: string;
  bound_at: number;
  received_at: number;
}

const fromRow = (row: BindingRow): Binding => ({ nodeId: row.node_id, owner: getAddress(row.owner), boundAt: row.bound_at, receivedAt: row.received_at });

/** The bindings table; owners are stored EIP-55 checksummed. */
export class BindingStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  /** Records a verified binding envelope if it wins; one transaction. */
  record(nodeId: string, envelope: Envelope<'binding'>, options: { now?: number; maxSkewMs: number }): BindingVerdict {
    const now = options.now ?? Date.now();
    return this.#db.transaction((): BindingVerdict => {
      const current = this.get(nodeId);
      const verdict = judgeBinding(current, envelope.body, now, options.maxSkewMs);
      if (verdict.status !== 'recorded') return verdict;
      this.#db
        .prepare(
          `INSERT INTO node_bindings (node_id, owner, bound_at, message_id, envelope, received_at) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (node_id) DO UPDATE SET owner = excluded.owner, bound_at = excluded.bound_at,
             message_id = excluded.message_id, envelope = excluded.envelope, received_at = excluded.received_at`,
        )
        .run(nodeId, getAddress(envelope.body.owner), envelope.body.boundAt, envelope.id, JSON.stringify(envelope), now);
      return verdict;
    })();
  }

  get(nodeId: string): Binding | null {
    const row = this.#db.prepare('SELECT node_id, owner, bound_at, received_at FROM node_bindings WHERE node_id = ?').get(nodeId) as BindingRow | undefined;
    return row ? fromRow(row) : null;
  }

  /** Nodes bound to an owner. */
  nodesOf(owner: Address): Binding[] {
    return (this.#db.prepare('SELECT node_id, owner, bound_at, received_at FROM node_bindings WHERE owner = ? ORDER BY node_id').all(getAddress(owner)) as BindingRow[]).map(fromRow);
  }

  list(): Binding[] {
    return (this.#db.prepare('SELECT node_id, owner, bound_at, received_at FROM node_bindings ORDER BY node_id').all() as BindingRow[]).map(fromRow);
  }
}
