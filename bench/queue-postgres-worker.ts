/**
 * One measurement for bench/queue-postgres.ts, in a fresh process; prints one JSON line on stdout
 * (the last line; `drain` and `latency-worker` print an `{"event":"started"}` line first). Runs under
 * Node 24 (graphile-worker 0.18 and pg-boss 12 need Node 22+; they live in bench/anchors/node_modules).
 *
 *   node --conditions=afterwork-source --import tsx bench/queue-postgres-worker.ts <measure> <impl> [flags]
 *
 * Measures:
 * - enqueue --mode single|batch --jobs N --batch B: N no-op jobs, one awaited call each or B per call.
 * - fill --jobs N --batch B [--task warm]: stores N queued jobs for a later drain (not timed for the
 *   report); `--task warm` (afterwork) stores warm-up jobs, in their own queue, for `drain --warm`.
 * - drain --jobs N --concurrency C [--marks 1000,10000] [--cap MS]: runs N queued no-op jobs; time
 *   from worker start until the N-th job's outcome is committed (see below), this process's CPU
 *   time and peak RSS (this process holds only the worker), and PostgreSQL's (or Redis's) CPU time.
 *   With --cap, stops after MS ms and reports how many finished by then. With --warm W (afterwork),
 *   the worker first runs W warm-up jobs (stored by `fill --task warm`), then registers the no-op
 *   task: times and CPU run from then, in a warm process. With --refill R (afterwork), each R-th
 *   success enqueues R more jobs (one enqueueMany from this process), so the queue's depth holds
 *   steady while the marks time a window in the middle: the steady-state rate at that depth.
 * - latency --where same|separate --jobs N --gap MS: N jobs enqueued MS apart; pick-up = handler
 *   start minus the time taken just before the enqueue call. `separate` spawns a `latency-worker`
 *   child as the worker process (woken by LISTEN/NOTIFY, or Redis for BullMQ).
 * - latency-worker: the worker process of a `separate` latency run.
 *
 * Implementations (`impl`), each in the schema given by --schema (PostgreSQL) or the queue --queue
 * (BullMQ), both fresh per measurement:
 * - afterwork: `createService({ queue: postgres({ url, schema }), worker: { concurrency } })`, defaults
 *   otherwise (claims of up to 100, completions up to 100 per transaction, pool of 10).
 * - graphile: graphile-worker `run()` with its defaults: one job fetched per worker slot, one
 *   completion statement per job. `maxPoolSize` is max(10, C + 2), as its docs recommend.
 * - graphile-batch: the same with the batching its performance page documents: `localQueue.size`
 *   500, `completeJobBatchDelay` 0, `failJobBatchDelay` 0.
 * - pgboss: pg-boss `work()` with its defaults: `localConcurrency` C workers, each fetching one job
 *   and then waiting `pollingIntervalSeconds` (2 s) before the next fetch.
 * - pgboss-fast: one `work()` with `batchSize` C, `burstWhenBatchFull` (fetch again at once while
 *   fetches come back full), `pollingIntervalSeconds` 0.5 (the minimum), and LISTEN/NOTIFY
 *   (`useListenNotify` and a queue created with `notify: true`); the C jobs of a batch run at once.
 * - bullmq: BullMQ on the local Redis, `Worker` with `concurrency` C.
 *
 * When is a job done: afterwork emits `job:succeeded` and BullMQ `completed` after the outcome is
 * stored. graphile-worker emits `job:success` before its (possibly batched) completion statement,
 * and pg-boss completes a batch after the handler returns, so for those the drain ends when a
 * separate connection, polling every 2 ms after the N-th handler returned, finds no job left
 * unfinished. `handlerMs` is the time to the N-th handler's return for every library.
 *
 * Tasks use a pass-through Standard Schema, so the figures are the queue's and not a validator's.
 * Each library is imported only by the runs that use it, so one's modules never weigh on another's RSS.
 */


import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'

import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import type { StandardSchemaV1 } from '@standard-schema/spec'
import type { AnyService, WorkerOptions } from 'afterwork'
import { bullConnection, cpuUs, deferred, emit, epochNow, paced, postgresCpuUs, redisCpuUs, spawnChild } from './harness.js'

