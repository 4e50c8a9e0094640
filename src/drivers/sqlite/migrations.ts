/**
 * Versioned schema migrations, applied in order inside one write transaction; `PRAGMA user_version`
 * records the last applied. A released migration is never edited: changes go in a new one.
 */
export const migrations: readonly string[] = [
  // 1: jobs, worker identities, schedule slots.
  `
  CREATE TABLE afterwork_jobs (
    id TEXT PRIMARY KEY,
    queue TEXT NOT NULL,
    name TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    priority INTEGER NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    worker_id TEXT,
    lease_until INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    unique_key TEXT,
    rate_key TEXT,
    rate_limit INTEGER,
    rate_per INTEGER,
    concurrency_key TEXT,
    concurrency_limit INTEGER,
    timeout_ms INTEGER,
    result TEXT,
    error TEXT,
    progress TEXT
  );
  -- The claim walks this index in claim order; only claimable rows are in it, so its cost stays
  -- flat however many finished jobs the table holds.
  CREATE INDEX afterwork_jobs_claim ON afterwork_jobs (queue, priority DESC, run_at, id)
    WHERE state IN ('scheduled', 'queued', 'retrying');
  CREATE INDEX afterwork_jobs_lease ON afterwork_jobs (lease_until) WHERE state IN ('running', 'cancelling');
  CREATE INDEX afterwork_jobs_worker ON afterwork_jobs (worker_id) WHERE worker_id IS NOT NULL;
  -- Unique keys bind live jobs only: a finished job frees its key.
  CREATE UNIQUE INDEX afterwork_jobs_unique ON afterwork_jobs (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('scheduled', 'queued', 'running', 'cancelling', 'retrying');
  CREATE INDEX afterwork_jobs_rate ON afterwork_jobs (rate_key, started_at) WHERE rate_key IS NOT NULL;
  CREATE INDEX afterwork_jobs_concurrency ON afterwork_jobs (concurrency_key)
    WHERE concurrency_key IS NOT NULL AND state IN ('running', 'cancelling');
  CREATE INDEX afterwork_jobs_finished ON afterwork_jobs (finished_at) WHERE state IN ('succeeded', 'failed', 'cancelled');
  CREATE INDEX afterwork_jobs_state ON afterwork_jobs (state, id);
  CREATE TABLE afterwork_workers (
    id TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    heartbeat_at INTEGER NOT NULL
  );
  CREATE TABLE afterwork_schedule_slots (
    schedule TEXT NOT NULL,
    slot INTEGER NOT NULL,
    job_id TEXT,
    fired_at INTEGER NOT NULL,
    PRIMARY KEY (schedule, slot)
  ) WITHOUT ROWID;
  `,
  // 2: fewer index writes per job (each claim and completion touched every index). Listing by
  // state keeps an index for the states people look for; rescuing one worker's jobs scans the
  // lease index instead of its own.
  `
  DROP INDEX afterwork_jobs_worker;
  DROP INDEX afterwork_jobs_state;
  CREATE INDEX afterwork_jobs_attention ON afterwork_jobs (state, id) WHERE state IN ('failed', 'cancelled', 'retrying', 'scheduled');
  `,
]
