// Rollouts in SQLite: the rollout rows, one row per device offered the release,
// every status report once, and the operator's per-device settings.
import { newId, type UpdateState, type UpdateStatusBody } from '@meshchain/protocol';
import { NotFoundError } from '../errors.ts';
import type { Db } from '../store/db.ts';
import type { DeviceUpdateState, RolloutSpec, RolloutState, RolloutStatus } from './planner.ts';

export interface RolloutRecord {
  id: string;
  releaseId: string;
  spec: RolloutSpec;
  force: boolean;
  status: RolloutStatus;
  stage: number;
  reason: string | null;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

export interface RolloutDevice {
  nodeId: string;
  stage: number;
  state: DeviceUpdateState;
  since: number;
  offeredAt: number;
  fromVersion: string | null;
  version: string | null;
  bytes: number;
  reason: string | null;
  detail: string | null;
}

export interface DeviceOtaSettings {
  nodeId: string;
  pinnedRelease: string | null;
  excluded: boolean;
  compatibility: string | null;
  tags: Record<string, string>;
}

interface RolloutRow {
  id: string;
  release_id: string;
  spec: string;
  force: number;
  status: RolloutStatus;
  stage: number;
  reason: string | null;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
}

interface DeviceRow {
  node_id: string;
  stage: number;
  state: DeviceUpdateState;
  since: number;
  offered_at: number;
  from_version: string | null;
  version: string | null;
  bytes: number;
  reason: string | null;
  detail: string | null;
}

const toRollout = (row: RolloutRow): RolloutRecord => ({
  id: row.id,
  releaseId: row.release_id,
  spec: JSON.parse(row.spec) as RolloutSpec,
  force: row.force === 1,
  status: row.status,
  stage: row.stage,
  reason: row.reason,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
  finishedAt: row.finished_at,
});

const toDevice = (row: DeviceRow): RolloutDevice => ({
  nodeId: row.node_id,
  stage: row.stage,
  state: row.state,
  since: row.since,
  offeredAt: row.offered_at,
  fromVersion: row.from_version,
  version: row.version,
  bytes: row.bytes,
  reason: row.reason,
  detail: row.detail,
});

/**
 * Report order: a device's state only moves forward. The first settled state
 * (healthy, failed, rolled back) is final, except that a box which failed and
 * then put its previous release back reports `rolled_back`, which is more precise.
 */
const RANK: Record<UpdateState, number> = { offered: 0, downloading: 1, installing: 2, installed: 3, failed: 4, healthy: 4, rolled_back: 5 };

export type ReportOutcome = 'applied' | 'duplicate' | 'stale' | 'unknown-rollout';

export class RolloutStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  createRollout(input: { releaseId: string; spec: RolloutSpec; force: boolean }, now = Date.now()): RolloutRecord {
    const id = newId('ro');
    this.#db
      .prepare(`INSERT INTO rollouts (id, release_id, spec, force, status, stage, created_at, updated_at) VALUES (?, ?, ?, ?, 'running', 0, ?, ?)`)
      .run(id, input.releaseId, JSON.stringify(input.spec), input.force ? 1 : 0, now, now);
    return this.getRollout(id);
  }

  findRollout(id: string): RolloutRecord | null {
    const row = this.#db.prepare('SELECT * FROM rollouts WHERE id = ?').get(id) as RolloutRow | undefined;
    return row ? toRollout(row) : null;
  }

  getRollout(id: string): RolloutRecord {
    const rollout = this.findRollout(id);
    if (!rollout) throw new NotFoundError(`rollout ${id}`, { details: 'list rollouts with `meshchain rollout list`' });
    return rollout;
  }

