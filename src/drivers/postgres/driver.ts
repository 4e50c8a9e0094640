import { createHash } from 'node:crypto'
import pg from 'pg'
import type { JobState } from '../../core/job-state.js'
import { toMs, type Duration } from '../../core/duration.js'
import { AfterworkError, invalidOption } from '../../core/errors.js'
import { pickClaimable, type ClaimCandidate } from '../../queue/claim-rules.js'
import type { Completion, JobCount, JobInsert, JobInsertResult, JobRow, QueueDriver } from '../../queue/driver.js'
import { numberOrNull, LEASE_EXPIRED_JSON, toJobRow, type StoredJobRow } from '../job-row.js'
import { migrations } from './migrations.js'
import { queries } from './queries.js'

type Succeeded = Extract<Completion, { outcome: 'succeeded' }>

/** Anything with `query(text, values)`: a pg Client or PoolClient, or a Drizzle or Kysely transaction's. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[]; rowCount?: number | null }>
}

export interface PostgresOptions {
  /** A connection string (`postgres://user@host:5432/db`). Either this or `pool`. */
  url?: string
  /** Your own pg Pool (its error handler stays yours). */
  pool?: pg.Pool
  /** The schema of afterwork's tables; the LISTEN channel includes it. @default 'afterwork' */
  schema?: string
  /** `auto` runs pending migrations at start; `check` refuses to start when any is pending (run `afterwork migrate`). @default 'auto' */
  migrate?: 'auto' | 'check'
  /** Connections of the pool it creates. @default 10 */
  max?: number
  /**
   * How long the pool it creates waits for a connection (a new one, or a free one when all are
   * busy) before the query fails and is retried: a database behind a dead network would otherwise
   * hold a claim or a write forever (pg's own default). @default '10s'
   */
  connectTimeout?: Duration
  /** Called with connection errors the driver recovers from (a database restart, say). */
  onError?: (error: unknown) => void
}

/** Most candidates one claim locks: enough to skip rate-limited jobs at the head without starving. */
const CANDIDATE_FACTOR = 4
const MAX_CANDIDATES = 1_000
const SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/


/**
 * The durable queue on PostgreSQL, for many machines: batched claims with `FOR UPDATE SKIP LOCKED`,
 * batched completions, enqueue inside your own transaction (`tx`), LISTEN/NOTIFY wake-ups with
 * polling as the safety net, migrations under an advisory lock, and the database's clock.
 *
 * @example
 * const svc = createService({ queue: postgres({ url: process.env.DATABASE_URL }) })
 * await pool.query('BEGIN'); ...; await email.enqueue(msg, { tx: client }); await pool.query('COMMIT')
 */
export function postgres(opts: PostgresOptions): QueueDriver<Queryable> {
  return new PostgresDriver(opts)
}


type ClaimParams = Parameters<QueueDriver['jobClaim']>[0]

interface Prepared {
  name: string
  text: string
}

/**
 * A statement named for pg to prepare on each pool connection at first use and then only bind and
 * execute: parsing and planning the one-statement enqueue took 0.6 ms of its 1.2 ms round trip
 * without the commit's flush (issue 7), all of it on the way to a pick-up. Only statements whose plan
 * cannot depend on the table's statistics are prepared (a generic plan made on a small table is kept
 * after a bulk insert): the enqueue reads no table, and the claim is a call of claim_unkeyed(), which
 * plans its own query (migration 3). The name is derived from the text, as one connection may serve
 * drivers of several schemas and a name must always mean the same text. Statements in the caller's
 * `tx` are not prepared (a Queryable takes text only). A later migration that changes what these
 * statements return (claim_unkeyed()'s columns, say) must use a new name: processes still running
 * would fail with "cached plan must not change result type".
 */
function prepared(text: string): Prepared {
  return { name: `afterwork_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`, text }
}

/** A one-job column's value: the array's only element, or a scalar parameter as is. */
const only = (value: unknown): unknown => (Array.isArray(value) ? (value[0] as unknown) : value)

// bigint columns hold epoch milliseconds, well inside a double: read them as numbers.
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === 20 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
}

