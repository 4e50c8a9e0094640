import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import type { JobState } from '../../core/job-state.js'
import { pickClaimable, type ClaimCandidate } from '../../queue/claim-rules.js'
import type { Completion, JobCount, JobInsert, JobInsertResult, JobRow, QueueDriver } from '../../queue/driver.js'
import { systemClock } from '../../core/clock.js'
import { LEASE_EXPIRED_JSON, toJobRow, type StoredJobRow } from '../job-row.js'
import { migrations } from './migrations.js'
import * as Q from './queries.js'

export interface SqliteOptions {
  /** The database file; its folder is created. ':memory:' works for tests (one connection only). */
  path: string
  /**
   * `NORMAL` (default) keeps every committed job through a process crash; a power loss or OS crash
   * may lose the transactions of the last moments (WAL not yet synced). `FULL` syncs every commit:
   * nothing committed is lost even then, at a cost in throughput.
   * @default 'NORMAL'
   */
  synchronous?: 'NORMAL' | 'FULL'
  /** How long a writer waits for another process's write transaction. Well under the lease. @default 2000 */
  busyTimeout?: number
}

/** The most rows one write transaction touches. */
const MAX_WRITE_ROWS = 1_000
/** Most candidates one claim reads: enough to skip rate-limited jobs at the head without starving. */
const CANDIDATE_FACTOR = 4
const MAX_CANDIDATES = 1_000

/**
 * The embedded default: the durable queue in one SQLite file (WAL, `BEGIN IMMEDIATE`, short write
 * transactions holding no user code and no `await`). Good for production on one machine. Several
 * processes may share the file, but they stall each other's event loops: SQLite's busy handler
 * waits for the other's write transaction in sleeps of up to 100 ms (measured: 142 ms p99).
 *
 * @example
 * const svc = createService({ queue: sqlite({ path: 'data/afterwork.db' }) })
 */
export function sqlite(opts: SqliteOptions): QueueDriver {
  return new SqliteDriver(opts)
}


class SqliteDriver implements QueueDriver {
  readonly kind = 'sqlite'
  readonly #opts: SqliteOptions
  #db: Database.Database | undefined
  #stmts: ReturnType<typeof prepare> | undefined

  constructor(opts: SqliteOptions) {
    this.#opts = opts
  }

  get #s(): ReturnType<typeof prepare> {
    if (!this.#stmts) this.#open()
    return this.#stmts as ReturnType<typeof prepare>
  }

  get #conn(): Database.Database {
    if (!this.#db) this.#open()
    return this.#db as Database.Database
  }