  /** Newest first. */
  listRollouts(limit = 100): RolloutRecord[] {
    return (this.#db.prepare('SELECT * FROM rollouts ORDER BY created_at DESC, id LIMIT ?').all(limit) as RolloutRow[]).map(toRollout);
  }

  /** Rollouts the runner plans for: running and paused (a paused one may still abort). */
  activeRollouts(): RolloutRecord[] {
    return (this.#db.prepare(`SELECT * FROM rollouts WHERE status IN ('running', 'paused') ORDER BY created_at, id`).all() as RolloutRow[]).map(toRollout);
  }

  /** A running or paused rollout of another release of the same kind touching the same fleet would race this one. */
  activeRolloutOf(releaseIds: readonly string[]): RolloutRecord | null {
    return this.activeRollouts().find((r) => releaseIds.includes(r.releaseId)) ?? null;
  }

  setState(id: string, state: Pick<RolloutState, 'status' | 'stage' | 'reason'>, now = Date.now()): void {
    const final = state.status === 'completed' || state.status === 'aborted';
    this.#db
      .prepare(`UPDATE rollouts SET status = ?, stage = ?, reason = ?, updated_at = ?, finished_at = CASE WHEN ? THEN COALESCE(finished_at, ?) ELSE NULL END WHERE id = ?`)
      .run(state.status, state.stage, state.reason, now, final ? 1 : 0, now, id);
  }

  devices(rolloutId: string): RolloutDevice[] {
    return (this.#db.prepare('SELECT * FROM rollout_devices WHERE rollout_id = ? ORDER BY offered_at, node_id').all(rolloutId) as DeviceRow[]).map(toDevice);
  }

  /** Records an offer; false when this device was already offered this rollout. */
  recordOffer(rolloutId: string, nodeId: string, stage: number, fromVersion: string | null, now = Date.now()): boolean {
    return (
      this.#db
        .prepare(
          `INSERT INTO rollout_devices (rollout_id, node_id, stage, state, since, offered_at, from_version) VALUES (?, ?, ?, 'offered', ?, ?, ?)
           ON CONFLICT (rollout_id, node_id) DO NOTHING`,
        )
        .run(rolloutId, nodeId, stage, now, now, fromVersion).changes > 0
    );
  }

  /** A device stuck in one step past the step timeout counts as failed. */
  timeOut(rolloutId: string, nodeId: string, from: DeviceUpdateState, now = Date.now()): void {
    this.#db
      .prepare(`UPDATE rollout_devices SET state = 'failed', since = ?, reason = 'timed-out', detail = ? WHERE rollout_id = ? AND node_id = ? AND state = ?`)
      .run(now, `no progress past "${from}" within the step timeout`, rolloutId, nodeId, from);
  }

  /** Marks an offer the box has not acted on as cancelled (the rollout stopped); its state stays `offered`. */
  cancelOffer(rolloutId: string, nodeId: string): void {
    this.#db.prepare(`UPDATE rollout_devices SET reason = 'cancelled', detail = 'the rollout was aborted before the box acted' WHERE rollout_id = ? AND node_id = ? AND state = 'offered'`).run(rolloutId, nodeId);
  }

  /**
   * Records one status report, idempotently: the envelope id is stored once
   * (a redelivery changes nothing) and the device's state only moves forward.
   */
  recordReport(messageId: string, nodeId: string, body: UpdateStatusBody, now = Date.now()): ReportOutcome {
    return this.#db.transaction((): ReportOutcome => {
      const inserted = this.#db
        .prepare(`INSERT INTO rollout_reports (message_id, rollout_id, node_id, state, body, received_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING`)
        .run(messageId, body.rolloutId, nodeId, body.state, JSON.stringify(body), now).changes;
      if (inserted === 0) return 'duplicate';
      this.#db
        .prepare(
          `INSERT INTO device_ota (node_id, compatibility, updated_at) VALUES (?, ?, ?)
           ON CONFLICT (node_id) DO UPDATE SET compatibility = excluded.compatibility, updated_at = excluded.updated_at`,
        )
        .run(nodeId, body.compatibility, now);
      if (body.rolloutId === null) return 'unknown-rollout';
      const row = this.#db.prepare('SELECT state FROM rollout_devices WHERE rollout_id = ? AND node_id = ?').get(body.rolloutId, nodeId) as { state: UpdateState } | undefined;
      if (!row) return 'unknown-rollout';
      const settled = RANK[row.state] >= RANK.failed;
      const forward = RANK[body.state] > RANK[row.state] && !(settled && row.state !== 'failed');
      if (!forward) {
        // Bytes may still grow while the state stays (a resumed download).
        this.#db.prepare('UPDATE rollout_devices SET bytes = MAX(bytes, ?) WHERE rollout_id = ? AND node_id = ?').run(body.bytes, body.rolloutId, nodeId);
        return 'stale';
      }
      this.#db
        .prepare(
          `UPDATE rollout_devices SET state = ?, since = ?, version = ?, from_version = COALESCE(from_version, ?), bytes = MAX(bytes, ?), reason = ?, detail = ?
           WHERE rollout_id = ? AND node_id = ?`,
        )
        .run(body.state, now, body.currentVersion, body.fromVersion, body.bytes, body.reason, body.detail, body.rolloutId, nodeId);
      return 'applied';
    })();
  }

  reports(rolloutId: string, nodeId?: string): { messageId: string; nodeId: string; state: UpdateState; body: UpdateStatusBody; receivedAt: number }[] {
    const rows = (
      nodeId === undefined
        ? this.#db.prepare('SELECT * FROM rollout_reports WHERE rollout_id = ? ORDER BY received_at, rowid').all(rolloutId)
        : this.#db.prepare('SELECT * FROM rollout_reports WHERE rollout_id = ? AND node_id = ? ORDER BY received_at, rowid').all(rolloutId, nodeId)
    ) as { message_id: string; node_id: string; state: UpdateState; body: string; received_at: number }[];
    return rows.map((r) => ({ messageId: r.message_id, nodeId: r.node_id, state: r.state, body: JSON.parse(r.body) as UpdateStatusBody, receivedAt: r.received_at }));
  }

  // ---- per-device operator settings ----

  deviceSettings(): Map<string, DeviceOtaSettings> {
    const rows = this.#db.prepare('SELECT * FROM device_ota').all() as { node_id: string; pinned_release: string | null; excluded: number; compatibility: string | null; tags: string }[];
    return new Map(rows.map((r) => [r.node_id, { nodeId: r.node_id, pinnedRelease: r.pinned_release, excluded: r.excluded === 1, compatibility: r.compatibility, tags: JSON.parse(r.tags) as Record<string, string> }]));
  }

  /** Pins a device to a release (null unpins), excludes it from every rollout, or sets its tags. */
  updateDevice(nodeId: string, change: { pinnedRelease?: string | null; excluded?: boolean; tags?: Record<string, string> }, now = Date.now()): DeviceOtaSettings {
    return this.#db.transaction(() => {
      this.#db.prepare(`INSERT INTO device_ota (node_id, updated_at) VALUES (?, ?) ON CONFLICT (node_id) DO NOTHING`).run(nodeId, now);
      if (change.pinnedRelease !== undefined) this.#db.prepare('UPDATE device_ota SET pinned_release = ?, updated_at = ? WHERE node_id = ?').run(change.pinnedRelease, now, nodeId);
      if (change.excluded !== undefined) this.#db.prepare('UPDATE device_ota SET excluded = ?, updated_at = ? WHERE node_id = ?').run(change.excluded ? 1 : 0, now, nodeId);
      if (change.tags !== undefined) this.#db.prepare('UPDATE device_ota SET tags = ?, updated_at = ? WHERE node_id = ?').run(JSON.stringify(change.tags), now, nodeId);
      const settings = this.deviceSettings().get(nodeId);
      if (!settings) throw new NotFoundError(`device ${nodeId}`);
      return settings;
    })();
  }
}