class PostgresDriver implements QueueDriver<Queryable> {
  readonly kind = 'postgres'
  /**
   * Each claim and completion is a round trip to another process, and PostgreSQL's cost per
   * statement (a backend wake-up, planning, a commit) is shared by its rows. Claims of 100 left a
   * worker draining short jobs waiting on claims: 10,000 no-op jobs drained in 551 ms (median of 4)
   * with batches of 100 and in 420-475 ms with 500 or 1,000 (bench/RESULTS.md, eighth session).
   * The adaptive prefetch still starts at one round of slots and grows only while slots stand idle.
   */
  readonly batchDefaults = { claimBatch: 500, completionBatch: 500 }
  readonly #opts: PostgresOptions
  readonly #schema: string
  readonly #q: ReturnType<typeof queries>
  /** The hot statements sent on the pool, prepared once per connection. */
  readonly #prepared: { insertJob: Prepared; insertJobClaimed: Prepared; insertJobsOrFail: Prepared; claimUnkeyed: Prepared }
  readonly #channel: string
  readonly #pool: pg.Pool
  readonly #ownPool: boolean
  /** Queues whose last claim met rate or concurrency keys among its candidates. */
  readonly #keyedQueues = new Set<string>()
  #migrated: Promise<void> | undefined

  constructor(opts: PostgresOptions) {
    this.#opts = opts
    this.#schema = opts.schema ?? 'afterwork'
    if (!SCHEMA.test(this.#schema)) invalidOption('postgres schema', this.#schema, 'a lower-case SQL identifier')
    this.#q = queries(this.#schema)
    this.#prepared = {
      insertJob: prepared(this.#q.insertJob),
      insertJobClaimed: prepared(this.#q.insertJobClaimed),
      insertJobsOrFail: prepared(this.#q.insertJobsOrFail),
      claimUnkeyed: prepared(this.#q.claimUnkeyed),
    }
    this.#channel = `afterwork_${this.#schema}`
    if (opts.pool) {
      this.#pool = opts.pool
      this.#ownPool = false
    } else {
      if (!opts.url) invalidOption('postgres url', opts.url, 'a connection string (or pass a pool)')
      const connectionTimeoutMillis = toMs(opts.connectTimeout ?? '10s', 'postgres connectTimeout')
      // keepAlive: the OS notices a peer that vanished without closing the connection.
      this.#pool = new pg.Pool({ connectionString: opts.url, max: opts.max ?? 10, types, connectionTimeoutMillis, keepAlive: true })
      this.#ownPool = true
      // Without an error listener an idle client's error (a database restart) crashes the process.
      this.#pool.on('error', (error) => this.#opts.onError?.(error))
    }
  }

  async migrate(params: { apply?: boolean } = {}): Promise<void> {
    this.#migrated ??= this.#migrate(params.apply === true).catch((error: unknown) => {
      this.#migrated = undefined
      throw error
    })
    return this.#migrated
  }

  async #migrate(apply: boolean): Promise<void> {
    await this.#transaction(async (c) => {
      // One migrator at a time across every process; the others then find nothing to do.
      await c.query(this.#q.lockKey, [`afterwork:migrate:${this.#schema}`])
      await c.query(`CREATE SCHEMA IF NOT EXISTS "${this.#schema}"`)
      await c.query(this.#q.migrationsTable)
      const applied = new Set(((await c.query(this.#q.appliedVersions)).rows as { version: number }[]).map((r) => r.version))
      const pending = migrations.map((sql, i) => ({ sql, version: i + 1 })).filter((m) => !applied.has(m.version))
      if (pending.length > 0 && this.#opts.migrate === 'check' && !apply) {
        throw new AfterworkError('ERR_QUEUE_MIGRATION_PENDING', `The afterwork schema "${this.#schema}" needs ${pending.length} migration(s): run \`afterwork migrate <module>\``)
      }
      for (const m of pending) {
        await c.query(m.sql.replaceAll('{schema}', `"${this.#schema}"`))
        await c.query(this.#q.recordMigration, [m.version])
      }
    })
  }

  async close(): Promise<void> {
    if (this.#ownPool) await this.#pool.end()
  }

  /**
   * Inserts and NOTIFYs the jobs' queues in one statement. Without `tx` and without unique keys it
   * is the whole call, autocommitted; a taken id fails it whole, and the transaction then reports
   * that id as always. Unique keys keep the transaction: a conflict's holder is looked up after the
   * insert, and if it finished meanwhile the batch must roll back. Inside the caller's `tx` the
   * NOTIFY goes out only if that transaction commits.
   */
  async jobInsertMany(params: { jobs: readonly JobInsert[]; now?: number; tx?: Queryable }): Promise<JobInsertResult[]> {
    const { jobs, now } = params
    if (jobs.length === 0) return []
    const { tx } = params
    if (tx) return this.#insert(tx, jobs, now, (values) => tx.query(this.#q.insertJobs, values))
    if (jobs.every((j) => j.uniqueKey === undefined)) {
      // One job (an enqueue) as plain parameters; a batch as arrays.
      const statement = jobs.length === 1 ? this.#prepared.insertJob : this.#prepared.insertJobsOrFail
      const flat = jobs.length === 1
      try {
        return await this.#insert(this.#pool, jobs, now, (values) => this.#pool.query({ ...statement, values: flat ? values.map(only) : values }))
      } catch (error) {
        if ((error as { code?: string }).code !== '23505') throw error
      }
    }
    return this.#transaction((c) => this.#insert(c, jobs, now, (values) => c.query(this.#q.insertJobs, values)))
  }

  /** Inserts the jobs, as parallel arrays, through `insert` (the statement and connection the caller chose); looks up unique-key holders on `c`. */
  async #insert(
    c: Queryable,
    jobs: readonly JobInsert[],
    now: number | undefined,
    insert: (values: unknown[]) => Promise<{ rows: unknown[] }>,
  ): Promise<JobInsertResult[]> {
    const col = <K extends keyof JobInsert>(key: K) => jobs.map((j) => j[key] ?? null)
    const inserted = await insert([
      col('id'), col('queue'), col('name'), col('payload'), col('priority'), col('maxAttempts'), col('runAt'), col('uniqueKey'),
      col('rateKey'), col('rateLimit'), col('ratePer'), col('concurrencyKey'), col('concurrencyLimit'), col('timeoutMs'),
      now ?? null, this.#channel,
    ])
    const ids = new Set((inserted.rows as { id: string }[]).map((r) => r.id))
    const conflicted = jobs.filter((j) => !ids.has(j.id))
    const holders = new Map<string, string>()
    const keys = conflicted.map((j) => j.uniqueKey).filter((k): k is string => k !== undefined)
    // A conflict without a unique key is a taken id: nothing to look up, it throws below.
    if (keys.length > 0) {
      for (const r of (await c.query(this.#q.liveByUniqueKeys, [keys])).rows as { id: string; unique_key: string }[]) holders.set(r.unique_key, r.id)
    }
    return jobs.map((j): JobInsertResult => {
      if (ids.has(j.id)) return { id: j.id, inserted: true }
      const holder = j.uniqueKey === undefined ? undefined : holders.get(j.uniqueKey)
      if (holder === undefined) throw new Error(`Job ${j.id} was not inserted (id taken, or its unique key's holder finished meanwhile)`)
      return { id: j.id, inserted: false, conflictId: holder }
    })
  }

  /** One due job without keys, inserted already claimed by the enqueuing process's own worker. */
  async jobInsertClaimed(params: { job: JobInsert; workerId: string; lease: number; now?: number }): Promise<JobRow> {
    const { job } = params
    const values = [job.id, job.queue, job.name, job.payload, job.priority, job.maxAttempts, job.timeoutMs ?? null, params.workerId, params.lease, params.now ?? null]
    const [row] = (await this.#pool.query({ ...this.#prepared.insertJobClaimed, values })).rows as StoredJobRow[]
    return toJobRow(row as StoredJobRow)
  }

  /**
   * Jobs without rate or concurrency keys, the common case, are claimed by one autocommitted
   * statement. Keys need counting under advisory locks, in a transaction: a queue whose last claim
   * met keys goes straight there, until a claim meets none.
   */
  async jobClaim(params: ClaimParams): Promise<JobRow[]> {
    if (!this.#keyedQueues.has(params.queue)) {
      const limit = Math.min(MAX_CANDIDATES, params.limit)
      const values = [params.queue, params.names, params.workerId, limit, params.lease, params.now ?? null]
      const rows = (await this.#pool.query({ ...this.#prepared.claimUnkeyed, values }))
        .rows as (StoredJobRow & { keyed: boolean })[]
      if (rows[0]?.keyed !== true) return rows.filter((r) => r.id !== null).map(toJobRow)
      this.#keyedQueues.add(params.queue)
    }
    return this.#claimKeyed(params)
  }

  async #claimKeyed(params: ClaimParams): Promise<JobRow[]> {
    return this.#transaction(async (c) => {
      const now = await this.#now(c, params.now)
      const candidates = (await c.query(this.#q.claimCandidates, [params.queue, now, params.names, Math.min(MAX_CANDIDATES, params.limit * CANDIDATE_FACTOR)]))
        .rows as (ClaimCandidate & { id: string })[]
      const keys = [...new Set(candidates.flatMap((c) => [c.rateKey && `rate:${c.rateKey}`, c.concurrencyKey && `concurrency:${c.concurrencyKey}`]).filter(Boolean))] as string[]
      if (keys.length === 0) this.#keyedQueues.delete(params.queue)
      if (candidates.length === 0) return []
      let picked = candidates.slice(0, params.limit)
      if (keys.length > 0) {
        // Counting then claiming must not race another claimer counting the same key: lock each
        // key for this transaction (in sorted order, so two claimers never deadlock).
        for (const key of keys.sort()) await c.query(this.#q.lockKey, [`afterwork:${this.#schema}:${key}`])
        const started = new Map<string, number>()
        const running = new Map<string, number>()
        for (const cand of candidates) {
          if (cand.rateKey && cand.ratePer != null && !started.has(cand.rateKey)) {
            started.set(cand.rateKey, ((await c.query(this.#q.countStartedSince, [cand.rateKey, now - cand.ratePer])).rows[0] as { n: number }).n)
          }
          if (cand.concurrencyKey && !running.has(cand.concurrencyKey)) {
            running.set(cand.concurrencyKey, ((await c.query(this.#q.countRunningWithKey, [cand.concurrencyKey])).rows[0] as { n: number }).n)
          }
        }
        picked = pickClaimable(candidates, params.limit, (key) => started.get(key) ?? 0, (key) => running.get(key) ?? 0, now)
      }
      if (picked.length === 0) return []
      const rows = (await c.query(this.#q.claim, [picked.map((p) => p.id), now, params.workerId, now + params.lease])).rows as StoredJobRow[]
      const order = new Map(picked.map((p, i) => [p.id, i]))
      return rows.sort((a, b) => (order.get(a.id) as number) - (order.get(b.id) as number)).map(toJobRow)
    }, this.#q.claimBegin)
  }

  async jobHeartbeat(params: { workerId: string; ids: readonly string[]; lease: number; now?: number }) {
    const rows = (await this.#pool.query(this.#q.heartbeat, [params.workerId, params.ids, params.lease, params.now ?? null])).rows as {
      id: string
      cancelRequested: boolean
    }[]
    const owned = new Set(rows.map((r) => r.id))
    return { cancelRequested: rows.filter((r) => r.cancelRequested).map((r) => r.id), lost: params.ids.filter((id) => !owned.has(id)) }
  }

  async jobCompleteMany(params: { workerId: string; completions: readonly Completion[]; now?: number }): Promise<void> {
    const { workerId } = params
    const now = params.now ?? null
    const kept: Succeeded[] = []
    const discarded: Succeeded[] = []
    for (const x of params.completions) if (x.outcome === 'succeeded') (x.discard ? discarded : kept).push(x)
    const args = (batch: Succeeded[]) => [batch.map((x) => x.id), batch.map((x) => x.result), workerId, now]
    const statements: [string, unknown[]][] = []
    if (kept.length > 0) statements.push([this.#q.succeeded, args(kept)])
    if (discarded.length > 0) statements.push([this.#q.succeededDiscard, args(discarded)])
    // The common batch, all succeeded alike, is one statement: no transaction to open and commit.
    if (kept.length + discarded.length === params.completions.length && statements.length <= 1) {
      const [only] = statements
      if (only) await this.#pool.query(only[0], only[1])
      return
    }
    await this.#transaction(async (c) => {
      for (const [text, values] of statements) await c.query(text, values)
      for (const x of params.completions) {
        switch (x.outcome) {
          case 'failed':
            await c.query(this.#q.failed, [x.id, workerId, x.retryAt ?? null, JSON.stringify(x.error), now])
            break
          case 'cancelled':
            await c.query(this.#q.cancelled, [x.id, workerId, x.error ? JSON.stringify(x.error) : null, now])
            break
          case 'snoozed':
            await c.query(this.#q.snoozed, [x.id, workerId, x.runAt])
            break
          case 'released':
            await c.query(this.#q.released, [x.id, workerId, now])
            break
          default:
            break
        }
      }
    })
  }

  async jobRescue(params: { now?: number; limit?: number }): Promise<number> {
    const result = await this.#pool.query(this.#q.rescueExpired, [params.now ?? null, params.limit ?? 1_000, LEASE_EXPIRED_JSON])
    const queues = [...new Set((result.rows as { queue: string }[]).map((r) => r.queue))]
    if (queues.length > 0) await this.#pool.query(this.#q.notify, [this.#channel, queues])
    return result.rowCount ?? 0
  }

  async jobCancel(params: { id: string; now?: number }): Promise<JobRow | null> {
    return this.#transaction(async (c) => {
      if (((await c.query(this.#q.cancelWaiting, [params.id, params.now ?? null])).rowCount ?? 0) === 0) await c.query(this.#q.cancelRunning, [params.id])
      const row = (await c.query(this.#q.get, [params.id])).rows[0] as StoredJobRow | undefined
      return row ? toJobRow(row) : null
    })
  }

  async jobRetry(params: { id: string; now?: number }): Promise<JobRow | null> {
    try {
      const row = (await this.#pool.query(this.#q.retry, [params.id, params.now ?? null])).rows[0] as StoredJobRow | undefined
      if (row) await this.#pool.query(this.#q.notify, [this.#channel, [row.queue]])
      return row ? toJobRow(row) : null
    } catch (error) {
      // Another live job holds its unique key: it cannot run again until that one finishes.
      if ((error as { code?: string }).code === '23505') return null
      throw error
    }
  }

  async jobGet(params: { id: string }): Promise<JobRow | null> {
    const row = (await this.#pool.query(this.#q.get, [params.id])).rows[0] as StoredJobRow | undefined
    return row ? toJobRow(row) : null
  }

  async jobList(params: { queue?: string; name?: string; state?: JobState; limit: number; before?: string }): Promise<JobRow[]> {
    const rows = (await this.#pool.query(this.#q.list, [params.queue ?? null, params.name ?? null, params.state ?? null, params.before ?? null, params.limit]))
      .rows as StoredJobRow[]
    return rows.map(toJobRow)
  }

  async jobCounts(params: { queue?: string } = {}): Promise<JobCount[]> {
    return (await this.#pool.query(this.#q.counts, [params.queue ?? null])).rows as JobCount[]
  }

  async jobProgress(params: { id: string; workerId: string; fraction: number; message?: string }): Promise<void> {
    const progress = JSON.stringify({ fraction: params.fraction, ...(params.message === undefined ? {} : { message: params.message }) })
    await this.#pool.query(this.#q.progress, [params.id, params.workerId, progress])
  }

  async jobPrune(params: { before: number; succeededBefore?: number; limit: number }): Promise<number> {
    const pruned = (await this.#pool.query(this.#q.prune, [params.before, params.limit, params.succeededBefore ?? params.before])).rowCount ?? 0
    await this.#pool.query(this.#q.slotPrune, [params.before])
    return pruned
  }

  async workerHeartbeat(params: { workerId: string; service: string; lease: number; takeover: boolean; now?: number }) {
    return this.#transaction(async (c) => {
      const now = await this.#now(c, params.now)
      let reclaimed = 0
      if (params.takeover) {
        const current = (await c.query(this.#q.workerGet, [params.workerId])).rows[0] as { heartbeatAt: number } | undefined
        if (current && Number(current.heartbeatAt) > now - params.lease) return { ok: false, reclaimed: 0 }
        reclaimed = (await c.query(this.#q.rescueWorker, [params.workerId, now, LEASE_EXPIRED_JSON])).rowCount ?? 0
      }
      await c.query(this.#q.workerUpsert, [params.workerId, params.service, now])
      return { ok: true, reclaimed }
    })
  }

  async workerRemove(params: { workerId: string }): Promise<void> {
    await this.#pool.query(this.#q.workerRemove, [params.workerId])
  }

  async scheduleFire(params: { schedule: string; slot: number; job: JobInsert; now?: number }) {
    return this.#transaction(async (c) => {
      const now = await this.#now(c, params.now)
      if (((await c.query(this.#q.slotInsert, [params.schedule, params.slot, params.job.id, now])).rowCount ?? 0) === 0) return { won: false }
      const [result] = await this.jobInsertMany({ jobs: [params.job], now, tx: c })
      return { won: true, jobId: result?.inserted ? result.id : result?.conflictId }
    })
  }

  async scheduleLastSlot(params: { schedule: string }): Promise<number | null> {
    return numberOrNull(((await this.#pool.query(this.#q.slotLast, [params.schedule])).rows[0] as { slot: number | string | null }).slot)
  }

  /**
   * LISTENs on one dedicated connection (a pooled one would lose its LISTEN when returned, and would
   * hold one of the pool's connections for good), opened with the pool's own settings: the caller's
   * pool when one was given (its host, user, password, ssl and client class), else the driver's.
   * On an error or end it reconnects with backoff, listens again, and wakes every queue once, since
   * notifications sent while it was away are gone.
   */
  async listen(params: { onWake: (queue: string) => void; signal: AbortSignal }): Promise<void> {
    const { signal } = params
    let attempt = 0
    // The options object itself, not a copy: pg-pool keeps the password (and ssl.key) on it as a
    // non-enumerable property, which a spread would drop.
    const settings = this.#pool.options
    // The class the pool makes its clients with (pg's, pg.native's, or the `Client` option): pg-pool
    // keeps it on the pool, untyped.
    const Client = (this.#pool as unknown as { Client?: new (config: pg.ClientConfig) => pg.Client }).Client ?? pg.Client
    const connect = async (): Promise<void> => {
      if (signal.aborted) return
      const client = new Client(settings)
      let closed = false
      const retry = (error?: unknown) => {
        if (closed) return
        closed = true
        if (error) this.#opts.onError?.(error)
        client.end().catch(() => {})
        if (signal.aborted) return
        const delay = Math.min(30_000, 100 * 2 ** attempt++)
        setTimeout(() => void connect().then(() => params.onWake('*')), delay).unref()
      }
      client.on('error', retry)
      client.on('end', () => retry())
      client.on('notification', (msg) => params.onWake(msg.payload ?? '*'))
      signal.addEventListener('abort', () => ((closed = true), void client.end().catch(() => {})), { once: true })
      try {
        await client.connect()
        await client.query(`LISTEN "${this.#channel}"`)
        attempt = 0
      } catch (error) {
        retry(error)
      }
    }
    await connect()
  }

  async #now(c: Queryable, now: number | undefined): Promise<number> {
    return now ?? Number(((await c.query(this.#q.now, [null])).rows[0] as { now: number | string }).now)
  }

  /** Runs `fn` between `begin` (BEGIN, possibly with SET LOCAL settings, in one round trip) and COMMIT, on one pooled client. */
  async #transaction<T>(fn: (c: pg.PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
    const client = await this.#pool.connect()
    let broken: Error | undefined
    try {
      await client.query(begin)
      const result = await fn(client)
      await client.query('COMMIT')
      return result
    } catch (error) {
      // A failed ROLLBACK means the connection itself is gone: the pool must drop it, not reuse it.
      await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError))
      throw error
    } finally {
      client.release(broken)
    }
  }
}
