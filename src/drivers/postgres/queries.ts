// Every SQL statement of the PostgreSQL driver, built once per schema. Times are epoch
// milliseconds; `$n::bigint` params named `now` fall back to the database clock when null, so all
// processes agree on time.

const NOW = `(extract(epoch from clock_timestamp()) * 1000)::bigint`
const CLAIMABLE = `('scheduled', 'queued', 'retrying')`
const RUNNING = `('running', 'cancelling')`
const FINISHED = `('succeeded', 'failed', 'cancelled')`
const LIVE = `('scheduled', 'queued', 'running', 'cancelling', 'retrying')`

export const JOB_COLUMNS = `id, queue, name, payload, state, priority, attempt, max_attempts, run_at, created_at, started_at,
  finished_at, worker_id, lease_until, cancel_requested, unique_key, result, error, progress, timeout_ms`

// A SELECT in WITH runs only as far as the statement reads it: counting `woken` sends every NOTIFY.
function insertJobs(jobs: string, onConflict: string): string {
  return `WITH ins AS (INSERT INTO ${jobs} (id, queue, name, payload, priority, max_attempts, run_at, unique_key, rate_key, rate_limit,
      rate_per, concurrency_key, concurrency_limit, timeout_ms, state, created_at)
      SELECT u.*, CASE WHEN u.run_at > n.now THEN 'scheduled' ELSE 'queued' END, n.now
      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::bigint[], $8::text[], $9::text[],
        $10::int[], $11::bigint[], $12::text[], $13::int[], $14::bigint[])
        AS u(id, queue, name, payload, priority, max_attempts, run_at, unique_key, rate_key, rate_limit, rate_per,
          concurrency_key, concurrency_limit, timeout_ms),
        (SELECT coalesce($15::bigint, ${NOW}) AS now) n
      ${onConflict} RETURNING id, queue),
    woken AS (SELECT pg_notify($16, q) FROM (SELECT DISTINCT queue AS q FROM ins) d)
    SELECT id FROM ins, (SELECT count(*) FROM woken) w`
}

/**
 * One job without a unique key, from plain parameters in insertJobs' order: the enqueue on the way to
 * a pick-up. Against insertJobs for one job, no 14 array literals to build and parse: 0.15-0.2 ms less
 * per round trip on the bench VM (issue 7). A taken id fails it.
 */
function insertJob(jobs: string): string {
  return `WITH n AS (SELECT coalesce($15::bigint, ${NOW}) AS now),
    ins AS (INSERT INTO ${jobs} (id, queue, name, payload, priority, max_attempts, run_at, unique_key, rate_key, rate_limit,
        rate_per, concurrency_key, concurrency_limit, timeout_ms, state, created_at)
      SELECT $1::text, $2::text, $3::text, $4::text, $5::int, $6::int, $7::bigint, $8::text, $9::text, $10::int, $11::bigint,
        $12::text, $13::int, $14::bigint, CASE WHEN $7::bigint > n.now THEN 'scheduled' ELSE 'queued' END, n.now FROM n
      RETURNING id, queue),
    woken AS (SELECT pg_notify($16, queue) FROM ins)
    SELECT id FROM ins, (SELECT count(*) FROM woken) w`
}

/**
 * One job inserted already claimed by worker $8 (the in-process hand-off, `jobInsertClaimed`): due
 * now, running, its first attempt, leased until now + $9. No NOTIFY: no other worker may take it.
 */
function insertJobClaimed(jobs: string): string {
  return `INSERT INTO ${jobs} (id, queue, name, payload, priority, max_attempts, timeout_ms, run_at, created_at, started_at, state,
      attempt, worker_id, lease_until)
    SELECT $1::text, $2::text, $3::text, $4::text, $5::int, $6::int, $7::bigint, n.now, n.now, n.now, 'running', 1, $8::text,
      n.now + $9::bigint
    FROM (SELECT coalesce($10::bigint, ${NOW}) AS now) n
    RETURNING ${JOB_COLUMNS}`
}

