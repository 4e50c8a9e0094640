import type { JobState } from '../core/job-state.js'
import type { ErrorInfo } from '../core/run-context.js'

/**
 * The only way the durable queue reaches storage. Every method is async and takes one params
 * object; ids are strings and times are epoch milliseconds. `now` is passed only under a
 * ManualClock (tests); otherwise the driver uses the database clock, so processes agree on time.
 *
 * Rules every driver keeps (the conformance suite in `drivers/conformance` checks them):
 * - `jobClaim` hands each claimable job to exactly one caller, and already applies priority (higher
 *   first), run time, rate limits and per-key concurrency, which travel on the job rows.
 * - Write transactions hold no user code. A unique key conflicts only with live jobs.
 * - A lease that expires without a heartbeat lets `jobRescue` take the job back.
 *
 * The PostgreSQL driver may add only optional members.
 *
 * @experimental Outside semver until the PostgreSQL driver has shipped.
 */
export interface QueueDriver<Tx = never> {
  /** 'memory', 'sqlite', 'postgres': for logs and metrics. */
  readonly kind: string
  /**
   * Creates or upgrades the schema (versioned migrations; safe from several processes). A driver
   * configured to only check refuses pending migrations unless `apply` is set (`afterwork migrate`).
   */
  migrate(params?: { signal?: AbortSignal; apply?: boolean }): Promise<void>
  close(): Promise<void>

  /** Inserts jobs, in one transaction (in the caller's `tx` where the driver supports it). */
  jobInsertMany(params: { jobs: readonly JobInsert[]; now?: number; tx?: Tx }): Promise<JobInsertResult[]>
  /** Claims up to `limit` claimable jobs of `names` in `queue` for `workerId`, leasing each for `lease` ms. */
  jobClaim(params: { queue: string; names: readonly string[]; workerId: string; limit: number; lease: number; now?: number }): Promise<JobRow[]>
  /**
   * Extends the leases of the worker's running jobs and reports which of them were asked to cancel
   * (the way a cancel crosses processes) and which the worker no longer owns (rescued elsewhere).
   */
  jobHeartbeat(params: { workerId: string; ids: readonly string[]; lease: number; now?: number }): Promise<{ cancelRequested: string[]; lost: string[] }>
  /** Records the outcome of finished attempts, in one transaction. Ignores jobs the worker no longer owns. */
  jobCompleteMany(params: { workerId: string; completions: readonly Completion[]; now?: number }): Promise<void>
  /** Takes back jobs whose lease expired: retried at once, or failed when out of attempts. Returns how many. */
  jobRescue(params: { now?: number; limit?: number }): Promise<number>
  /** Cancels a waiting job at once, or asks a running one to stop. Null for an unknown id. */
  jobCancel(params: { id: string; now?: number }): Promise<JobRow | null>
  /** Queues a finished (failed or cancelled) job again with fresh attempts. Null for an unknown or live id. */
  jobRetry(params: { id: string; now?: number }): Promise<JobRow | null>
  jobGet(params: { id: string }): Promise<JobRow | null>
  /** Newest first; `before` is an id to page from. */
  jobList(params: { queue?: string; name?: string; state?: JobState; limit: number; before?: string }): Promise<JobRow[]>
  jobCounts(params?: { queue?: string }): Promise<JobCount[]>
  /** Records progress of a running job. */
  jobProgress(params: { id: string; workerId: string; fraction: number; message?: string }): Promise<void>
  /**
   * Deletes finished jobs that finished before `before` (succeeded ones: before `succeededBefore`
   * when given), at most `limit`. Returns how many.
   */
  jobPrune(params: { before: number; succeededBefore?: number; limit: number }): Promise<number>

  /**
   * Registers or refreshes a worker identity. Refused (`ok: false`) when another process holds it
   * with a heartbeat younger than `lease`. On a takeover, `reclaimed` counts the jobs the dead
   * holder had running, which are queued again at once.
   */
  workerHeartbeat(params: { workerId: string; service: string; lease: number; takeover: boolean; now?: number }): Promise<{ ok: boolean; reclaimed: number }>
  /** Removes the identity (graceful stop); its running jobs must already be handed back. */
  workerRemove(params: { workerId: string }): Promise<void>

