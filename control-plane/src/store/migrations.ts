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
  {
    version: 2,
    name: 'rewards: node bindings, contributions, epochs, per-epoch earnings',
    sql: `
      -- A node's signed binding to the EVM address its rewards go to; last writer wins on bound_at.
      CREATE TABLE node_bindings (
        node_id     TEXT PRIMARY KEY,
        owner       TEXT NOT NULL,
        bound_at    INTEGER NOT NULL,
        message_id  TEXT NOT NULL,
        envelope    TEXT NOT NULL,
        received_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX node_bindings_owner ON node_bindings (owner);

      -- Epochs: one 'open'; then closed -> posting -> posted. Amounts are decimal wei strings.
      CREATE TABLE reward_epochs (
        epoch              INTEGER PRIMARY KEY CHECK (epoch >= 1),
        state              TEXT NOT NULL CHECK (state IN ('open', 'closed', 'posting', 'posted')),
        opened_at          INTEGER NOT NULL,
        closed_at          INTEGER,
        wei_per_unit       TEXT,
        units              TEXT,
        total_cumulative   TEXT,
        earnings_root      TEXT,
        contributions_root TEXT,
        owners             INTEGER,
        contributions      INTEGER,
        earnings_tree      TEXT,
        contributions_tree TEXT,
        tx_hash            TEXT,
        tx_nonce           INTEGER,
        tx_raw             TEXT,
        tx_sent_at         INTEGER,
        attempts           INTEGER NOT NULL DEFAULT 0,
        next_attempt_at    INTEGER NOT NULL DEFAULT 0,
        last_error         TEXT,
        posted_at          INTEGER,
        posted_block       INTEGER,
        gas_used           INTEGER
      ) STRICT;
      CREATE UNIQUE INDEX reward_epochs_one_open ON reward_epochs (state) WHERE state = 'open';

      -- Every owner's cumulative earnings as of each closed epoch (the leaves of its earnings tree).
      CREATE TABLE reward_earnings (
        epoch       INTEGER NOT NULL REFERENCES reward_epochs (epoch),
        owner       TEXT NOT NULL,
        cumulative  TEXT NOT NULL,
        epoch_units TEXT NOT NULL,
        leaf_index  INTEGER NOT NULL,
        PRIMARY KEY (epoch, owner)
      ) STRICT;
      CREATE INDEX reward_earnings_owner ON reward_earnings (owner, epoch);

      -- One row per accepted shard. owner is null while the node is unbound; epoch moves forward until
      -- an owner is known; leaf_index is set when the epoch closes.
      CREATE TABLE contributions (
        job_id         TEXT NOT NULL,
        shard_index    INTEGER NOT NULL,
        node_id        TEXT NOT NULL,
        owner          TEXT,
        units          INTEGER NOT NULL CHECK (units >= 0),
        prompt_tokens  INTEGER NOT NULL,
        generated_tokens INTEGER NOT NULL,
        model_sha256   TEXT NOT NULL,
        result_id      TEXT NOT NULL,
        epoch          INTEGER NOT NULL,
        forfeited      INTEGER NOT NULL DEFAULT 0 CHECK (forfeited IN (0, 1)),
        forfeit_reason TEXT,
        leaf_index     INTEGER,
        recorded_at    INTEGER NOT NULL,
        PRIMARY KEY (job_id, shard_index)
      ) STRICT;
      CREATE INDEX contributions_epoch ON contributions (epoch);
      CREATE INDEX contributions_node ON contributions (node_id, epoch);
      CREATE INDEX contributions_owner ON contributions (owner, epoch);
    `,
  },
  {
    version: 3,
    name: 'node telemetry; indexes for per-job and active-lease queries',
    sql: `
      ALTER TABLE nodes ADD COLUMN telemetry TEXT;
      ALTER TABLE nodes ADD COLUMN telemetry_at INTEGER NOT NULL DEFAULT 0;

      -- The last hour of every node's samples (pruned as new ones arrive).
      CREATE TABLE node_telemetry (
        node_id TEXT NOT NULL,
        at      INTEGER NOT NULL,
        sample  TEXT NOT NULL,
        PRIMARY KEY (node_id, at)
      ) STRICT;

      -- "Is this job finished?" after every accepted result: a range scan over
      -- the job's unfinished shards, not a count over all of them.
      CREATE INDEX shards_job_state ON shards (job_id, state);
      -- The sweeper and placement read active leases only; the table keeps every lease ever issued.
      CREATE INDEX leases_active ON leases (state, until);
    `,
  },
  {
    version: 4,
    name: 'trust: per-node reputation tracks and a spot-check record for every accepted result',
    sql: `
      CREATE TABLE node_trust (
        node_id        TEXT PRIMARY KEY,
        streak         INTEGER NOT NULL DEFAULT 0,
        passes         INTEGER NOT NULL DEFAULT 0,
        failures       INTEGER NOT NULL DEFAULT 0,
        unchecked      INTEGER NOT NULL DEFAULT 0,
        quarantined    INTEGER NOT NULL DEFAULT 0,
        quarantined_at INTEGER,
        reason         TEXT
      ) STRICT;

      -- One row per accepted result: the sampling rate in force when it arrived
      -- (for detection probabilities), and the spot check's outcome if sampled.
      CREATE TABLE checks (
        result_id      TEXT PRIMARY KEY,
        job_id         TEXT NOT NULL,
        shard_id       TEXT NOT NULL,
        node_id        TEXT NOT NULL,
        rate           REAL NOT NULL,
        status         TEXT NOT NULL CHECK (status IN ('unchecked', 'pending', 'passed', 'failed', 'error')),
        reason         TEXT,
        checked_tokens INTEGER,
        max_gap        REAL,
        ms             REAL,
        created_at     INTEGER NOT NULL,
        finished_at    INTEGER
      ) STRICT;
      CREATE INDEX checks_job ON checks (job_id, status);
      CREATE INDEX checks_pending ON checks (status, created_at);
    `,
  },
  {
    version: 5,
    name: 'OTA: release artifacts and signed release manifests',
    // IF NOT EXISTS: for a while this entry was committed as a second version 4, so a database
    // made then already has these tables at user_version 4.
    sql: `
      -- Release artifacts (agent tarballs, RAUC bundles), content-addressed; files under artifacts/<sha256>.
      CREATE TABLE IF NOT EXISTS release_artifacts (
        sha256     TEXT PRIMARY KEY,
        size       INTEGER NOT NULL CHECK (size > 0),
        created_at INTEGER NOT NULL
      ) STRICT;

      -- Signed release manifests. id = sha256 of the canonical manifest; signed = { manifest, publicKey, signature }.
      CREATE TABLE IF NOT EXISTS releases (
        id              TEXT PRIMARY KEY,
        kind            TEXT NOT NULL CHECK (kind IN ('app', 'system')),
        version         TEXT NOT NULL,
        compatibility   TEXT NOT NULL,
        artifact_sha256 TEXT NOT NULL REFERENCES release_artifacts (sha256),
        artifact_size   INTEGER NOT NULL,
        rollback        INTEGER NOT NULL CHECK (rollback IN (0, 1)),
        from_versions   TEXT NOT NULL,
        publisher_key   TEXT NOT NULL,
        signed          TEXT NOT NULL,
        created_at      INTEGER NOT NULL,
        registered_at   INTEGER NOT NULL,
        UNIQUE (kind, compatibility, version)
      ) STRICT;
      CREATE INDEX IF NOT EXISTS releases_registered ON releases (registered_at);
    `,
  },
  {
    version: 6,
    name: 'rollouts: staged OTA rollouts, per-device update states, status reports, device pins and tags',
    sql: `
      -- spec = the planner's RolloutSpec (stages, bake, concurrency, abort threshold, selection, exclusions) as JSON.
      CREATE TABLE rollouts (
        id          TEXT PRIMARY KEY,
        release_id  TEXT NOT NULL REFERENCES releases (id),
        spec        TEXT NOT NULL,
        force       INTEGER NOT NULL DEFAULT 0 CHECK (force IN (0, 1)),
        status      TEXT NOT NULL CHECK (status IN ('running', 'paused', 'completed', 'aborted')),
        stage       INTEGER NOT NULL DEFAULT 0,
        reason      TEXT,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        finished_at INTEGER
      ) STRICT;
      CREATE INDEX rollouts_status ON rollouts (status, created_at);

      -- One row per device a rollout offered its release to; stage = the stage it was offered in.
      CREATE TABLE rollout_devices (
        rollout_id   TEXT NOT NULL REFERENCES rollouts (id),
        node_id      TEXT NOT NULL,
        stage        INTEGER NOT NULL,
        state        TEXT NOT NULL CHECK (state IN ('offered', 'downloading', 'installing', 'installed', 'healthy', 'failed', 'rolled_back')),
        since        INTEGER NOT NULL,
        offered_at   INTEGER NOT NULL,
        from_version TEXT,
        version      TEXT,
        bytes        INTEGER NOT NULL DEFAULT 0,
        reason       TEXT,
        detail       TEXT,
        PRIMARY KEY (rollout_id, node_id)
      ) STRICT;

      -- Every status report as received, once per envelope id (redeliveries are ignored).
      CREATE TABLE rollout_reports (
        message_id  TEXT PRIMARY KEY,
        rollout_id  TEXT,
        node_id     TEXT NOT NULL,
        state       TEXT NOT NULL,
        body        TEXT NOT NULL,
        received_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX rollout_reports_node ON rollout_reports (rollout_id, node_id, received_at);

      -- Operator settings per device: pinned to a release, excluded from every rollout, tags for --select.
      CREATE TABLE device_ota (
        node_id        TEXT PRIMARY KEY,
        pinned_release TEXT REFERENCES releases (id),
        excluded       INTEGER NOT NULL DEFAULT 0 CHECK (excluded IN (0, 1)),
        compatibility  TEXT,
        tags           TEXT NOT NULL DEFAULT '{}',
        updated_at     INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 7,
    name: 'workloads: jobs without a model (synthetic); model_sha256 becomes nullable',
    // SQLite cannot drop NOT NULL in place: rebuild jobs under the same name. Deferred foreign keys
    // let shards point at the old rows while the new table is filled; they are checked at commit.
    sql: `
      PRAGMA defer_foreign_keys = ON;
      CREATE TEMP TABLE jobs_v6 AS SELECT * FROM jobs;
      DROP TABLE jobs;
      CREATE TABLE jobs (
        id           TEXT PRIMARY KEY,
        workload     TEXT NOT NULL,
        model_sha256 TEXT REFERENCES models (sha256),
        settings     TEXT NOT NULL,
        shard_size   INTEGER NOT NULL,
        input_count  INTEGER NOT NULL,
        shard_count  INTEGER NOT NULL,
        state        TEXT NOT NULL CHECK (state IN ('running', 'completed', 'failed', 'cancelled')),
        error        TEXT,
        created_at   INTEGER NOT NULL,
        completed_at INTEGER,
        manifest     TEXT,
        manifest_root TEXT,
        CHECK (model_sha256 IS NOT NULL OR workload != 'infer')
      ) STRICT;
      INSERT INTO jobs (id, workload, model_sha256, settings, shard_size, input_count, shard_count, state, error, created_at, completed_at, manifest, manifest_root)
        SELECT id, workload, model_sha256, settings, shard_size, input_count, shard_count, state, error, created_at, completed_at, manifest, manifest_root FROM jobs_v6;
      DROP TABLE jobs_v6;
      CREATE INDEX jobs_created ON jobs (created_at);
    `,
  },
  {
    version: 8,
    name: 'scheduling: job priorities, speculative leases, lease progress',
    sql: `
      -- Fair share: a job's share of free slots is proportional to its priority.
      ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 10;
      -- A second live lease of a leased shard, run because the first straggled.
      ALTER TABLE leases ADD COLUMN speculative INTEGER NOT NULL DEFAULT 0;
      -- Last progress report from the holder (extends until, up to a maximum lease age).
      ALTER TABLE leases ADD COLUMN progress_at INTEGER;
      CREATE INDEX leases_shard_state ON leases (shard_id, state);
    `,
  },
  {
    version: 9,
    name: 'trust: checks delegated to validator nodes, their verdicts and the audits of those verdicts',
    sql: `
      -- The validator node a pending check was handed to (NULL: the control plane's own validator),
      -- the task (its id travels as the assignment's leaseId) and its deadline.
      ALTER TABLE checks ADD COLUMN validator_id TEXT;
      ALTER TABLE checks ADD COLUMN task_id TEXT;
      ALTER TABLE checks ADD COLUMN task_until INTEGER;
      -- The validator node's signed verdict, and whether the control plane re-checked it.
      ALTER TABLE checks ADD COLUMN claim TEXT CHECK (claim IN ('pass', 'fail'));
      ALTER TABLE checks ADD COLUMN claim_reason TEXT;
      ALTER TABLE checks ADD COLUMN audit TEXT CHECK (audit IN ('pending', 'agreed', 'disagreed', 'error'));
      ALTER TABLE checks ADD COLUMN audit_rate REAL;
      CREATE INDEX checks_validator ON checks (validator_id, status);
    `,
  },
  {
    version: 10,
    name: 'scheduling: queued shards of a job read in input order from an index',
    sql: `
      -- A scheduling pass reads the first queued shards of each running job, as many as there are free slots.
      CREATE INDEX shards_job_queue ON shards (job_id, state, idx);
    `,
  },
];
