// Every SQL statement of the SQLite driver, by name. Times are epoch milliseconds passed in.

const CLAIMABLE = `('scheduled', 'queued', 'retrying')`
const RUNNING = `('running', 'cancelling')`
const FINISHED = `('succeeded', 'failed', 'cancelled')`

export const JOB_COLUMNS = `id, queue, name, payload, state, priority, attempt, max_attempts, run_at, created_at, started_at,
  finished_at, worker_id, lease_until, cancel_requested, unique_key, result, error, progress, timeout_ms`

export const INSERT_JOB = `INSERT OR IGNORE INTO afterwork_jobs (id, queue, name, payload, state, priority, max_attempts, run_at,
  created_at, unique_key, rate_key, rate_limit, rate_per, concurrency_key, concurrency_limit, timeout_ms)
  VALUES (@id, @queue, @name, @payload, @state, @priority, @maxAttempts, @runAt, @now, @uniqueKey, @rateKey, @rateLimit,
  @ratePer, @concurrencyKey, @concurrencyLimit, @timeoutMs)`

export const LIVE_BY_UNIQUE_KEY = `SELECT id FROM afterwork_jobs WHERE unique_key = ? AND state IN ('scheduled', 'queued', 'running', 'cancelling', 'retrying')`

/** Candidates in claim order; `names` is a JSON array. */
/** The jobs a claim may take now: the probe and the candidates read the same rows. */
const CLAIMABLE_NOW = `FROM afterwork_jobs INDEXED BY afterwork_jobs_claim
  WHERE queue = @queue AND state IN ${CLAIMABLE} AND run_at <= @now AND name IN (SELECT value FROM json_each(@names))`

export const CLAIM_CANDIDATES = `SELECT id, rate_key AS rateKey, rate_limit AS rateLimit, rate_per AS ratePer,
  concurrency_key AS concurrencyKey, concurrency_limit AS concurrencyLimit
  ${CLAIMABLE_NOW}
  ORDER BY priority DESC, run_at, id LIMIT @limit`

/** Is anything claimable? A read, so an idle worker's poll leaves the write lock to writers. */
export const CLAIM_PROBE = `SELECT 1 ${CLAIMABLE_NOW} LIMIT 1`

export const CLAIM_JOBS = `UPDATE afterwork_jobs SET state = 'running', attempt = attempt + 1, started_at = @now, worker_id = @workerId,
  lease_until = @leaseUntil WHERE id IN (SELECT value FROM json_each(@ids)) RETURNING ${JOB_COLUMNS}`

export const COUNT_STARTED_SINCE = `SELECT count(*) AS n FROM afterwork_jobs WHERE rate_key = ? AND started_at > ?`
export const COUNT_RUNNING_WITH_KEY = `SELECT count(*) AS n FROM afterwork_jobs WHERE concurrency_key = ? AND state IN ${RUNNING}`

export const HEARTBEAT_JOBS = `UPDATE afterwork_jobs SET lease_until = @leaseUntil
  WHERE worker_id = @workerId AND state IN ${RUNNING} AND id IN (SELECT value FROM json_each(@ids))
  RETURNING id, cancel_requested AS cancelRequested`

const OWNED = `id = @id AND worker_id = @workerId AND state IN ${RUNNING}`
export const COMPLETE_SUCCEEDED = `UPDATE afterwork_jobs SET state = 'succeeded', result = @result, finished_at = @now,
  worker_id = NULL, lease_until = NULL WHERE ${OWNED}`
/** A succeeded job deleted rather than kept; one with a rate key is kept (COMPLETE_SUCCEEDED) for its rate window. */
export const COMPLETE_SUCCEEDED_DISCARD = `DELETE FROM afterwork_jobs WHERE ${OWNED} AND rate_key IS NULL`
export const COMPLETE_FAILED = `UPDATE afterwork_jobs SET
  state = CASE WHEN cancel_requested = 1 THEN 'cancelled' WHEN @retryAt IS NULL THEN 'failed' ELSE 'retrying' END,
  run_at = coalesce(@retryAt, run_at),
  finished_at = CASE WHEN cancel_requested = 1 OR @retryAt IS NULL THEN @now ELSE NULL END,
  error = @error, worker_id = NULL, lease_until = NULL WHERE ${OWNED}`
export const COMPLETE_CANCELLED = `UPDATE afterwork_jobs SET state = 'cancelled', error = @error, finished_at = @now,
  worker_id = NULL, lease_until = NULL WHERE ${OWNED}`
