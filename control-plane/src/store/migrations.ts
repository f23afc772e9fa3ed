/**
 * Versioned schema migrations. Append only: a released migration is never
 * edited; a change is a new entry. `PRAGMA user_version` records the level.
 */
export const MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'nodes, models, jobs, shards, leases, results, events',
    sql: `
      CREATE TABLE nodes (
        id               TEXT PRIMARY KEY,
        public_key       TEXT NOT NULL,
        presence         TEXT NOT NULL DEFAULT 'offline' CHECK (presence IN ('online', 'offline')),
        presence_since   INTEGER NOT NULL DEFAULT 0,
        capabilities     TEXT,
        capabilities_ts  INTEGER NOT NULL DEFAULT 0,
        first_seen       INTEGER NOT NULL,
        last_seen        INTEGER NOT NULL,
        shards_completed INTEGER NOT NULL DEFAULT 0,
        shards_rejected  INTEGER NOT NULL DEFAULT 0,
        tokens_generated INTEGER NOT NULL DEFAULT 0,
        compute_ms       REAL NOT NULL DEFAULT 0
      ) STRICT;

      CREATE TABLE models (
        sha256     TEXT PRIMARY KEY,
        size       INTEGER NOT NULL,
        name       TEXT,
        created_at INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE jobs (
        id           TEXT PRIMARY KEY,
        workload     TEXT NOT NULL,
        model_sha256 TEXT NOT NULL REFERENCES models (sha256),
        settings     TEXT NOT NULL,
        shard_size   INTEGER NOT NULL,
        input_count  INTEGER NOT NULL,
        shard_count  INTEGER NOT NULL,
        state        TEXT NOT NULL CHECK (state IN ('running', 'completed', 'failed', 'cancelled')),
        error        TEXT,
        created_at   INTEGER NOT NULL,
        completed_at INTEGER,
        manifest     TEXT,
        manifest_root TEXT
      ) STRICT;
      CREATE INDEX jobs_created ON jobs (created_at);

      CREATE TABLE shards (
        id              TEXT PRIMARY KEY,
        job_id          TEXT NOT NULL REFERENCES jobs (id),
        idx             INTEGER NOT NULL,
        inputs          TEXT NOT NULL,
        input_hash      TEXT NOT NULL,
        state           TEXT NOT NULL CHECK (state IN ('queued', 'leased', 'completed', 'failed')),
        lease_id        TEXT,
        node_id         TEXT,
        lease_until     INTEGER,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL DEFAULT 0,
        excluded_nodes  TEXT NOT NULL DEFAULT '[]',
        result_id       TEXT,
        result_hash     TEXT,
        completed_at    INTEGER,
        last_error      TEXT,
        UNIQUE (job_id, idx)
      ) STRICT;
      CREATE INDEX shards_queue ON shards (state, next_attempt_at);
      CREATE INDEX shards_lease ON shards (state, lease_until);

      CREATE TABLE leases (
        id        TEXT PRIMARY KEY,
        shard_id  TEXT NOT NULL REFERENCES shards (id),
        node_id   TEXT NOT NULL,
        issued_at INTEGER NOT NULL,
        until     INTEGER NOT NULL,
        state     TEXT NOT NULL CHECK (state IN ('active', 'completed', 'expired', 'handed_back', 'rejected', 'superseded'))
      ) STRICT;
      CREATE INDEX leases_shard ON leases (shard_id);
      CREATE INDEX leases_node ON leases (node_id, state);

      CREATE TABLE results (
        id          TEXT PRIMARY KEY,
        shard_id    TEXT NOT NULL,
        job_id      TEXT NOT NULL,
        node_id     TEXT NOT NULL,
        lease_id    TEXT NOT NULL,
        verdict     TEXT NOT NULL CHECK (verdict IN ('accepted', 'duplicate', 'rejected')),
        reason      TEXT,
        result_hash TEXT,
        envelope    TEXT NOT NULL,
        received_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX results_shard ON results (shard_id);

      CREATE TABLE events (
        id      INTEGER PRIMARY KEY,
        ts      INTEGER NOT NULL,
        kind    TEXT NOT NULL,
        job_id  TEXT,
        shard_id TEXT,
        node_id TEXT,
        detail  TEXT
      ) STRICT;
      CREATE INDEX events_job ON events (job_id);
    `,
  },
];
