import { sealMessage, topicFor, type Envelope, type ResultBody, type Signer } from '@meshchain/protocol';
import type { Db } from '../store/db.ts';

export interface OutboxEntry {
  id: string;
  topic: string;
  envelope: Envelope<'result'>;
  shardId: string;
  leaseId: string;
  createdAt: number;
  attempts: number;
}

interface OutboxRow {
  id: string;
  topic: string;
  body: string;
  envelope: string;
  shard_id: string;
  lease_id: string;
  created_at: number;
  attempts: number;
}

/**
 * Signed results waiting for the control plane's acknowledgement. A result
 * is written here before it is first published and deleted only when an ack
 * for its lease arrives; until then it is re-sent after each ack timeout.
 */
export class Outbox {
  readonly #db: Db;
  readonly #signer: Signer;
  readonly #nodeId: string;

  constructor(db: Db, signer: Signer, nodeId: string) {
    this.#db = db;
    this.#signer = signer;
    this.#nodeId = nodeId;
  }

  /** Seals and stores a result. Call inside the transaction that finishes the assignment. */
  addResult(body: ResultBody, now = Date.now()): Envelope<'result'> {
    const envelope = sealMessage('result', body, this.#signer, { now });
    this.#db
      .prepare(
        `INSERT INTO outbox (id, kind, topic, body, envelope, shard_id, lease_id, created_at, attempts, next_attempt_at)
         VALUES (?, 'result', ?, ?, ?, ?, ?, ?, 0, 0)`,
      )
      .run(envelope.id, topicFor('result', this.#nodeId), JSON.stringify(body), JSON.stringify(envelope), body.shardId, body.leaseId, now);
    return envelope;
  }

  /** Entries due for (re-)sending. Envelopes older than `resealAfterMs` are signed afresh, so a long outage does not make them stale. */
  due(now: number, resealAfterMs: number): OutboxEntry[] {
    const rows = this.#db.prepare('SELECT * FROM outbox WHERE next_attempt_at <= ? ORDER BY created_at').all(now) as OutboxRow[];
    return rows.map((row) => {
      let envelope = JSON.parse(row.envelope) as Envelope<'result'>;
      if (now - envelope.ts > resealAfterMs) {
        envelope = sealMessage('result', JSON.parse(row.body) as ResultBody, this.#signer, { now });
        this.#db.prepare('UPDATE outbox SET envelope = ? WHERE id = ?').run(JSON.stringify(envelope), row.id);
      }
      return {
        id: row.id,
        topic: row.topic,
        envelope,
        shardId: row.shard_id,
        leaseId: row.lease_id,
        createdAt: row.created_at,
        attempts: row.attempts,
      };
    });
  }

  /** Records a send; the entry comes due again after `retryAfterMs` unless acknowledged. */
  markSent(id: string, now: number, retryAfterMs: number): void {
    this.#db.prepare('UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?').run(now + retryAfterMs, id);
  }

  /** Deletes the result of a lease on acknowledgement. Returns false when nothing was waiting. */
  acknowledge(leaseId: string): boolean {
    return this.#db.prepare('DELETE FROM outbox WHERE lease_id = ?').run(leaseId).changes > 0;
  }

  /** Makes every entry due now (after a reconnect). */
  resetSchedule(): void {
    this.#db.prepare('UPDATE outbox SET next_attempt_at = 0').run();
  }

  size(): number {
    return (this.#db.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number }).n;
  }
}