  #open(): void {
    const { path } = this.#opts
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
    const db = new Database(path)
    db.pragma('journal_mode = WAL')
    db.pragma(`synchronous = ${this.#opts.synchronous ?? 'NORMAL'}`)
    db.pragma(`busy_timeout = ${this.#opts.busyTimeout ?? 2_000}`)
    // Keep the WAL file from growing without bound after a burst (checkpoints then truncate it).
    db.pragma('journal_size_limit = 67108864')
    this.#db = db
    this.#migrateNow()
    this.#stmts = prepare(db)
  }

  /**
   * Runs `fn` in a write transaction (BEGIN IMMEDIATE), waiting for the write lock without blocking
   * the event loop. SQLite's own busy handler sleeps the thread on a fixed schedule (1, 2, 5, 10 ...
   * 100 ms); against a worker that takes the lock back to back it keeps losing until busy_timeout and
   * fails with SQLITE_BUSY (the queue-sqlite bench saw a web process's enqueue fail that way). Here
   * BEGIN IMMEDIATE does not wait, and a busy lock is retried every millisecond, asynchronously, for
   * up to `busyTimeout`. Used for the writes a web process makes (enqueue, cancel, retry); the
   * worker's own claims and completions keep SQLite's handler.
   */
  async #immediate<T>(fn: () => T): Promise<T> {
    const db = this.#conn
    const busyTimeout = this.#opts.busyTimeout ?? 2_000
    const deadline = systemClock.monotonic() + busyTimeout
    for (;;) {
      db.pragma('busy_timeout = 0')
      try {
        return db.transaction(fn).immediate()
      } catch (error) {
        if ((error as { code?: string }).code !== 'SQLITE_BUSY' || systemClock.monotonic() >= deadline) throw error
      } finally {
        db.pragma(`busy_timeout = ${busyTimeout}`)
      }
      await systemClock.sleep(1)
    }
  }

  #migrateNow(): void {
    const db = this.#db as Database.Database
    db.transaction(() => {
      const version = db.pragma('user_version', { simple: true }) as number
      for (let v = version; v < migrations.length; v++) db.exec(migrations[v] as string)
      if (version < migrations.length) db.pragma(`user_version = ${migrations.length}`)
    }).immediate()
  }

  async migrate(): Promise<void> {
    if (!this.#db) this.#open()
  }

  async close(): Promise<void> {
    this.#db?.close()
    this.#db = undefined
    this.#stmts = undefined
  }

  async jobInsertMany({ jobs, now = Date.now() }: { jobs: readonly JobInsert[]; now?: number }): Promise<JobInsertResult[]> {
    const s = this.#s
    const insertChunk = (chunk: readonly JobInsert[]) =>
      chunk.map((job): JobInsertResult => {
        const info = s.insert.run(insertParams(job, now))
        if (info.changes === 1) return { id: job.id, inserted: true }
        const holder = job.uniqueKey === undefined ? undefined : (s.liveByUnique.get(job.uniqueKey) as { id: string } | undefined)
        if (!holder) throw new Error(`Job id ${job.id} already exists`)
        return { id: job.id, inserted: false, conflictId: holder.id }
      })
    // At most MAX_WRITE_ROWS rows per write transaction, so no batch holds the write lock (and
    // stalls other processes) for long; a crash mid-way keeps the chunks already committed.
    const results: JobInsertResult[] = []
    for (let i = 0; i < jobs.length; i += MAX_WRITE_ROWS) {
      const chunk = jobs.slice(i, i + MAX_WRITE_ROWS)
      results.push(...(await this.#immediate(() => insertChunk(chunk))))
    }
    return results
  }

  async jobClaim(params: { queue: string; names: readonly string[]; workerId: string; limit: number; lease: number; now?: number }): Promise<JobRow[]> {
    const s = this.#s
    const now = params.now ?? Date.now()
    const names = JSON.stringify(params.names)
    // An idle poll must not take the write lock: look first, outside a write transaction.
    if (s.claimProbe.get({ queue: params.queue, now, names }) === undefined) return []
    const candidatesOf = (limit: number) =>
      s.claimCandidates.all({ queue: params.queue, now, names, limit: Math.min(MAX_CANDIDATES, limit) }) as (ClaimCandidate & { id: string })[]
    return this.#conn.transaction(() => {
      let candidates = candidatesOf(params.limit)
      if (candidates.length === 0) return []
      let picked: (ClaimCandidate & { id: string })[] = candidates
      if (candidates.some((c) => c.rateKey !== null || c.concurrencyKey !== null)) {
        // Limited jobs at the head may be skipped: read further so others behind them still run.
        candidates = candidatesOf(params.limit * CANDIDATE_FACTOR)
        picked = pickClaimable(
          candidates,
          params.limit,
          (key, since) => (s.countStartedSince.get(key, since) as { n: number }).n,
          (key) => (s.countRunningWithKey.get(key) as { n: number }).n,
          now,
        )
      }
      if (picked.length === 0) return []
      const rows = s.claim.all({ ids: JSON.stringify(picked.map((c) => c.id)), now, workerId: params.workerId, leaseUntil: now + params.lease }) as StoredJobRow[]
      // RETURNING gives no order: hand the jobs back in claim order.
      const order = new Map(picked.map((c, i) => [c.id, i]))
      return rows.sort((a, b) => (order.get(a.id) as number) - (order.get(b.id) as number)).map(toJobRow)
    }).immediate()
  }

  async jobHeartbeat(params: { workerId: string; ids: readonly string[]; lease: number; now?: number }) {
    const now = params.now ?? Date.now()
    const rows = this.#s.heartbeat.all({ workerId: params.workerId, ids: JSON.stringify(params.ids), leaseUntil: now + params.lease }) as {
      id: string
      cancelRequested: number
    }[]
    const owned = new Set(rows.map((r) => r.id))
    return {
      cancelRequested: rows.filter((r) => r.cancelRequested === 1).map((r) => r.id),
      lost: params.ids.filter((id) => !owned.has(id)),
    }
  }

  async jobCompleteMany(params: { workerId: string; completions: readonly Completion[]; now?: number }): Promise<void> {
    const s = this.#s
    const now = params.now ?? Date.now()
    const { workerId } = params
    this.#conn.transaction(() => {
      for (const c of params.completions) {
        switch (c.outcome) {
          case 'succeeded':
            if (!c.discard || s.succeededDiscard.run({ id: c.id, workerId }).changes === 0) s.succeeded.run({ id: c.id, workerId, now, result: c.result })
            break
          case 'failed':
            s.failed.run({ id: c.id, workerId, now, retryAt: c.retryAt ?? null, error: JSON.stringify(c.error) })
            break
          case 'cancelled':
            s.cancelled.run({ id: c.id, workerId, now, error: c.error ? JSON.stringify(c.error) : null })
            break
          case 'snoozed':
            s.snoozed.run({ id: c.id, workerId, runAt: c.runAt })
            break
          case 'released':
            s.released.run({ id: c.id, workerId, now })
            break
        }
      }
    }).immediate()
  }

  async jobRescue(params: { now?: number; limit?: number }): Promise<number> {
    const now = params.now ?? Date.now()
    return this.#s.rescueExpired.run({ now, limit: params.limit ?? 1_000, error: LEASE_EXPIRED_JSON }).changes
  }

  async jobCancel(params: { id: string; now?: number }): Promise<JobRow | null> {
    const s = this.#s
    const now = params.now ?? Date.now()
    return this.#immediate(() => {
      if (s.cancelWaiting.run({ id: params.id, now }).changes === 0) s.cancelRunning.run({ id: params.id })
      const row = s.get.get(params.id) as StoredJobRow | undefined
      return row ? toJobRow(row) : null
    })
  }

  async jobRetry(params: { id: string; now?: number }): Promise<JobRow | null> {
    const s = this.#s
    const now = params.now ?? Date.now()
    try {
      return await this.#immediate(() => {
        if (s.retry.run({ id: params.id, now }).changes === 0) return null
        return toJobRow(s.get.get(params.id) as StoredJobRow)
      })
    } catch (error) {
      // Another live job holds its unique key: it cannot run again until that one finishes.
      if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') return null
      throw error
    }
  }

  async jobGet(params: { id: string }): Promise<JobRow | null> {
    const row = this.#s.get.get(params.id) as StoredJobRow | undefined
    return row ? toJobRow(row) : null
  }

  async jobList(params: { queue?: string; name?: string; state?: JobState; limit: number; before?: string }): Promise<JobRow[]> {
    const rows = this.#s.list.all({
      queue: params.queue ?? null,
      name: params.name ?? null,
      state: params.state ?? null,
      before: params.before ?? null,
      limit: params.limit,
    }) as StoredJobRow[]
    return rows.map(toJobRow)
  }

  async jobCounts(params: { queue?: string } = {}): Promise<JobCount[]> {
    return this.#s.counts.all({ queue: params.queue ?? null }) as JobCount[]
  }

  async jobProgress(params: { id: string; workerId: string; fraction: number; message?: string }): Promise<void> {
    const progress = JSON.stringify({ fraction: params.fraction, ...(params.message === undefined ? {} : { message: params.message }) })
    this.#s.progress.run({ id: params.id, workerId: params.workerId, progress })
  }

  async jobPrune(params: { before: number; succeededBefore?: number; limit: number }): Promise<number> {
    const s = this.#s
    const pruned = s.prune.run({ before: params.before, succeededBefore: params.succeededBefore ?? params.before, limit: params.limit }).changes
    s.slotPrune.run(params.before)
    return pruned
  }

  async workerHeartbeat(params: { workerId: string; service: string; lease: number; takeover: boolean; now?: number }) {
    const s = this.#s
    const now = params.now ?? Date.now()
    return this.#conn.transaction(() => {
      let reclaimed = 0
      if (params.takeover) {
        const current = s.workerGet.get(params.workerId) as { heartbeatAt: number } | undefined
        if (current && current.heartbeatAt > now - params.lease) return { ok: false, reclaimed: 0 }
        reclaimed = s.rescueWorker.run({ workerId: params.workerId, now, error: LEASE_EXPIRED_JSON }).changes
      }
      s.workerUpsert.run({ id: params.workerId, service: params.service, now })
      return { ok: true, reclaimed }
    }).immediate()
  }

  async workerRemove(params: { workerId: string }): Promise<void> {
    this.#s.workerRemove.run(params.workerId)
  }

  async scheduleFire(params: { schedule: string; slot: number; job: JobInsert; now?: number }) {
    const now = params.now ?? Date.now()
    const s = this.#s
    return this.#conn.transaction(() => {
      if (s.slotInsert.run({ schedule: params.schedule, slot: params.slot, jobId: params.job.id, now }).changes === 0) {
        return { won: false }
      }
      const job = params.job
      const info = s.insert.run(insertParams(job, now))
      return { won: true, jobId: info.changes === 1 ? job.id : (s.liveByUnique.get(job.uniqueKey ?? '') as { id: string } | undefined)?.id }
    }).immediate()
  }

  async scheduleLastSlot(params: { schedule: string }): Promise<number | null> {
    return (this.#s.slotLast.get(params.schedule) as { slot: number | null }).slot
  }
}