export const COMPLETE_SNOOZED = `UPDATE afterwork_jobs SET state = 'scheduled', run_at = @runAt, attempt = attempt - 1,
  worker_id = NULL, lease_until = NULL WHERE ${OWNED}`
export const COMPLETE_RELEASED = `UPDATE afterwork_jobs SET
  state = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'queued' END,
  finished_at = CASE WHEN cancel_requested = 1 THEN @now ELSE NULL END,
  attempt = attempt - 1, worker_id = NULL, lease_until = NULL WHERE ${OWNED}`

/** Takes back jobs whose lease ran out: retried at once, or failed (cancelled) when out of attempts. */
export const RESCUE_EXPIRED = `UPDATE afterwork_jobs SET
  state = CASE WHEN cancel_requested = 1 THEN 'cancelled' WHEN attempt >= max_attempts THEN 'failed' ELSE 'queued' END,
  finished_at = CASE WHEN cancel_requested = 1 OR attempt >= max_attempts THEN @now ELSE NULL END,
  run_at = @now, worker_id = NULL, lease_until = NULL, error = @error
  WHERE id IN (SELECT id FROM afterwork_jobs INDEXED BY afterwork_jobs_lease
    WHERE state IN ${RUNNING} AND lease_until < @now LIMIT @limit)`

/** The same, for every running job of one worker identity (a takeover of a dead identity). */
export const RESCUE_WORKER = `UPDATE afterwork_jobs SET
  state = CASE WHEN cancel_requested = 1 THEN 'cancelled' WHEN attempt >= max_attempts THEN 'failed' ELSE 'queued' END,
  finished_at = CASE WHEN cancel_requested = 1 OR attempt >= max_attempts THEN @now ELSE NULL END,
  run_at = @now, worker_id = NULL, lease_until = NULL, error = @error
  WHERE worker_id = @workerId AND state IN ${RUNNING}`

export const CANCEL_WAITING = `UPDATE afterwork_jobs SET state = 'cancelled', finished_at = @now WHERE id = @id AND state IN ${CLAIMABLE}`
export const CANCEL_RUNNING = `UPDATE afterwork_jobs SET state = 'cancelling', cancel_requested = 1 WHERE id = @id AND state = 'running'`
export const RETRY_JOB = `UPDATE afterwork_jobs SET state = 'queued', attempt = 0, run_at = @now, finished_at = NULL,
  cancel_requested = 0, error = NULL, result = NULL WHERE id = @id AND state IN ('failed', 'cancelled')`
export const GET_JOB = `SELECT ${JOB_COLUMNS} FROM afterwork_jobs WHERE id = ?`
export const JOB_PROGRESS = `UPDATE afterwork_jobs SET progress = @progress WHERE id = @id AND worker_id = @workerId`
export const COUNT_JOBS = `SELECT queue, name, state, count(*) AS count FROM afterwork_jobs
  WHERE @queue IS NULL OR queue = @queue GROUP BY queue, name, state`
// Succeeded jobs may have a shorter retention (@succeededBefore): the index range is the longer of the two.
export const PRUNE_FINISHED = `DELETE FROM afterwork_jobs WHERE id IN (SELECT id FROM afterwork_jobs INDEXED BY afterwork_jobs_finished
  WHERE state IN ${FINISHED} AND finished_at < max(@before, @succeededBefore)
    AND finished_at < CASE WHEN state = 'succeeded' THEN @succeededBefore ELSE @before END LIMIT @limit)`

export const WORKER_GET = `SELECT heartbeat_at AS heartbeatAt FROM afterwork_workers WHERE id = ?`
export const WORKER_UPSERT = `INSERT INTO afterwork_workers (id, service, heartbeat_at) VALUES (@id, @service, @now)
  ON CONFLICT (id) DO UPDATE SET service = excluded.service, heartbeat_at = excluded.heartbeat_at`
export const WORKER_REMOVE = `DELETE FROM afterwork_workers WHERE id = ?`

export const SLOT_INSERT = `INSERT OR IGNORE INTO afterwork_schedule_slots (schedule, slot, job_id, fired_at) VALUES (@schedule, @slot, @jobId, @now)`
export const SLOT_LAST = `SELECT max(slot) AS slot FROM afterwork_schedule_slots WHERE schedule = ?`
/** Old slots, but each schedule's last: a restart resumes after it, however rarely the schedule fires. */
export const SLOT_PRUNE = `DELETE FROM afterwork_schedule_slots AS d WHERE fired_at < ?
  AND slot < (SELECT max(s.slot) FROM afterwork_schedule_slots AS s WHERE s.schedule = d.schedule)`
