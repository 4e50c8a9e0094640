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
  // 2: the claim of jobs without rate or concurrency keys as one autocommitted statement (issue 7).
  // It is a function for its SET clause: the candidates must be planned with enable_sort off, and
  // so without JIT (see claimBegin in queries.ts), while SET LOCAL would need a transaction, two
  // more round trips. It is planned afresh on each call (SQL functions are; force_custom_plan
  // keeps it so where PostgreSQL 18 caches their plans): a PL/pgSQL plan cached while the table
  // was empty scanned every row of a later bulk insert, in each claim. When a key is among the
  // first p_limit candidates it claims nothing and returns one row with keyed = true: those
  // limits are counted in the driver's claim transaction.
  `
  CREATE FUNCTION {schema}.claim_unkeyed(p_queue text, p_names text[], p_worker_id text, p_limit integer, p_lease bigint, p_now bigint)
  RETURNS TABLE (keyed boolean, id text, queue text, name text, payload text, state text, priority integer, attempt integer,
    max_attempts integer, run_at bigint, created_at bigint, started_at bigint, finished_at bigint, worker_id text,
    lease_until bigint, cancel_requested boolean, unique_key text, result text, error text, progress text, timeout_ms bigint)
  LANGUAGE sql VOLATILE SET enable_sort = off SET jit = off SET plan_cache_mode = force_custom_plan AS $$
    WITH n AS MATERIALIZED (SELECT coalesce(p_now, (extract(epoch from clock_timestamp()) * 1000)::bigint) AS now),
    c AS MATERIALIZED (
      SELECT j.id, j.rate_key IS NOT NULL OR j.concurrency_key IS NOT NULL AS keyed FROM {schema}.jobs j
      WHERE j.queue = p_queue AND j.state IN ('scheduled', 'queued', 'retrying') AND j.run_at <= (SELECT n.now FROM n)
        AND j.name = ANY (p_names)
      ORDER BY j.priority DESC, j.run_at, j.id LIMIT p_limit FOR UPDATE SKIP LOCKED),
    k AS (SELECT coalesce(bool_or(c.keyed), false) AS keyed FROM c),
    u AS (
      UPDATE {schema}.jobs j SET state = 'running', attempt = j.attempt + 1, started_at = n.now, worker_id = p_worker_id,
        lease_until = n.now + p_lease
      FROM c, n WHERE j.id = c.id AND NOT (SELECT k.keyed FROM k)
      RETURNING j.id, j.queue, j.name, j.payload, j.state, j.priority, j.attempt, j.max_attempts, j.run_at, j.created_at,
        j.started_at, j.finished_at, j.worker_id, j.lease_until, j.cancel_requested, j.unique_key, j.result, j.error,
        j.progress, j.timeout_ms)
    SELECT k.keyed, u.* FROM k LEFT JOIN u ON true ORDER BY u.priority DESC, u.run_at, u.id
  $$;
  `,
  // 3: the same claim (issue 7), cheaper per call in two ways.
  // - It commits without waiting for the WAL flush: the flush took 3-6 ms per commit on the bench VM,
  //   most of a pick-up and of a claim of 10. A claim lost in a crash before its flush leaves the job
  //   claimable again, as a crash while it runs does (delivery is at least once either way), and the
  //   job's outcome, a synchronous commit, flushes the claim before it, as the WAL is written in
  //   order. set_config(..., true) lasts to the end of the transaction, the autocommitted claim's own
  //   (a SET clause would be undone at function exit).
  // - It is PL/pgSQL with one generic plan per connection, made at its first call and again after
  //   each ANALYZE, instead of being parsed and planned at every call (0.3 ms of planning alone). A
  //   plan cached on a near-empty table must stay right after a bulk insert, so no choice may rest
  //   on statistics: with sorts, sequential scans, hash and merge joins disabled, the candidates can
  //   only be read by walking jobs_claim in claim order up to the limit, and the claimed rows only
  //   be updated through the primary key, one lookup per candidate.
  `
  CREATE OR REPLACE FUNCTION {schema}.claim_unkeyed(p_queue text, p_names text[], p_worker_id text, p_limit integer, p_lease bigint, p_now bigint)
  RETURNS TABLE (keyed boolean, id text, queue text, name text, payload text, state text, priority integer, attempt integer,
    max_attempts integer, run_at bigint, created_at bigint, started_at bigint, finished_at bigint, worker_id text,
    lease_until bigint, cancel_requested boolean, unique_key text, result text, error text, progress text, timeout_ms bigint)
  LANGUAGE plpgsql VOLATILE SET enable_sort = off SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off
    SET jit = off SET plan_cache_mode = force_generic_plan AS $$
  #variable_conflict use_column
  BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    RETURN QUERY
    WITH n AS MATERIALIZED (SELECT coalesce(p_now, (extract(epoch from clock_timestamp()) * 1000)::bigint) AS now),
    c AS MATERIALIZED (
      SELECT j.id, j.rate_key IS NOT NULL OR j.concurrency_key IS NOT NULL AS keyed FROM {schema}.jobs j
      WHERE j.queue = p_queue AND j.state IN ('scheduled', 'queued', 'retrying') AND j.run_at <= (SELECT n.now FROM n)
        AND j.name = ANY (p_names)
      ORDER BY j.priority DESC, j.run_at, j.id LIMIT p_limit FOR UPDATE SKIP LOCKED),
    k AS (SELECT coalesce(bool_or(c.keyed), false) AS keyed FROM c),
    u AS (
      UPDATE {schema}.jobs j SET state = 'running', attempt = j.attempt + 1, started_at = n.now, worker_id = p_worker_id,
        lease_until = n.now + p_lease
      FROM c, n WHERE j.id = c.id AND NOT (SELECT k.keyed FROM k)
      RETURNING j.id, j.queue, j.name, j.payload, j.state, j.priority, j.attempt, j.max_attempts, j.run_at, j.created_at,
        j.started_at, j.finished_at, j.worker_id, j.lease_until, j.cancel_requested, j.unique_key, j.result, j.error,
        j.progress, j.timeout_ms)
    SELECT k.keyed, u.* FROM k LEFT JOIN u ON true ORDER BY u.priority DESC, u.run_at, u.id;
  END
  $$;
  `,
  // 4: fewer index writes and reads per job (issue 7).
  // - A claim and a completion each change state, so neither is a HOT update: each writes a new
  //   entry in every index whose predicate the new row meets. jobs_state (every row) and
  //   jobs_worker (every claimed row) took 3 of a job's 7 index entries; they go, as in SQLite's
  //   migration 2. Listing by state keeps an index for the states people look for (finished jobs
  //   are listed through jobs_finished or the primary key); rescuing one worker's jobs walks
  //   jobs_lease, which holds only running jobs.
  // - Succeeded outcomes are written by complete_succeeded(), whose plan can only find the batch's
  //   rows through the primary key. As a plain statement, the planner walked jobs_lease for the
  //   running state (dead entries included, one per claim since the last vacuum: thousands per
  //   batch) or, on a table whose statistics predate a bulk insert, scanned the table. A row is
  //   the worker's while its worker_id is the worker's: every change that ends a run (an outcome,
  //   a rescue) clears it, so the state needs no test. Its commit stays synchronous.
  `
  DROP INDEX {schema}.jobs_worker;
  DROP INDEX {schema}.jobs_state;
  CREATE INDEX jobs_attention ON {schema}.jobs (state, id) WHERE state IN ('failed', 'cancelled', 'retrying', 'scheduled');
  CREATE FUNCTION {schema}.complete_succeeded(p_ids text[], p_results text[], p_worker_id text, p_now bigint)
  RETURNS void
  LANGUAGE plpgsql VOLATILE SET enable_seqscan = off SET enable_bitmapscan = off SET enable_hashjoin = off
    SET enable_mergejoin = off SET jit = off SET plan_cache_mode = force_generic_plan AS $$
  BEGIN
    UPDATE {schema}.jobs j SET state = 'succeeded', result = u.result,
      finished_at = coalesce(p_now, (extract(epoch from clock_timestamp()) * 1000)::bigint), worker_id = NULL, lease_until = NULL
    FROM unnest(p_ids, p_results) AS u(id, result)
    WHERE j.id = u.id AND j.worker_id = p_worker_id;
  END
  $$;
  `,
  // 5: succeeded jobs deleted instead of kept (a worker whose retention for them is 0). A delete
  // writes no new row version and no index entry, where keeping the job writes both (issue 7: about
  // a third of PostgreSQL's work per no-op job). Jobs with a rate key are kept as succeeded all the
  // same, since their starts count against the rate window: they, and only they, are left after the
  // delete, so the update runs only when the delete fell short. Planned like complete_succeeded.
  `
  CREATE FUNCTION {schema}.complete_succeeded_discard(p_ids text[], p_results text[], p_worker_id text, p_now bigint)
  RETURNS void
  LANGUAGE plpgsql VOLATILE SET enable_seqscan = off SET enable_bitmapscan = off SET enable_hashjoin = off
    SET enable_mergejoin = off SET jit = off SET plan_cache_mode = force_generic_plan AS $$
  DECLARE
    deleted integer;
  BEGIN
    DELETE FROM {schema}.jobs j USING unnest(p_ids) AS u(id)
    WHERE j.id = u.id AND j.worker_id = p_worker_id AND j.rate_key IS NULL;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    IF deleted < cardinality(p_ids) THEN
      PERFORM {schema}.complete_succeeded(p_ids, p_results, p_worker_id, p_now);
    END IF;
  END
  $$;
  `,
]