/** The named parameters of INSERT_JOB for one job. */
function insertParams(job: JobInsert, now: number) {
  return {
    id: job.id,
    queue: job.queue,
    name: job.name,
    payload: job.payload,
    state: job.runAt > now ? 'scheduled' : 'queued',
    priority: job.priority,
    maxAttempts: job.maxAttempts,
    runAt: job.runAt,
    now,
    uniqueKey: job.uniqueKey ?? null,
    rateKey: job.rateKey ?? null,
    rateLimit: job.rateLimit ?? null,
    ratePer: job.ratePer ?? null,
    concurrencyKey: job.concurrencyKey ?? null,
    concurrencyLimit: job.concurrencyLimit ?? null,
    timeoutMs: job.timeoutMs ?? null,
  }
}


const LIST = `SELECT ${Q.JOB_COLUMNS} FROM afterwork_jobs
  WHERE (@queue IS NULL OR queue = @queue) AND (@name IS NULL OR name = @name) AND (@state IS NULL OR state = @state)
    AND (@before IS NULL OR id < @before)
  ORDER BY id DESC LIMIT @limit`

function prepare(db: Database.Database) {
  return {
    insert: db.prepare(Q.INSERT_JOB),
    liveByUnique: db.prepare(Q.LIVE_BY_UNIQUE_KEY),
    claimCandidates: db.prepare(Q.CLAIM_CANDIDATES),
    claimProbe: db.prepare(Q.CLAIM_PROBE),
    claim: db.prepare(Q.CLAIM_JOBS),
    countStartedSince: db.prepare(Q.COUNT_STARTED_SINCE),
    countRunningWithKey: db.prepare(Q.COUNT_RUNNING_WITH_KEY),
    heartbeat: db.prepare(Q.HEARTBEAT_JOBS),
    succeeded: db.prepare(Q.COMPLETE_SUCCEEDED),
    succeededDiscard: db.prepare(Q.COMPLETE_SUCCEEDED_DISCARD),
    failed: db.prepare(Q.COMPLETE_FAILED),
    cancelled: db.prepare(Q.COMPLETE_CANCELLED),
    snoozed: db.prepare(Q.COMPLETE_SNOOZED),
    released: db.prepare(Q.COMPLETE_RELEASED),
    rescueExpired: db.prepare(Q.RESCUE_EXPIRED),
    rescueWorker: db.prepare(Q.RESCUE_WORKER),
    cancelWaiting: db.prepare(Q.CANCEL_WAITING),
    cancelRunning: db.prepare(Q.CANCEL_RUNNING),
    retry: db.prepare(Q.RETRY_JOB),
    get: db.prepare(Q.GET_JOB),
    list: db.prepare(LIST),
    counts: db.prepare(Q.COUNT_JOBS),
    progress: db.prepare(Q.JOB_PROGRESS),
    prune: db.prepare(Q.PRUNE_FINISHED),
    workerGet: db.prepare(Q.WORKER_GET),
    workerUpsert: db.prepare(Q.WORKER_UPSERT),
    workerRemove: db.prepare(Q.WORKER_REMOVE),
    slotInsert: db.prepare(Q.SLOT_INSERT),
    slotLast: db.prepare(Q.SLOT_LAST),
    slotPrune: db.prepare(Q.SLOT_PRUNE),
  }
}
