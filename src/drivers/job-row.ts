import type { JobState } from '../core/job-state.js'
import type { ErrorInfo } from '../core/run-context.js'
import type { JobRow } from '../queue/driver.js'

/** A jobs-table row as SQL drivers read it (snake_case; bigints may come as strings, booleans as 0/1). */
export interface StoredJobRow {
  id: string
  queue: string
  name: string
  payload: string
  state: JobState
  priority: number
  attempt: number
  max_attempts: number
  run_at: number | string
  created_at: number | string
  started_at: number | string | null
  finished_at: number | string | null
  worker_id: string | null
  lease_until: number | string | null
  cancel_requested: boolean | number
  unique_key: string | null
  result: string | null
  error: string | null
  progress: string | null
  timeout_ms: number | string | null
}

/** The driver-neutral JobRow of a stored row. */
export function toJobRow(r: StoredJobRow): JobRow {
  return {
    id: r.id,
    queue: r.queue,
    name: r.name,
    payload: r.payload,
    state: r.state,
    priority: r.priority,
    attempt: r.attempt,
    maxAttempts: r.max_attempts,
    runAt: Number(r.run_at),
    createdAt: Number(r.created_at),
    startedAt: numberOrNull(r.started_at),
    finishedAt: numberOrNull(r.finished_at),
    workerId: r.worker_id,
    leaseUntil: numberOrNull(r.lease_until),
    cancelRequested: r.cancel_requested === true || r.cancel_requested === 1,
    uniqueKey: r.unique_key,
    result: r.result,
    error: r.error === null ? null : (JSON.parse(r.error) as ErrorInfo),
    progress: r.progress === null ? null : (JSON.parse(r.progress) as { fraction: number; message?: string }),
    timeoutMs: numberOrNull(r.timeout_ms),
  }
}

/** bigint columns arrive as strings from a pg pool without a type parser for them. */
export function numberOrNull(value: number | string | null): number | null {
  return value === null ? null : Number(value)
}

/** The error a job records when it is taken back from a worker that stopped heartbeating. */
export const LEASE_EXPIRED: ErrorInfo = { name: 'LeaseExpired', message: 'The worker running this job stopped heartbeating (crashed or blocked)' }
export const LEASE_EXPIRED_JSON = JSON.stringify(LEASE_EXPIRED)