  /**
   * Claims a schedule slot and enqueues its job atomically: exactly one caller per (schedule,
   * slot) wins and inserts the job.
   */
  scheduleFire(params: { schedule: string; slot: number; job: JobInsert; now?: number }): Promise<{ won: boolean; jobId?: string }>
  /** The latest slot claimed for a schedule, so a restart knows which slots ran. */
  scheduleLastSlot(params: { schedule: string }): Promise<number | null>

  /**
   * Optional: the worker's claim and completion batch sizes on this store, where a round trip costs
   * more than SQLite's or memory's in-process calls (PostgreSQL). A worker's own options win.
   */
  readonly batchDefaults?: { claimBatch: number; completionBatch: number }

  /**
   * Optional: inserts one job already claimed by `workerId` (running, its first attempt, leased for
   * `lease` ms) and returns it as `jobClaim` would: the in-process hand-off (`worker.handoff`), one
   * round trip to a pick-up instead of an insert and then a claim. Only for a job without unique,
   * rate or concurrency keys that is due now, outside a caller's transaction; nothing is notified,
   * as no other worker may take it. Drivers whose claim costs no round trip (SQLite, memory) omit it.
   */
  jobInsertClaimed?(params: { job: JobInsert; workerId: string; lease: number; now?: number }): Promise<JobRow>

  /**
   * Optional: calls `onWake` when jobs may have been inserted in `queue` by another process. Without
   * it (SQLite, memory) workers poll. Resolves when listening has begun; stops when `signal` aborts.
   */
  listen?(params: { onWake: (queue: string) => void; signal: AbortSignal }): Promise<void>
}

/** A job to insert. Limits travel on the row, so every worker of the store enforces the same ones. */
export interface JobInsert {
  id: string
  queue: string
  name: string
  /** JSON text of the payload. */
  payload: string
  priority: number
  /** Claimable from this time. */
  runAt: number
  maxAttempts: number
  uniqueKey?: string
  /** At most `rateLimit` jobs with this key start per `ratePer` ms, across all workers. */
  rateKey?: string
  rateLimit?: number
  ratePer?: number
  /** At most `concurrencyLimit` jobs with this key run at once, across all workers. */
  concurrencyKey?: string
  concurrencyLimit?: number
  /** The attempt's timeout, applied by the worker that runs it. */
  timeoutMs?: number
}

/** What an insert did: inserted, or refused because a live job already holds the unique key. */
export type JobInsertResult = { id: string; inserted: true } | { id: string; inserted: false; conflictId: string }

/** A stored job, as drivers return it. */
export interface JobRow {
  id: string
  queue: string
  name: string
  payload: string
  state: JobState
  priority: number
  attempt: number
  maxAttempts: number
  runAt: number
  createdAt: number
  startedAt: number | null
  finishedAt: number | null
  workerId: string | null
  leaseUntil: number | null
  cancelRequested: boolean
  uniqueKey: string | null
  /** JSON text of the result. */
  result: string | null
  /** The last attempt's error. */
  error: ErrorInfo | null
  progress: { fraction: number; message?: string } | null
  timeoutMs: number | null
}

/** The outcome of one attempt. */
export type Completion =
  /**
   * `discard`: delete the job instead of keeping it `succeeded` (the worker keeps succeeded jobs for
   * no time). A job with a rate key is kept all the same: its start counts against its rate window.
   */
  | { id: string; outcome: 'succeeded'; result: string | null; discard?: boolean }
  /** `retryAt` set: the job waits in `retrying` for another attempt; unset: it is `failed`. */
  | { id: string; outcome: 'failed'; error: ErrorInfo; retryAt?: number }
  | { id: string; outcome: 'cancelled'; error?: ErrorInfo }
  /** Snoozed by its handler: runs again at `runAt`, this attempt not counted. */
  | { id: string; outcome: 'snoozed'; runAt: number }
  /** Handed back by a stopping worker: queued again at once, this attempt not counted. */
  | { id: string; outcome: 'released' }

export interface JobCount {
  queue: string
  name: string
  state: JobState
  count: number
}

/** The live states: a unique key conflicts only with jobs in these. */
export const liveStates: readonly JobState[] = ['scheduled', 'queued', 'running', 'cancelling', 'retrying']
