import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { AgentError } from '../errors.ts';

export type Db = Database.Database;

/**
 * The agent's local state. A box can lose power at any moment, so commits
 * are fully synchronous: a result in the outbox survives a pulled plug.
 */
const MIGRATIONS: readonly { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE assignments (
        lease_id    TEXT PRIMARY KEY,
        shard_id    TEXT NOT NULL,
        job_id      TEXT NOT NULL,
        body        TEXT NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'handed_back', 'failed')),
        received_at INTEGER NOT NULL,
        finished_at INTEGER,
        error       TEXT
      ) STRICT;
      CREATE INDEX assignments_state ON assignments (state, received_at);

      CREATE TABLE outbox (
        id              TEXT PRIMARY KEY,
        kind            TEXT NOT NULL,
        topic           TEXT NOT NULL,
        body            TEXT NOT NULL,
        envelope        TEXT NOT NULL,
        shard_id        TEXT,
        lease_id        TEXT,
        created_at      INTEGER NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL DEFAULT 0
      ) STRICT;
      CREATE INDEX outbox_due ON outbox (next_attempt_at);

      CREATE TABLE work_log (
        lease_id    TEXT PRIMARY KEY,
        shard_id    TEXT NOT NULL,
        job_id      TEXT NOT NULL,
        status      TEXT NOT NULL,
        tokens      INTEGER NOT NULL,
        compute_ms  REAL NOT NULL,
        finished_at INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE models (
        sha256      TEXT PRIMARY KEY,
        size        INTEGER NOT NULL,
        last_used   INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 2,
    sql: `
      -- Compute units the control plane credited in its ack (rewards), shown as earnings on the page.
      ALTER TABLE work_log ADD COLUMN units INTEGER NOT NULL DEFAULT 0;
    `,
  },
];

export function openAgentDatabase(path: string): Db {
  mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  const current = db.pragma('user_version', { simple: true }) as number;
  const latest = MIGRATIONS.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new AgentError(`agent database schema v${current} is newer than this agent (v${latest})`, {
      details: 'an update was rolled back without its data; restore the data partition or upgrade the agent',
    });
  }
  for (const m of MIGRATIONS) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    })();
  }
  return db;
}
