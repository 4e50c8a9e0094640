/**
 * Versioned schema migrations, each run once in order, under an advisory lock so that many
 * processes starting together migrate once. `{schema}` is replaced by the quoted schema name.
 * A released migration is never edited: changes go in a new one.
 */
export const migrations: readonly string[] = [
  // 1: jobs, worker identities, schedule slots.
  `
  CREATE TABLE {schema}.jobs (
    id text PRIMARY KEY,
    queue text NOT NULL,
    name text NOT NULL,
    payload text NOT NULL,
    state text NOT NULL,
    priority integer NOT NULL,
    attempt integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL,
    run_at bigint NOT NULL,
    created_at bigint NOT NULL,
    started_at bigint,
    finished_at bigint,
    worker_id text,
    lease_until bigint,
    cancel_requested boolean NOT NULL DEFAULT false,
    unique_key text,
    rate_key text,
    rate_limit integer,
    rate_per bigint,
    concurrency_key text,
    concurrency_limit integer,
    timeout_ms bigint,
    result text,
    error text,
    progress text
  );
  CREATE INDEX jobs_claim ON {schema}.jobs (queue, priority DESC, run_at, id) WHERE state IN ('scheduled', 'queued', 'retrying');
  CREATE INDEX jobs_lease ON {schema}.jobs (lease_until) WHERE state IN ('running', 'cancelling');
  CREATE INDEX jobs_worker ON {schema}.jobs (worker_id) WHERE worker_id IS NOT NULL;
  CREATE UNIQUE INDEX jobs_unique ON {schema}.jobs (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('scheduled', 'queued', 'running', 'cancelling', 'retrying');
  CREATE INDEX jobs_rate ON {schema}.jobs (rate_key, started_at) WHERE rate_key IS NOT NULL;
  CREATE INDEX jobs_concurrency ON {schema}.jobs (concurrency_key) WHERE concurrency_key IS NOT NULL AND state IN ('running', 'cancelling');
  CREATE INDEX jobs_finished ON {schema}.jobs (finished_at) WHERE state IN ('succeeded', 'failed', 'cancelled');
  CREATE INDEX jobs_state ON {schema}.jobs (state, id);
  CREATE TABLE {schema}.workers (id text PRIMARY KEY, service text NOT NULL, heartbeat_at bigint NOT NULL);
  CREATE TABLE {schema}.schedule_slots (
    schedule text NOT NULL,
    slot bigint NOT NULL,
    job_id text,
    fired_at bigint NOT NULL,
    PRIMARY KEY (schedule, slot)
  );
  `,
]