// Only types are exported: importing a value would run a measurement in the importing process.
const measures = ['enqueue', 'fill', 'drain', 'latency', 'latency-worker'] as const
export type Measure = (typeof measures)[number]
const impls = ['afterwork', 'graphile', 'graphile-batch', 'pgboss', 'pgboss-fast', 'bullmq'] as const
export type Impl = (typeof impls)[number]

export interface EnqueueResult {
  measure: 'enqueue'
  impl: Impl
  mode: 'single' | 'batch'
  jobs: number
  batch: number
  ms: number
  /** user + system CPU of this process, µs. */
  cpuUs: number
  /** Jobs the store holds afterwards: a sanity check. */
  stored: number
}

export interface FillResult {
  measure: 'fill'
  impl: Impl
  jobs: number
  ms: number
}

export interface DrainResult {
  measure: 'drain'
  impl: Impl
  jobs: number
  concurrency: number
  /** Worker start to the N-th job's outcome stored (see the header), in ms; the cap when capped. */
  ms: number
  /** Worker start to the N-th handler's return, in ms (NaN when capped). */
  handlerMs: number
  /** Set when the run was stopped at --cap before N jobs finished. */
  capped: boolean
  /** Jobs whose handler returned within `ms` (all N unless capped). */
  finished: number
  /** Worker start to the first job's start, in ms: connecting, registering and the first claim. */
  firstMs: number
  /** This process's CPU time (user + system, µs) when the first job started. */
  firstCpuUs: number
  /** ms from start to the k-th finished job, and this process's CPU time then (µs), for each requested mark k. */
  marks: { count: number; ms: number; cpuUs: number }[]
  /** user + system CPU of this process across the drain, in µs. */
  cpuUs: number
  /** The same from the first job's start, in µs. */
  cpuFromFirstUs: number
  /** The store's CPU across the drain, µs: every postgres process (PostgreSQL) or Redis's INFO. */
  storeCpuUs: number
  /** process.resourceUsage().maxRSS when the N-th handler returned, in bytes. */
  maxRssBytes: number
  /** Jobs the store reports as finished successfully after the drain. */
  succeeded: number
}

export interface LatencyResult {
  measure: 'latency'
  impl: Impl
  where: 'same' | 'separate'
  /** Pick-up latency of every job in ms, in enqueue order. */
  samples: number[]
}

export interface LatencyWorkerResult {
  measure: 'latency-worker'
  impl: Impl
  samples: number[]
}

export type WorkerResult = EnqueueResult | FillResult | DrainResult | LatencyResult | LatencyWorkerResult

interface Flags {
  url: string
  schema: string
  queue: string
  redis: string
  jobs: number
  batch: number
  concurrency: number
  mode: 'single' | 'batch'
  where: 'same' | 'separate'
  gap: number
  marks: number[]
  cap: number
  /** afterwork's worker prefetch; undefined: its default. */
  prefetch: number | undefined
  /** fill: the task to enqueue (`warm`: the warm-up task, in its own queue; afterwork only). */
  task: string
  /** drain: warm-up jobs to run (the `warm` task) before the measured TASK jobs; afterwork only. */
  warm: number
  /** drain: enqueue this many more jobs at every this-many-th success (0: none); afterwork only. */
  refill: number
  /** afterwork's worker.retention.succeeded; undefined: its default. */
  retentionSucceeded: number | string | undefined
}

const TASK = 'noop'
/** The task a drain with --warm runs first, in its own queue, before registering TASK. */
const WARM = 'warm'
const selfScript = fileURLToPath(import.meta.url)
/** How often the done-check polls the store after the N-th handler returned. */
const DONE_POLL_MS = 2

interface Payload {
  i?: number
  t?: number
}

/** Accepts any payload as is: the bench measures the queue, not a validator. */
const anything: StandardSchemaV1<Payload, Payload> = {
  '~standard': { version: 1, vendor: 'bench', validate: (value) => ({ value: value as Payload }) },
}

