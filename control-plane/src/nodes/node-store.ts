import type { CapabilitiesBody, PresenceBody, TelemetryBody } from '@meshchain/protocol';
import type { Db } from '../store/db.ts';
import { withStatementCache } from '../store/statement-cache.ts';

export interface NodeRecord {
  id: string;
  publicKey: string;
  presence: 'online' | 'offline';
  presenceSince: number;
  capabilities: CapabilitiesBody | null;
  firstSeen: number;
  lastSeen: number;
  shardsCompleted: number;
  shardsRejected: number;
  tokensGenerated: number;
  computeMs: number;
  /** The latest health sample, and when it was taken. */
  telemetry: TelemetryBody | null;
  telemetryAt: number;
}

/** How long samples are kept per node. */
export const TELEMETRY_HISTORY_MS = 60 * 60_000;
/** An overheating flag older than this no longer keeps work away (the node stopped reporting). */
export const TELEMETRY_FRESH_MS = 5 * 60_000;

interface NodeRow {
  id: string;
  public_key: string;
  presence: 'online' | 'offline';
  presence_since: number;
  capabilities: string | null;
  capabilities_ts: number;
  first_seen: number;
  last_seen: number;
  shards_completed: number;
  shards_rejected: number;
  tokens_generated: number;
  compute_ms: number;
  telemetry: string | null;
  telemetry_at: number;
}

const fromRow = (row: NodeRow): NodeRecord => ({
  id: row.id,
  publicKey: row.public_key,
  presence: row.presence,
  presenceSince: row.presence_since,
  capabilities: row.capabilities ? (JSON.parse(row.capabilities) as CapabilitiesBody) : null,
  firstSeen: row.first_seen,
  lastSeen: row.last_seen,
  shardsCompleted: row.shards_completed,
  shardsRejected: row.shards_rejected,
  tokensGenerated: row.tokens_generated,
  computeMs: row.compute_ms,
  telemetry: row.telemetry ? (JSON.parse(row.telemetry) as TelemetryBody) : null,
  telemetryAt: row.telemetry_at,
});

/** The fleet as the control plane knows it. Presence and capabilities are last-writer-wins on their timestamps. */
export class NodeStore {
  readonly #db: Db;
  /** Per node: the stored capabilities and telemetry text, and what it parsed to. */
  readonly #parsed = new Map<string, { capabilities: string | null; telemetry: string | null; record: Pick<NodeRecord, 'capabilities' | 'telemetry'> }>();

  constructor(db: Db) {
    this.#db = withStatementCache(db);
  }