export function queries(schema: string) {
  const t = (table: string) => `"${schema}".${table}`
  const jobs = t('jobs')
  const owned = `id = $1 AND worker_id = $2 AND state IN ${RUNNING}`
  return {
    now: `SELECT coalesce($1::bigint, ${NOW}) AS now`,
    migrationsTable: `CREATE TABLE IF NOT EXISTS ${t('migrations')} (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    appliedVersions: `SELECT version FROM ${t('migrations')} ORDER BY version`,
    recordMigration: `INSERT INTO ${t('migrations')} (version) VALUES ($1)`,
    /**
     * Many jobs in one statement, from parallel arrays; a job whose id or unique key is taken is
     * left out. NOTIFYs each queue that got a job once, on channel $16 (delivered at commit).
     */
    insertJobs: insertJobs(jobs, 'ON CONFLICT DO NOTHING'),
    /** The same, for jobs without unique keys: a taken id fails the whole statement. */
    insertJobsOrFail: insertJobs(jobs, ''),
    insertJob: insertJob(jobs),
    insertJobClaimed: insertJobClaimed(jobs),
    liveByUniqueKeys: `SELECT id, unique_key FROM ${jobs} WHERE unique_key = ANY($1::text[]) AND state IN ${LIVE}`,
    notify: `SELECT pg_notify($1, q) FROM unnest($2::text[]) AS q`,
    /**
     * Opens a claim transaction in one round trip. Right after a bulk insert the statistics still
     * say almost nothing is pending, and the planner would fetch every pending row and sort it
     * (seconds with a million rows) instead of walking `jobs_claim` in claim order and stopping at
     * the limit (issue 7). Without a sort the only plan left is that index scan. A sort that
     * cannot be avoided then costs 10^10, far above `jit_above_cost`: JIT compiling a claim took
     * 0.7 s, so it is off too. Like the one-statement claim (migration 3), it commits without
     * waiting for the WAL flush: a claim lost in a crash leaves its jobs claimable again.
     */
    claimBegin: 'BEGIN; SET LOCAL enable_sort = off; SET LOCAL jit = off; SET LOCAL synchronous_commit = off',
    /** Claims unkeyed jobs in one statement, or claims nothing and says `keyed` (migrations 2 and 3). */
    claimUnkeyed: `SELECT * FROM ${t('claim_unkeyed')}($1, $2::text[], $3, $4::int, $5::bigint, $6::bigint)`,
    claimCandidates: `SELECT id, rate_key AS "rateKey", rate_limit AS "rateLimit", rate_per AS "ratePer",
      concurrency_key AS "concurrencyKey", concurrency_limit AS "concurrencyLimit"
      FROM ${jobs} WHERE queue = $1 AND state IN ${CLAIMABLE} AND run_at <= $2 AND name = ANY($3::text[])
      ORDER BY priority DESC, run_at, id LIMIT $4 FOR UPDATE SKIP LOCKED`,
    lockKey: `SELECT pg_advisory_xact_lock(hashtext($1))`,
    claim: `UPDATE ${jobs} SET state = 'running', attempt = attempt + 1, started_at = $2::bigint, worker_id = $3, lease_until = $4::bigint
      WHERE id = ANY($1::text[]) RETURNING ${JOB_COLUMNS}`,
    countStartedSince: `SELECT count(*)::int AS n FROM ${jobs} WHERE rate_key = $1 AND started_at > $2`,
    countRunningWithKey: `SELECT count(*)::int AS n FROM ${jobs} WHERE concurrency_key = $1 AND state IN ${RUNNING}`,
    heartbeat: `UPDATE ${jobs} SET lease_until = coalesce($4::bigint, ${NOW}) + $3
      WHERE worker_id = $1 AND state IN ${RUNNING} AND id = ANY($2::text[]) RETURNING id, cancel_requested AS "cancelRequested"`,
    /**
     * Succeeded outcomes of one batch, in one statement (migration 4 says why it is a function). It
     * finds the worker's rows by worker_id alone: every statement here that ends a run must clear
     * worker_id (a driver test pins it).
     */
    succeeded: `SELECT ${t('complete_succeeded')}($1::text[], $2::text[], $3, $4::bigint)`,
    /** The same for outcomes whose jobs are deleted, not kept (migration 5). */
    succeededDiscard: `SELECT ${t('complete_succeeded_discard')}($1::text[], $2::text[], $3, $4::bigint)`,
    failed: `UPDATE ${jobs} SET
      state = CASE WHEN cancel_requested THEN 'cancelled' WHEN $3::bigint IS NULL THEN 'failed' ELSE 'retrying' END,
      run_at = coalesce($3::bigint, run_at),
      finished_at = CASE WHEN cancel_requested OR $3::bigint IS NULL THEN coalesce($5::bigint, ${NOW}) ELSE NULL END,
      error = $4, worker_id = NULL, lease_until = NULL WHERE ${owned}`,
    cancelled: `UPDATE ${jobs} SET state = 'cancelled', error = $3, finished_at = coalesce($4::bigint, ${NOW}),
      worker_id = NULL, lease_until = NULL WHERE ${owned}`,
    snoozed: `UPDATE ${jobs} SET state = 'scheduled', run_at = $3::bigint, attempt = attempt - 1, worker_id = NULL, lease_until = NULL WHERE ${owned}`,
    released: `UPDATE ${jobs} SET state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'queued' END,
      finished_at = CASE WHEN cancel_requested THEN coalesce($3::bigint, ${NOW}) ELSE NULL END,
      attempt = attempt - 1, worker_id = NULL, lease_until = NULL WHERE ${owned}`,
    // The clock is computed once in a CTE: referencing the outer query's value from the subquery
    // made it correlated, re-run for every row of the table (103 ms at 100k rows with nothing to do).
    rescueExpired: `WITH n AS (SELECT coalesce($1::bigint, ${NOW}) AS now),
      expired AS (SELECT id FROM ${jobs} WHERE state IN ${RUNNING} AND lease_until < (SELECT now FROM n) LIMIT $2 FOR UPDATE SKIP LOCKED)
      UPDATE ${jobs} j SET
      state = CASE WHEN cancel_requested THEN 'cancelled' WHEN attempt >= max_attempts THEN 'failed' ELSE 'queued' END,
      finished_at = CASE WHEN cancel_requested OR attempt >= max_attempts THEN (SELECT now FROM n) ELSE NULL END,
      run_at = (SELECT now FROM n), worker_id = NULL, lease_until = NULL, error = $3
      FROM expired WHERE j.id = expired.id
      RETURNING j.queue`,
    rescueWorker: `UPDATE ${jobs} SET
      state = CASE WHEN cancel_requested THEN 'cancelled' WHEN attempt >= max_attempts THEN 'failed' ELSE 'queued' END,
      finished_at = CASE WHEN cancel_requested OR attempt >= max_attempts THEN $2::bigint ELSE NULL END,
      run_at = $2::bigint, worker_id = NULL, lease_until = NULL, error = $3
      WHERE worker_id = $1 AND state IN ${RUNNING}`,
    cancelWaiting: `UPDATE ${jobs} SET state = 'cancelled', finished_at = coalesce($2::bigint, ${NOW}) WHERE id = $1 AND state IN ${CLAIMABLE}`,
    cancelRunning: `UPDATE ${jobs} SET state = 'cancelling', cancel_requested = true WHERE id = $1 AND state = 'running'`,
    retry: `UPDATE ${jobs} SET state = 'queued', attempt = 0, run_at = coalesce($2::bigint, ${NOW}), finished_at = NULL,
      cancel_requested = false, error = NULL, result = NULL WHERE id = $1 AND state IN ('failed', 'cancelled') RETURNING ${JOB_COLUMNS}`,
    get: `SELECT ${JOB_COLUMNS} FROM ${jobs} WHERE id = $1`,
    list: `SELECT ${JOB_COLUMNS} FROM ${jobs}
      WHERE ($1::text IS NULL OR queue = $1) AND ($2::text IS NULL OR name = $2) AND ($3::text IS NULL OR state = $3)
        AND ($4::text IS NULL OR id < $4)
      ORDER BY id DESC LIMIT $5`,
    counts: `SELECT queue, name, state, count(*)::int AS count FROM ${jobs} WHERE $1::text IS NULL OR queue = $1 GROUP BY queue, name, state`,
    progress: `UPDATE ${jobs} SET progress = $3 WHERE id = $1 AND worker_id = $2`,
    // The ids as one array, so they are deleted through the primary key: as `id IN (SELECT ...)`,
    // once analyzed the planner hashed them and scanned the whole table (56 ms against 4 ms at
    // 200,000 rows for 1,000 ids).
    // Succeeded jobs may have a shorter retention ($3): the index range is the longer of the two.
    prune: `DELETE FROM ${jobs} WHERE id = ANY (ARRAY(SELECT id FROM ${jobs} WHERE state IN ${FINISHED}
      AND finished_at < greatest($1::bigint, $3::bigint) AND finished_at < CASE WHEN state = 'succeeded' THEN $3::bigint ELSE $1::bigint END
      LIMIT $2))`,
    // Old slots, but each schedule's last: a restart resumes after it, however rarely the schedule fires.
    slotPrune: `DELETE FROM ${t('schedule_slots')} AS d WHERE fired_at < $1
      AND slot < (SELECT max(s.slot) FROM ${t('schedule_slots')} AS s WHERE s.schedule = d.schedule)`,
    workerGet: `SELECT heartbeat_at AS "heartbeatAt" FROM ${t('workers')} WHERE id = $1 FOR UPDATE`,
    workerUpsert: `INSERT INTO ${t('workers')} (id, service, heartbeat_at) VALUES ($1, $2, $3)
      ON CONFLICT (id) DO UPDATE SET service = excluded.service, heartbeat_at = excluded.heartbeat_at`,
    workerRemove: `DELETE FROM ${t('workers')} WHERE id = $1`,
    slotInsert: `INSERT INTO ${t('schedule_slots')} (schedule, slot, job_id, fired_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
    slotLast: `SELECT max(slot) AS slot FROM ${t('schedule_slots')} WHERE schedule = $1`,
  }
}