function readArgs(): { measure: Measure; impl: Impl; flags: Flags } {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      url: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
      schema: { type: 'string', default: '' },
      queue: { type: 'string', default: 'bench' },
      redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
      jobs: { type: 'string', default: '10000' },
      batch: { type: 'string', default: '1000' },
      concurrency: { type: 'string', default: '10' },
      mode: { type: 'string', default: 'single' },
      where: { type: 'string', default: 'same' },
      gap: { type: 'string', default: '10' },
      marks: { type: 'string', default: '' },
      cap: { type: 'string', default: '0' },
      prefetch: { type: 'string', default: '' },
      'retention-succeeded': { type: 'string', default: '' },
      task: { type: 'string', default: TASK },
      warm: { type: 'string', default: '0' },
      refill: { type: 'string', default: '0' },
    },
  })
  const [measure, impl] = positionals
  if (!(measures as readonly string[]).includes(measure ?? '')) throw new Error(`measure must be one of ${measures.join(', ')}; got ${measure}`)
  if (!(impls as readonly string[]).includes(impl ?? '')) throw new Error(`impl must be one of ${impls.join(', ')}; got ${impl}`)
  const oneOf = <T extends string>(name: string, value: string, allowed: readonly T[]): T => {
    if (!(allowed as readonly string[]).includes(value)) throw new Error(`--${name} must be one of ${allowed.join(', ')}; got ${value}`)
    return value as T
  }
  const int = (name: string, value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be an integer >= 0; got ${value}`)
    return n
  }
  if (impl !== 'bullmq' && !/^[a-z_][a-z0-9_]{0,62}$/.test(values.schema)) throw new Error(`--schema must be a lower-case SQL identifier; got ${JSON.stringify(values.schema)}`)
  return {
    measure: measure as Measure,
    impl: impl as Impl,
    flags: {
      url: values.url,
      schema: values.schema,
      queue: values.queue,
      redis: values.redis,
      jobs: int('jobs', values.jobs),
      batch: int('batch', values.batch),
      concurrency: int('concurrency', values.concurrency),
      mode: oneOf('mode', values.mode, ['single', 'batch'] as const),
      where: oneOf('where', values.where, ['same', 'separate'] as const),
      gap: int('gap', values.gap),
      marks: values.marks === '' ? [] : values.marks.split(',').map((m) => int('marks', m)),
      cap: int('cap', values.cap),
      prefetch: values.prefetch === '' ? undefined : int('prefetch', values.prefetch),
      task: oneOf('task', values.task, [TASK, WARM] as const),
      warm: int('warm', values.warm),
      refill: int('refill', values.refill),
      // A bare number is milliseconds, as afterwork's Duration takes it; anything else is passed as text ('1h').
      retentionSucceeded: values['retention-succeeded'] === '' ? undefined : /^\d+$/.test(values['retention-succeeded']) ? Number(values['retention-succeeded']) : values['retention-succeeded'],
    },
  }
}

// ---------------------------------------------------------------------------------------------
// helpers (as in bench/queue-sqlite-worker.ts, which exports only types)

/** Counts finished jobs and resolves at `jobs`, noting when each mark was reached. */
function successCounter(jobs: number, marks: readonly number[], start: () => number) {
  const done = deferred<void>()
  const reached: { count: number; ms: number; cpuUs: number }[] = []
  let count = 0
  let firstMs = NaN
  let firstCpuUs = NaN
  return {
    done: done.promise,
    reached,
    get count() {
      return count
    },
    get firstMs() {
      return firstMs
    },
    get firstCpuUs() {
      return firstCpuUs
    },
    /** A job started. */
    started(): void {
      if (Number.isNaN(firstMs)) {
        firstMs = performance.now() - start()
        firstCpuUs = cpuUs()
      }
    },
    hit(): void {
      count++
      if (marks.includes(count)) reached.push({ count, ms: performance.now() - start(), cpuUs: cpuUs() })
      if (count === jobs) done.resolve()
    },
  }
}

/** A single pg client (the root pg module), for counts and done-checks. */
async function anchorClient(flags: Flags) {
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: flags.url })
  await client.connect()
  return client
}

/** Polls until `unfinished()` is 0; resolves with the time it first was. */
async function pollUntilNone(unfinished: () => Promise<number>): Promise<number> {
  for (;;) {
    if ((await unfinished()) === 0) return performance.now()
    await sleep(DONE_POLL_MS)
  }
}

// ---------------------------------------------------------------------------------------------
// afterwork

async function afterworkService(flags: Flags, worker: false | WorkerOptions, handler: (p: Payload) => void = () => {}, name: string = flags.task) {
  const { createService, silentLogger } = await import('afterwork')
  const { postgres } = await import('afterwork/postgres')
  const svc = createService({
    name: 'bench',
    logger: silentLogger,
    queue: postgres({ url: flags.url, schema: flags.schema }),
    worker,
    // A drain ends with stop(): let it finish what is running without waiting long.
    shutdown: { work: '5s' },
  })
  // The warm-up task has a queue of its own, so its claims never walk past the pending TASK jobs.
  const task = svc.task(name, { schema: anything, ...(name === WARM ? { queue: WARM } : {}) }, async (payload) => {
    handler(payload)
  })
  return { svc, task }
}

async function afterworkCount(svc: AnyService, state?: string, name?: string): Promise<number> {
  return (await svc.queue.counts())
    .filter((c) => (state === undefined || c.state === state) && (name === undefined || c.name === name))
    .reduce((sum, c) => sum + c.count, 0)
}

// ---------------------------------------------------------------------------------------------
// graphile-worker

async function graphileLogger() {
  const { Logger } = await import('./anchors/graphile-worker.ts')
  return new Logger(() => () => {})
}

async function graphileUtils(flags: Flags) {
  const { makeWorkerUtils } = await import('./anchors/graphile-worker.ts')
  const utils = await makeWorkerUtils({ connectionString: flags.url, schema: flags.schema, logger: await graphileLogger() })
  await utils.migrate()
  return utils
}

async function graphileRunner(impl: Impl, flags: Flags, concurrency: number, handler: (p: Payload) => void) {
  const { run } = await import('./anchors/graphile-worker.ts')
  const batching = impl === 'graphile-batch'
  return run({
    connectionString: flags.url,
    schema: flags.schema,
    concurrency,
    maxPoolSize: Math.max(10, concurrency + 2),
    noHandleSignals: true,
    logger: await graphileLogger(),
    taskList: {
      [TASK]: async (payload) => {
        handler(payload as Payload)
      },
    },
    ...(batching ? { preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } } } : {}),
  })
}

function graphileUnfinishedSql(flags: Flags): string {
  // Finished jobs are deleted; failed ones stay with attempts = max_attempts.
  return `SELECT count(*)::int AS n FROM "${flags.schema}"._private_jobs WHERE attempts < max_attempts OR locked_at IS NOT NULL`
}

// ---------------------------------------------------------------------------------------------
// pg-boss

async function pgBoss(impl: Impl, flags: Flags) {
  const { PgBoss } = await import('./anchors/pg-boss.ts')
  const fast = impl === 'pgboss-fast'
  const boss = new PgBoss({ connectionString: flags.url, schema: flags.schema, ...(fast ? { useListenNotify: true } : {}) })
  boss.on('error', (error) => process.stderr.write(`pg-boss error: ${String(error)}\n`))
  await boss.start()
  // createQueue is idempotent; the fill process made it with the same options.
  await boss.createQueue(TASK, fast ? { notify: true } : {})
  return boss
}

async function pgBossWork(impl: Impl, boss: Awaited<ReturnType<typeof pgBoss>>, concurrency: number, onJob: (p: Payload) => void, onDone: (n: number) => void) {
  if (impl === 'pgboss-fast') {
    await boss.work<Payload>(TASK, { batchSize: concurrency, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 }, async (jobs) => {
      // The batch's jobs run at once: concurrency C is one batch of C.
      await Promise.all(
        jobs.map(async (job) => {
          onJob(job.data)
        }),
      )
      onDone(jobs.length)
    })
  } else {
    await boss.work<Payload>(TASK, { localConcurrency: concurrency }, async (jobs) => {
      for (const job of jobs) onJob(job.data)
      onDone(jobs.length)
    })
  }
}

function pgBossUnfinishedSql(flags: Flags): string {
  return `SELECT count(*)::int AS n FROM "${flags.schema}".job WHERE name = '${TASK}' AND state < 'completed'`
}

function pgBossSucceededSql(flags: Flags): string {
  return `SELECT count(*)::int AS n FROM "${flags.schema}".job WHERE name = '${TASK}' AND state = 'completed'`
}

// ---------------------------------------------------------------------------------------------
// BullMQ on the local Redis

// ---------------------------------------------------------------------------------------------
// measures

async function enqueue(impl: Impl, flags: Flags): Promise<EnqueueResult> {
  const { jobs, batch, mode } = flags
  const payloads = Array.from({ length: jobs }, (_, i) => ({ i }))
  const chunks: Payload[][] = []
  for (let i = 0; i < jobs; i += batch) chunks.push(payloads.slice(i, i + batch))
  let t0 = 0
  let c0 = 0
  const begin = () => {
    c0 = cpuUs()
    t0 = performance.now()
  }
  let ms = 0
  let cpu = 0
  const end = () => {
    ms = performance.now() - t0
    cpu = cpuUs() - c0
  }
  let stored: number
  switch (impl) {
    case 'afterwork': {
      const { svc, task } = await afterworkService(flags, false)
      await svc.start()
      begin()
      if (mode === 'single') for (const p of payloads) await task.enqueue(p)
      else for (const chunk of chunks) await task.enqueueMany(chunk)
      end()
      stored = await afterworkCount(svc, undefined, flags.task)
      await svc.stop()
      break
    }
    case 'graphile':
    case 'graphile-batch': {
      const utils = await graphileUtils(flags)
      begin()
      if (mode === 'single') for (const p of payloads) await utils.addJob(TASK, p)
      else for (const chunk of chunks) await utils.addJobs(chunk.map((payload) => ({ identifier: TASK, payload })))
      end()
      stored = ((await utils.withPgClient((c) => c.query(`SELECT count(*)::int AS n FROM "${flags.schema}"._private_jobs`))).rows[0] as { n: number }).n
      await utils.release()
      break
    }
    case 'pgboss':
    case 'pgboss-fast': {
      const boss = await pgBoss(impl, flags)
      begin()
      if (mode === 'single') for (const p of payloads) await boss.send(TASK, p)
      else for (const chunk of chunks) await boss.insert(TASK, chunk.map((data) => ({ data })))
      end()
      await boss.stop({ graceful: false })
      const client = await anchorClient(flags)
      stored = ((await client.query(`SELECT count(*)::int AS n FROM "${flags.schema}".job WHERE name = '${TASK}'`)).rows[0] as { n: number }).n
      await client.end()
      break
    }
    case 'bullmq': {
      const { Queue } = await import('bullmq')
      const queue = new Queue(flags.queue, { connection: bullConnection(flags.redis) })
      await queue.waitUntilReady()
      begin()
      if (mode === 'single') for (const p of payloads) await queue.add(TASK, p)
      else for (const chunk of chunks) await queue.addBulk(chunk.map((data) => ({ name: TASK, data })))
      end()
      stored = await queue.count()
      await queue.close()
      break
    }
  }
  return { measure: 'enqueue', impl, mode, jobs, batch: mode === 'single' ? 1 : batch, ms, cpuUs: cpu, stored }
}

/** The batch enqueue, kept for a drain (the orchestrator removes the store afterwards). */
async function fill(impl: Impl, flags: Flags): Promise<FillResult> {
  const result = await enqueue(impl, { ...flags, mode: 'batch' })
  if (result.stored !== flags.jobs) throw new Error(`fill: stored ${result.stored} of ${flags.jobs}`)
  return { measure: 'fill', impl, jobs: result.stored, ms: result.ms }
}

async function drain(impl: Impl, flags: Flags): Promise<DrainResult> {
  const { jobs, concurrency, marks, cap } = flags
  let t0 = 0
  const counter = successCounter(jobs, marks, () => t0)
  /** Resolves at the N-th finished handler or `cap` ms after worker start, and notes the peak RSS then. */
  const finishedOrCapped = async () => {
    const capped = cap > 0 ? sleep(Math.max(0, t0 + cap - performance.now())).then(() => 'capped' as const) : new Promise<never>(() => {})
    const how = await Promise.race([counter.done.then(() => 'done' as const), capped])
    return { how, at: performance.now(), cpu: cpuUs(), rss: process.resourceUsage().maxRSS * 1024, finished: counter.count }
  }
  // Load the library first: module loading is not the worker's start-up.
  if (impl === 'graphile' || impl === 'graphile-batch') await graphileLogger()
  if (impl === 'pgboss' || impl === 'pgboss-fast') await import('./anchors/pg-boss.ts')
  const storeCpu = impl === 'bullmq' ? () => redisCpuUs(flags.redis) : async () => postgresCpuUs()
  const s0 = await storeCpu()
  let end: Awaited<ReturnType<typeof finishedOrCapped>>
  let doneAt: number
  /** The store's CPU once every outcome is stored, read before the worker closes its connections. */
  let s1: number
  let succeeded: number
  let c0: number
  switch (impl) {
    case 'afterwork': {
      const { warm, refill } = flags
      // With --warm the service starts with the warm-up task only and registers TASK after `warm`
      // of its jobs succeeded: the measurement starts then, in a warm process.
      const { svc, task } = await afterworkService(
        flags,
        {
          concurrency,
          ...(flags.prefetch === undefined ? {} : { prefetch: flags.prefetch }),
          ...(flags.retentionSucceeded === undefined ? {} : { retention: { succeeded: flags.retentionSucceeded } }),
        },
        () => {},
        warm > 0 ? WARM : TASK,
      )
      const warmed = deferred<void>()
      let warmedUp = 0
      let measured = warm > 0 ? undefined : task
      /** The refills in flight and the first refill error: the drain fails on it rather than starving. */
      const refills = new Set<Promise<unknown>>()
      let refillError: unknown
      const refillPayloads = Array.from({ length: refill }, (_, i) => ({ i }))
      svc.on('job:running', (e) => {
        if (e.name === TASK) counter.started()
      })
      // Emitted once the outcome is committed.
      svc.on('job:succeeded', (e) => {
        if (e.name === TASK) {
          counter.hit()
          if (refill > 0 && measured !== undefined && counter.count % refill === 0 && counter.count < jobs) {
            const p = measured.enqueueMany(refillPayloads).catch((error: unknown) => {
              refillError ??= error
            })
            refills.add(p)
            void p.finally(() => refills.delete(p))
          }
        } else if (++warmedUp === warm) warmed.resolve()
      })
      const succeededBefore = warm > 0 ? await afterworkCount(svc, 'succeeded', TASK) : 0
      c0 = cpuUs()
      t0 = performance.now()
      await svc.start()
      emit({ event: 'started' })
      if (warm > 0) {
        await warmed.promise
        measured = svc.task(TASK, { schema: anything }, async () => {})
        c0 = cpuUs()
        t0 = performance.now()
      }
      end = await finishedOrCapped()
      doneAt = end.at
      s1 = await storeCpu()
      await Promise.all(refills)
      if (refillError !== undefined) throw refillError
      // With retention.succeeded 0 a succeeded job is deleted as its outcome is stored: none may be left.
      succeeded =
        flags.retentionSucceeded === 0 ? jobs - (await afterworkCount(svc)) : (await afterworkCount(svc, 'succeeded', TASK)) - succeededBefore
      await svc.stop()
      break
    }
    case 'graphile':
    case 'graphile-batch': {
      const client = await anchorClient(flags)
      c0 = cpuUs()
      t0 = performance.now()
      const runner = await graphileRunner(impl, flags, concurrency, () => counter.started())
      // Emitted when the handler returned, before the completion is written.
      runner.events.on('job:success', () => counter.hit())
      emit({ event: 'started' })
      end = await finishedOrCapped()
      const sql = graphileUnfinishedSql(flags)
      doneAt = end.how === 'done' ? await pollUntilNone(async () => ((await client.query(sql)).rows[0] as { n: number }).n) : end.at
      s1 = await storeCpu()
      await runner.stop()
      succeeded = jobs - ((await client.query(`SELECT count(*)::int AS n FROM "${flags.schema}"._private_jobs`)).rows[0] as { n: number }).n
      await client.end()
      break
    }
    case 'pgboss':
    case 'pgboss-fast': {
      const client = await anchorClient(flags)
      c0 = cpuUs()
      t0 = performance.now()
      const boss = await pgBoss(impl, flags)
      await pgBossWork(
        impl,
        boss,
        concurrency,
        () => counter.started(),
        (n) => {
          for (let k = 0; k < n; k++) counter.hit()
        },
      )
      emit({ event: 'started' })
      end = await finishedOrCapped()
      const sql = pgBossUnfinishedSql(flags)
      doneAt = end.how === 'done' ? await pollUntilNone(async () => ((await client.query(sql)).rows[0] as { n: number }).n) : end.at
      s1 = await storeCpu()
      await boss.stop({ graceful: true, timeout: 5_000 })
      succeeded = ((await client.query(pgBossSucceededSql(flags))).rows[0] as { n: number }).n
      await client.end()
      break
    }
    case 'bullmq': {
      const { Worker, Queue } = await import('bullmq')
      const connection = bullConnection(flags.redis)
      c0 = cpuUs()
      t0 = performance.now()
      const worker = new Worker(flags.queue, async () => counter.started(), { connection, concurrency })
      // Emitted once the job is moved to the completed set.
      worker.on('completed', () => counter.hit())
      await worker.waitUntilReady()
      emit({ event: 'started' })
      end = await finishedOrCapped()
      doneAt = end.at
      s1 = await storeCpu()
      await worker.close(true)
      const queue = new Queue(flags.queue, { connection })
      succeeded = await queue.getCompletedCount()
      await queue.close()
      break
    }
  }
  const storeCpuUs = s1 - s0
  return {
    measure: 'drain',
    impl,
    jobs,
    concurrency,
    ms: doneAt - t0,
    handlerMs: end.how === 'done' ? end.at - t0 : NaN,
    capped: end.how === 'capped',
    finished: end.finished,
    firstMs: counter.firstMs,
    firstCpuUs: counter.firstCpuUs,
    marks: counter.reached,
    cpuUs: end.cpu - c0,
    cpuFromFirstUs: end.cpu - counter.firstCpuUs,
    storeCpuUs,
    maxRssBytes: end.rss,
    succeeded,
  }
}

function childArgs(flags: Flags): string[] {
  return ['--url', flags.url, '--schema', flags.schema, '--queue', flags.queue, '--redis', flags.redis]
}

/** A worker of `impl` (concurrency 10) calling `record` at each handler's first line, and how to stop it. */
async function latencyConsumer(impl: Impl, flags: Flags, record: (p: Payload) => void): Promise<{ stop: () => Promise<void> }> {
  switch (impl) {
    case 'afterwork': {
      const { svc } = await afterworkService(flags, { concurrency: 10 }, record)
      await svc.start()
      return { stop: () => svc.stop() }
    }
    case 'graphile':
    case 'graphile-batch': {
      const runner = await graphileRunner(impl, flags, 10, record)
      return { stop: () => runner.stop() }
    }
    case 'pgboss':
    case 'pgboss-fast': {
      const boss = await pgBoss(impl, flags)
      await pgBossWork(impl, boss, 10, record, () => {})
      return { stop: () => boss.stop({ graceful: true, timeout: 5_000 }) }
    }
    case 'bullmq': {
      const { Worker } = await import('bullmq')
      const worker = new Worker(flags.queue, async (job) => record(job.data as Payload), { connection: bullConnection(flags.redis), concurrency: 10 })
      await worker.waitUntilReady()
      return { stop: () => worker.close() }
    }
  }
}

/** The producer side: enqueue one job now, and how to stop. */
async function latencyProducer(impl: Impl, flags: Flags): Promise<{ add: (p: Payload) => Promise<unknown>; stop: () => Promise<void> }> {
  switch (impl) {
    case 'afterwork':
      throw new Error('afterwork produces through its own service')
    case 'graphile':
    case 'graphile-batch': {
      const utils = await graphileUtils(flags)
      return { add: (p) => utils.addJob(TASK, p), stop: async () => utils.release() }
    }
    case 'pgboss':
    case 'pgboss-fast': {
      // A producer-only instance: no maintenance or scheduling, so it only sends.
      const { PgBoss } = await import('./anchors/pg-boss.ts')
      const boss = new PgBoss({ connectionString: flags.url, schema: flags.schema, supervise: false, schedule: false })
      boss.on('error', (error) => process.stderr.write(`pg-boss error: ${String(error)}\n`))
      await boss.start()
      return { add: (p) => boss.send(TASK, p), stop: () => boss.stop({ graceful: false }) }
    }
    case 'bullmq': {
      const { Queue } = await import('bullmq')
      const queue = new Queue(flags.queue, { connection: bullConnection(flags.redis) })
      await queue.waitUntilReady()
      return { add: (p) => queue.add(TASK, p), stop: () => queue.close() }
    }
  }
}

async function latency(impl: Impl, flags: Flags): Promise<LatencyResult> {
  const { jobs, gap, where } = flags
  const samples: number[] = new Array<number>(jobs).fill(NaN)
  let seen = 0
  const all = deferred<void>()
  const record = (p: Payload) => {
    samples[p.i as number] = epochNow() - (p.t as number)
    if (++seen === jobs) all.resolve()
  }
  if (where === 'separate') {
    // The store (schema, pg-boss queue) exists before the worker process starts.
    if (impl === 'graphile' || impl === 'graphile-batch') await (await graphileUtils(flags)).release()
    if (impl === 'pgboss' || impl === 'pgboss-fast') await (await pgBoss(impl, flags)).stop({ graceful: false })
    const child = spawnSelf(['latency-worker', impl, ...childArgs(flags), '--jobs', String(jobs)])
    await child.started
    if (impl === 'afterwork') {
      const { svc, task } = await afterworkService(flags, false)
      await svc.start()
      await paced(jobs, gap, (i) => task.enqueue({ i, t: epochNow() }))
      samples.splice(0, jobs, ...((await child.result) as LatencyWorkerResult).samples)
      await svc.stop()
    } else {
      const producer = await latencyProducer(impl, flags)
      await paced(jobs, gap, (i) => producer.add({ i, t: epochNow() }))
      samples.splice(0, jobs, ...((await child.result) as LatencyWorkerResult).samples)
      await producer.stop()
    }
  } else if (impl === 'afterwork') {
    const { svc, task } = await afterworkService(flags, { concurrency: 10 }, record)
    await svc.start()
    await paced(jobs, gap, (i) => task.enqueue({ i, t: epochNow() }))
    await all.promise
    await svc.stop()
  } else if (impl === 'graphile' || impl === 'graphile-batch') {
    // The runner's own addJob: one pool for both sides, as in one web process.
    const runner = await graphileRunner(impl, flags, 10, record)
    await paced(jobs, gap, (i) => runner.addJob(TASK, { i, t: epochNow() }))
    await all.promise
    await runner.stop()
  } else if (impl === 'pgboss' || impl === 'pgboss-fast') {
    const boss = await pgBoss(impl, flags)
    await pgBossWork(impl, boss, 10, record, () => {})
    await paced(jobs, gap, (i) => boss.send(TASK, { i, t: epochNow() }))
    await all.promise
    await boss.stop({ graceful: true, timeout: 5_000 })
  } else {
    const consumer = await latencyConsumer(impl, flags, record)
    const producer = await latencyProducer(impl, flags)
    await paced(jobs, gap, (i) => producer.add({ i, t: epochNow() }))
    await all.promise
    await consumer.stop()
    await producer.stop()
  }
  return { measure: 'latency', impl, where, samples }
}

async function latencyWorker(impl: Impl, flags: Flags): Promise<LatencyWorkerResult> {
  const { jobs } = flags
  const samples: number[] = new Array<number>(jobs).fill(NaN)
  let seen = 0
  const all = deferred<void>()
  const consumer = await latencyConsumer(impl, flags, (p) => {
    samples[p.i as number] = epochNow() - (p.t as number)
    if (++seen === jobs) all.resolve()
  })
  emit({ event: 'started' })
  await all.promise
  await consumer.stop()
  return { measure: 'latency-worker', impl, samples }
}

async function main(): Promise<void> {
  const { measure, impl, flags } = readArgs()
  let result: WorkerResult
  switch (measure) {
    case 'enqueue':
      result = await enqueue(impl, flags)
      break
    case 'fill':
      result = await fill(impl, flags)
      break
    case 'drain':
      result = await drain(impl, flags)
      break
    case 'latency':
      result = await latency(impl, flags)
      break
    case 'latency-worker':
      result = await latencyWorker(impl, flags)
      break
  }
  emit(result)
  // Pools, timers and Redis connections may keep handles open; the result is out.
  process.exit(0)
}

await main()

/** Spawns this script as a child measurement. */
function spawnSelf(args: string[]) {
  return spawnChild<WorkerResult>(selfScript, args)
}