  #touch(nodeId: string, publicKey: string, now: number): void {
    this.#db
      .prepare(
        `INSERT INTO nodes (id, public_key, first_seen, last_seen) VALUES (?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)`,
      )
      .run(nodeId, publicKey, now, now);
  }

  /**
   * Presence is ordered by the session it belongs to (`since`): a later
   * session wins, and within one session `offline` wins, so a node's will
   * always beats the online message of the same connection. Returns true
   * when the stored state changed.
   */
  recordPresence(nodeId: string, publicKey: string, presence: PresenceBody, now = Date.now()): boolean {
    return this.#db.transaction(() => {
      this.#touch(nodeId, publicKey, now);
      const info = this.#db
        .prepare(
          `UPDATE nodes SET presence = @state, presence_since = @since
           WHERE id = @id AND (presence_since < @since OR (presence_since = @since AND presence = 'online' AND @state = 'offline'))`,
        )
        .run({ state: presence.state, since: presence.since, id: nodeId });
      return info.changes > 0;
    })();
  }

  recordCapabilities(nodeId: string, publicKey: string, capabilities: CapabilitiesBody, sentAt: number, now = Date.now()): boolean {
    return this.#db.transaction(() => {
      this.#touch(nodeId, publicKey, now);
      const info = this.#db
        .prepare(`UPDATE nodes SET capabilities = ?, capabilities_ts = ? WHERE id = ? AND capabilities_ts <= ?`)
        .run(JSON.stringify(capabilities), sentAt, nodeId, sentAt);
      return info.changes > 0;
    })();
  }

  /** Keeps the latest sample and an hour of history. Returns false for a sample older than the latest. */
  recordTelemetry(nodeId: string, publicKey: string, sample: TelemetryBody, now = Date.now()): boolean {
    return this.#db.transaction(() => {
      this.#touch(nodeId, publicKey, now);
      const info = this.#db
        .prepare(`UPDATE nodes SET telemetry = ?, telemetry_at = ? WHERE id = ? AND telemetry_at < ?`)
        .run(JSON.stringify(sample), sample.at, nodeId, sample.at);
      if (info.changes === 0) return false;
      this.#db.prepare(`INSERT OR IGNORE INTO node_telemetry (node_id, at, sample) VALUES (?, ?, ?)`).run(nodeId, sample.at, JSON.stringify(sample));
      this.#db.prepare(`DELETE FROM node_telemetry WHERE node_id = ? AND at < ?`).run(nodeId, sample.at - TELEMETRY_HISTORY_MS);
      return true;
    })();
  }

  telemetryHistory(nodeId: string): TelemetryBody[] {
    const rows = this.#db.prepare(`SELECT sample FROM node_telemetry WHERE node_id = ? ORDER BY at`).all(nodeId) as { sample: string }[];
    return rows.map((r) => JSON.parse(r.sample) as TelemetryBody);
  }

  recordWork(nodeId: string, outcome: { accepted: boolean; tokens: number; computeMs: number }): void {
    if (outcome.accepted) {
      this.#db
        .prepare(
          `UPDATE nodes SET shards_completed = shards_completed + 1, tokens_generated = tokens_generated + ?,
           compute_ms = compute_ms + ? WHERE id = ?`,
        )
        .run(outcome.tokens, outcome.computeMs, nodeId);
    } else {
      this.#db.prepare(`UPDATE nodes SET shards_rejected = shards_rejected + 1 WHERE id = ?`).run(nodeId);
    }
  }

  get(nodeId: string): NodeRecord | null {
    const row = this.#db.prepare('SELECT * FROM nodes WHERE id = ?').get(nodeId) as NodeRow | undefined;
    return row ? fromRow(row) : null;
  }

  #parsedOnce(row: NodeRow): NodeRecord {
    let seen = this.#parsed.get(row.id);
    if (!seen || seen.capabilities !== row.capabilities || seen.telemetry !== row.telemetry) {
      const { capabilities, telemetry } = fromRow(row);
      seen = { capabilities: row.capabilities, telemetry: row.telemetry, record: { capabilities, telemetry } };
      this.#parsed.set(row.id, seen);
    }
    return { ...fromRow({ ...row, capabilities: null, telemetry: null }), ...seen.record };
  }

  list(): NodeRecord[] {
    return (this.#db.prepare('SELECT * FROM nodes ORDER BY first_seen, id').all() as NodeRow[]).map(fromRow);
  }

  /**
   * Online nodes that announced they can run `infer` and are not (recently
   * reported) overheating. Read on every scheduling pass: the parsed
   * capabilities and telemetry of each node are kept while their stored text
   * is unchanged, so treat the records as read-only.
   */
  workers(now = Date.now()): NodeRecord[] {
    const rows = this.#db.prepare(`SELECT * FROM nodes WHERE presence = 'online' ORDER BY first_seen, id`).all() as NodeRow[];
    return rows.map((row) => this.#parsedOnce(row)).filter(
      (n) =>
        n.presence === 'online' &&
        n.capabilities?.roles.includes('worker') &&
        n.capabilities.runtimes.length > 0 &&
        !isHot(n, now),
    );
  }
}

function isHot(node: NodeRecord, now: number): boolean {
  // Freshness on the control plane's clock: the sample's own time is the node's.
  return Boolean(node.telemetry?.overheating) && now - node.lastSeen < TELEMETRY_FRESH_MS;
}
