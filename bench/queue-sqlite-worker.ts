/**
 * One measurement for bench/queue-sqlite.ts, in a fresh process; prints one JSON line on stdout
 * (the last line; `latency-worker` and `drain` may print an `{"event":"started"}` line first).
 *
 *   node --conditions=afterwork-source --import tsx bench/queue-sqlite-worker.ts <measure> <impl> [flags]
 *
 * Measures (impl is afterwork, bullmq or bare, where it applies):
 * - enqueue --mode single|batch --jobs N --batch B: N no-op jobs, one awaited call each or B per call.
 * - fill --jobs N --batch B: stores N queued jobs for a later drain (not timed for the report).
 * - drain --jobs N --concurrency C [--marks 1000,10000]: runs N queued no-op jobs; time from worker
 *   start to the N-th success, the process's CPU time and peak RSS (this process holds only the worker).
 * - floor (bare): N full cycles of INSERT, claim with UPDATE ... RETURNING, complete; each its own
 *   transaction.
 * - latency --where same|separate --jobs N --gap MS [--poll MS]: N jobs enqueued MS apart; pick-up =
 *   handler start minus the time taken just before the enqueue call. `separate` spawns a
 *   `latency-worker` child as the worker process.
 * - latency-worker: the worker process of a `separate` latency run.
 * - loop --variant worker|idle --jobs N --gap MS: this process is the web process; it enqueues one job
 *   every MS ms and records its event-loop delay while a `drain` child drains N pre-filled jobs
 *   (`worker`), or for --window ms with no worker anywhere (`idle`).
 *
 * afterwork uses the SQLite driver with its defaults (WAL, synchronous NORMAL unless --synchronous).
 * Tasks use a pass-through Standard Schema, so the figures are the queue's and not a validator's.
 * Each library is imported only by the runs that use it, so one's modules never weigh on another's RSS.
 */

import { fileURLToPath } from 'node:url'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'

import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import type { StandardSchemaV1 } from '@standard-schema/spec'
import type { AnyService } from 'afterwork'
import { bullConnection, cpuUs, deferred, emit, epochNow, paced, percentile, redisCpuUs, spawnChild } from './harness.js'

// Only types are exported: importing a value would run a measurement in the importing process.
const measures = ['enqueue', 'fill', 'drain', 'floor', 'latency', 'latency-worker', 'loop'] as const
export type Measure = (typeof measures)[number]
const impls = ['afterwork', 'bullmq', 'bare'] as const
export type Impl = (typeof impls)[number]

export interface EnqueueResult {
  measure: 'enqueue'
  impl: Impl
  mode: 'single' | 'batch'
  jobs: number
  batch: number
  ms: number
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
  /** Worker start (service start, new Worker, first claim) to the N-th success, in ms. */
  ms: number
  /** Worker start to the first job's start, in ms: opening, registering and the first claim. */
  firstMs: number
  /** This process's CPU time (user + system, µs) when the first job started: with the marks, CPU per job in a window. */
  firstCpuUs: number
  /** ms from start to the k-th success, and this process's CPU time then (µs), for each requested mark k. */
  marks: { count: number; ms: number; cpuUs: number }[]
  /** user + system CPU of this process across the drain, in µs. */
  cpuUs: number
  /** Redis's own CPU across the drain, in µs (bullmq only). */
  storeCpuUs?: number
  /** process.resourceUsage().maxRSS when the N-th job succeeded, in bytes. */
  maxRssBytes: number
  /** Jobs the store reports as succeeded (completed) after the drain. */
  succeeded: number
}

export interface FloorResult {
  measure: 'floor'
  impl: 'bare'
  cycles: number
  ms: number
  cpuUs: number
}

export interface LatencyResult {
  measure: 'latency'
  impl: Impl
  where: 'same' | 'separate'
  /** The worker's pollInterval in ms (afterwork, separate only). */
  pollMs?: number
  /** Pick-up latency of every job in ms, in enqueue order. */
  samples: number[]
}

export interface LatencyWorkerResult {
  measure: 'latency-worker'
  impl: Impl
  samples: number[]
}

export interface LoopResult {
  measure: 'loop'
  impl: Impl
  variant: 'worker' | 'idle'
  windowMs: number
  /** Event-loop delay of this (web) process over the window, in ms. */
  loop: { p50: number; p99: number; max: number; mean: number }
  /** Wall time of each enqueue call in the window, in ms (SQLite: the synchronous part blocks the loop). */
  enqueue: { count: number; p50: number; p99: number; max: number }
  /** The drain child's result (variant worker). */
  drain?: DrainResult
}

export type WorkerResult = EnqueueResult | FillResult | DrainResult | FloorResult | LatencyResult | LatencyWorkerResult | LoopResult

interface Flags {
  db: string
  queue: string
  jobs: number
  batch: number
  concurrency: number
  mode: 'single' | 'batch'
  where: 'same' | 'separate'
  variant: 'worker' | 'idle'
  poll: number
  gap: number
  window: number
  marks: number[]
  synchronous: 'NORMAL' | 'FULL'
  redis: string
}

const TASK = 'noop'
const selfScript = fileURLToPath(import.meta.url)

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
      db: { type: 'string', default: '' },
      queue: { type: 'string', default: 'bench' },
      jobs: { type: 'string', default: '10000' },
      batch: { type: 'string', default: '1000' },
      concurrency: { type: 'string', default: '10' },
      mode: { type: 'string', default: 'single' },
      where: { type: 'string', default: 'same' },
      variant: { type: 'string', default: 'worker' },
      poll: { type: 'string', default: '1000' },
      gap: { type: 'string', default: '10' },
      window: { type: 'string', default: '2000' },
      marks: { type: 'string', default: '' },
      synchronous: { type: 'string', default: 'NORMAL' },
      redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
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
  return {
    measure: measure as Measure,
    impl: impl as Impl,
    flags: {
      db: values.db,
      queue: values.queue,
      jobs: int('jobs', values.jobs),
      batch: int('batch', values.batch),
      concurrency: int('concurrency', values.concurrency),
      mode: oneOf('mode', values.mode, ['single', 'batch'] as const),
      where: oneOf('where', values.where, ['same', 'separate'] as const),
      variant: oneOf('variant', values.variant, ['worker', 'idle'] as const),
      poll: int('poll', values.poll),
      gap: int('gap', values.gap),
      window: int('window', values.window),
      marks: values.marks === '' ? [] : values.marks.split(',').map((m) => int('marks', m)),
      synchronous: oneOf('synchronous', values.synchronous, ['NORMAL', 'FULL'] as const),
      redis: values.redis,
    },
  }
}

/** Counts successes and resolves at `jobs`, noting when each mark was reached. */
function successCounter(jobs: number, marks: readonly number[], start: () => number) {
  const done = deferred<void>()
  const reached: { count: number; ms: number; cpuUs: number }[] = []
  let count = 0
  let firstMs = NaN
  let firstCpuUs = NaN
  return {
    done: done.promise,
    reached,
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

// ---------------------------------------------------------------------------------------------
// afterwork

async function afterworkService(flags: Flags, worker: false | { concurrency: number; pollInterval?: number }, handler: (p: Payload) => void = () => {}) {
  const { createService, silentLogger } = await import('afterwork')
  const { sqlite } = await import('afterwork/sqlite')
  const svc = createService({
    name: 'bench',
    logger: silentLogger,
    queue: sqlite({ path: flags.db, synchronous: flags.synchronous }),
    worker,
    // A drain ends with stop(): let it finish what is running without waiting long.
    shutdown: { work: '5s' },
  })
  const task = svc.task(TASK, { schema: anything }, async (payload) => {
    handler(payload)
  })
  return { svc, task }
}

async function succeededIn(svc: AnyService): Promise<number> {
  const counts = await svc.queue.counts()
  return counts.filter((c) => c.state === 'succeeded').reduce((sum, c) => sum + c.count, 0)
}

async function storedIn(svc: AnyService): Promise<number> {
  return (await svc.queue.counts()).reduce((sum, c) => sum + c.count, 0)
}

// ---------------------------------------------------------------------------------------------
// bare better-sqlite3: the one-job-per-transaction floor

const BARE_SCHEMA = `
  CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, state INTEGER NOT NULL, payload TEXT NOT NULL);
  CREATE INDEX IF NOT EXISTS jobs_queued ON jobs (id) WHERE state = 0;`

async function bareDb(flags: Flags) {
  const { default: Database } = await import('better-sqlite3')
  const db = new Database(flags.db)
  db.pragma('journal_mode = WAL')
  db.pragma(`synchronous = ${flags.synchronous}`)
  db.exec(BARE_SCHEMA)
  return {
    db,
    insert: db.prepare('INSERT INTO jobs (state, payload) VALUES (0, ?)'),
    claim: db.prepare('UPDATE jobs SET state = 1 WHERE id = (SELECT id FROM jobs WHERE state = 0 ORDER BY id LIMIT 1) RETURNING id, payload'),
    complete: db.prepare('UPDATE jobs SET state = 2 WHERE id = ?'),
    count: db.prepare('SELECT count(*) AS n FROM jobs WHERE state = ?'),
  }
}

// ---------------------------------------------------------------------------------------------
// BullMQ on the local Redis

async function bullObliterate(flags: Flags): Promise<void> {
  const { Queue } = await import('bullmq')
  const queue = new Queue(flags.queue, { connection: bullConnection(flags.redis) })
  await queue.obliterate({ force: true })
  await queue.close()
}

// ---------------------------------------------------------------------------------------------
// measures

async function enqueue(impl: Impl, flags: Flags): Promise<EnqueueResult> {
  const { jobs, batch, mode } = flags
  const payloads = Array.from({ length: jobs }, (_, i) => ({ i }))
  const chunks: Payload[][] = []
  for (let i = 0; i < jobs; i += batch) chunks.push(payloads.slice(i, i + batch))
  let ms: number
  let cpu: number
  let stored: number
  if (impl === 'afterwork') {
    const { svc, task } = await afterworkService(flags, false)
    await svc.start()
    const c0 = cpuUs()
    const t0 = performance.now()
    if (mode === 'single') for (const p of payloads) await task.enqueue(p)
    else for (const chunk of chunks) await task.enqueueMany(chunk)
    ms = performance.now() - t0
    cpu = cpuUs() - c0
    stored = await storedIn(svc)
    await svc.stop()
  } else if (impl === 'bullmq') {
    const { Queue } = await import('bullmq')
    const queue = new Queue(flags.queue, { connection: bullConnection(flags.redis) })
    await queue.waitUntilReady()
    const c0 = cpuUs()
    const t0 = performance.now()
    if (mode === 'single') for (const p of payloads) await queue.add(TASK, p)
    else for (const chunk of chunks) await queue.addBulk(chunk.map((data) => ({ name: TASK, data })))
    ms = performance.now() - t0
    cpu = cpuUs() - c0
    stored = await queue.count()
    await queue.obliterate({ force: true })
    await queue.close()
  } else {
    const bare = await bareDb(flags)
    const insertMany = bare.db.transaction((chunk: Payload[]) => {
      for (const p of chunk) bare.insert.run(JSON.stringify(p))
    })
    const c0 = cpuUs()
    const t0 = performance.now()
    if (mode === 'single') for (const p of payloads) bare.insert.run(JSON.stringify(p))
    else for (const chunk of chunks) insertMany(chunk)
    ms = performance.now() - t0
    cpu = cpuUs() - c0
    stored = (bare.count.get(0) as { n: number }).n
    bare.db.close()
  }
  return { measure: 'enqueue', impl, mode, jobs, batch: mode === 'single' ? 1 : batch, ms, cpuUs: cpu, stored }
}

/** afterwork and bare: the batch enqueue, kept (BullMQ's enqueue run obliterates its queue). */
async function fill(impl: Impl, flags: Flags): Promise<FillResult> {
  const result = await enqueue(impl, { ...flags, mode: 'batch' })
  return { measure: 'fill', impl, jobs: result.stored, ms: result.ms }
}

async function fillBull(flags: Flags): Promise<FillResult> {
  const { Queue } = await import('bullmq')
  const queue = new Queue(flags.queue, { connection: bullConnection(flags.redis) })
  const t0 = performance.now()
  for (let i = 0; i < flags.jobs; i += flags.batch) {
    const n = Math.min(flags.batch, flags.jobs - i)
    await queue.addBulk(Array.from({ length: n }, (_, k) => ({ name: TASK, data: { i: i + k } })))
  }
  const ms = performance.now() - t0
  const jobs = await queue.count()
  await queue.close()
  return { measure: 'fill', impl: 'bullmq', jobs, ms }
}

async function drain(impl: Impl, flags: Flags): Promise<DrainResult> {
  const { jobs, concurrency, marks } = flags
  let t0 = 0
  const counter = successCounter(jobs, marks, () => t0)
  let ms: number
  let cpu: number
  let storeCpu: number | undefined
  /** Peak RSS when the last job succeeded: before the checks and the stop that follow. */
  let rss: number
  let succeeded: number
  if (impl === 'afterwork') {
    const { svc } = await afterworkService(flags, { concurrency })
    svc.on('job:running', () => counter.started())
    svc.on('job:succeeded', () => counter.hit())
    const c0 = cpuUs()
    t0 = performance.now()
    await svc.start()
    emit({ event: 'started' })
    await counter.done
    ms = performance.now() - t0
    cpu = cpuUs() - c0
    rss = process.resourceUsage().maxRSS * 1024
    succeeded = await succeededIn(svc)
    await svc.stop()
  } else if (impl === 'bullmq') {
    const { Worker } = await import('bullmq')
    const connection = bullConnection(flags.redis)
    const s0 = await redisCpuUs(flags.redis)
    const c0 = cpuUs()
    t0 = performance.now()
    const worker = new Worker(flags.queue, async () => {}, { connection, concurrency })
    worker.on('active', () => counter.started())
    worker.on('completed', () => counter.hit())
    await worker.waitUntilReady()
    emit({ event: 'started' })
    await counter.done
    ms = performance.now() - t0
    cpu = cpuUs() - c0
    rss = process.resourceUsage().maxRSS * 1024
    storeCpu = (await redisCpuUs(flags.redis)) - s0
    await worker.close()
    const { Queue } = await import('bullmq')
    const queue = new Queue(flags.queue, { connection })
    succeeded = await queue.getCompletedCount()
    await queue.close()
    await bullObliterate(flags)
  } else {
    // One job per transaction: claim (UPDATE ... RETURNING), run, complete, each autocommitted.
    const bare = await bareDb(flags)
    const c0 = cpuUs()
    t0 = performance.now()
    for (let i = 0; i < jobs; i++) {
      const row = bare.claim.get() as { id: number; payload: string } | undefined
      if (!row) throw new Error(`bare drain: queue empty after ${i} jobs`)
      counter.started()
      JSON.parse(row.payload)
      bare.complete.run(row.id)
      counter.hit()
    }
    ms = performance.now() - t0
    cpu = cpuUs() - c0
    rss = process.resourceUsage().maxRSS * 1024
    succeeded = (bare.count.get(2) as { n: number }).n
    bare.db.close()
  }
  return {
    measure: 'drain',
    impl,
    jobs,
    concurrency: impl === 'bare' ? 1 : concurrency,
    ms,
    firstMs: counter.firstMs,
    firstCpuUs: counter.firstCpuUs,
    marks: counter.reached,
    cpuUs: cpu,
    ...(storeCpu === undefined ? {} : { storeCpuUs: storeCpu }),
    maxRssBytes: rss,
    succeeded,
  }
}

async function floor(flags: Flags): Promise<FloorResult> {
  const bare = await bareDb(flags)
  const payload = JSON.stringify({ i: 0 })
  const c0 = cpuUs()
  const t0 = performance.now()
  for (let i = 0; i < flags.jobs; i++) {
    bare.insert.run(payload)
    const row = bare.claim.get() as { id: number; payload: string } | undefined
    if (!row) throw new Error('floor: claim found nothing')
    bare.complete.run(row.id)
  }
  const ms = performance.now() - t0
  const cpu = cpuUs() - c0
  const done = (bare.count.get(2) as { n: number }).n
  bare.db.close()
  if (done !== flags.jobs) throw new Error(`floor: ${done} of ${flags.jobs} completed`)
  return { measure: 'floor', impl: 'bare', cycles: flags.jobs, ms, cpuUs: cpu }
}

function childArgs(flags: Flags): string[] {
  return ['--db', flags.db, '--queue', flags.queue, '--synchronous', flags.synchronous, '--redis', flags.redis]
}

async function latency(impl: Impl, flags: Flags): Promise<LatencyResult> {
  if (impl === 'bare') throw new Error('latency: afterwork or bullmq')
  const { jobs, gap, where } = flags
  const samples: number[] = new Array<number>(jobs).fill(NaN)
  let seen = 0
  const all = deferred<void>()
  const record = (p: Payload, now: number) => {
    samples[p.i as number] = now - (p.t as number)
    if (++seen === jobs) all.resolve()
  }
  const child = where === 'separate' ? spawnSelf(['latency-worker', impl, ...childArgs(flags), '--jobs', String(jobs), '--poll', String(flags.poll)]) : undefined
  if (impl === 'afterwork') {
    const { svc, task } = await afterworkService(flags, where === 'same' ? { concurrency: 10 } : false, (p) => record(p, epochNow()))
    await svc.start()
    if (child) await child.started
    await paced(jobs, gap, (i) => task.enqueue({ i, t: epochNow() }))
    if (child) samples.splice(0, jobs, ...((await child.result) as LatencyWorkerResult).samples)
    else await all.promise
    await svc.stop()
  } else {
    const { Queue, Worker } = await import('bullmq')
    const connection = bullConnection(flags.redis)
    const queue = new Queue(flags.queue, { connection })
    await queue.waitUntilReady()
    const worker =
      where === 'same'
        ? new Worker(
            flags.queue,
            async (job) => {
              record(job.data as Payload, epochNow())
            },
            { connection, concurrency: 10 },
          )
        : undefined
    await worker?.waitUntilReady()
    if (child) await child.started
    await paced(jobs, gap, (i) => queue.add(TASK, { i, t: epochNow() }))
    if (child) samples.splice(0, jobs, ...((await child.result) as LatencyWorkerResult).samples)
    else await all.promise
    await worker?.close()
    await queue.obliterate({ force: true })
    await queue.close()
  }
  return { measure: 'latency', impl, where, ...(where === 'separate' && impl === 'afterwork' ? { pollMs: flags.poll } : {}), samples }
}

async function latencyWorker(impl: Impl, flags: Flags): Promise<LatencyWorkerResult> {
  const { jobs } = flags
  const samples: number[] = new Array<number>(jobs).fill(NaN)
  let seen = 0
  const all = deferred<void>()
  const record = (p: Payload, now: number) => {
    samples[p.i as number] = now - (p.t as number)
    if (++seen === jobs) all.resolve()
  }
  if (impl === 'afterwork') {
    const { svc } = await afterworkService(flags, { concurrency: 10, pollInterval: flags.poll }, (p) => record(p, epochNow()))
    await svc.start()
    emit({ event: 'started' })
    await all.promise
    await svc.stop()
  } else {
    const { Worker } = await import('bullmq')
    const worker = new Worker(
      flags.queue,
      async (job) => {
        record(job.data as Payload, epochNow())
      },
      { connection: bullConnection(flags.redis), concurrency: 10 },
    )
    await worker.waitUntilReady()
    emit({ event: 'started' })
    await all.promise
    await worker.close()
  }
  return { measure: 'latency-worker', impl, samples }
}

async function loop(impl: Impl, flags: Flags): Promise<LoopResult> {
  if (impl === 'bare') throw new Error('loop: afterwork or bullmq')
  const durations: number[] = []
  let enqueueOne: () => Promise<unknown>
  let close: () => Promise<void>
  if (impl === 'afterwork') {
    const { svc, task } = await afterworkService(flags, false)
    await svc.start()
    enqueueOne = () => task.enqueue({})
    close = () => svc.stop()
  } else {
    const { Queue } = await import('bullmq')
    const queue = new Queue(flags.queue, { connection: bullConnection(flags.redis) })
    await queue.waitUntilReady()
    enqueueOne = () => queue.add(TASK, {})
    close = () => queue.close()
  }
  // The web process's traffic: one enqueue every `gap` ms, until the window closes.
  let measuring = false
  let stop = false
  const traffic = (async () => {
    while (!stop) {
      const t = performance.now()
      await enqueueOne()
      if (measuring) durations.push(performance.now() - t)
      await sleep(flags.gap)
    }
  })()
  const histogram = monitorEventLoopDelay({ resolution: 1 })
  let drain: DrainResult | undefined
  let windowMs: number
  if (flags.variant === 'worker') {
    const child = spawnSelf(['drain', impl, ...childArgs(flags), '--jobs', String(flags.jobs), '--concurrency', String(flags.concurrency)])
    await child.started
    histogram.enable()
    measuring = true
    const t0 = performance.now()
    drain = (await child.result) as DrainResult
    windowMs = performance.now() - t0
  } else {
    await sleep(500)
    histogram.enable()
    measuring = true
    const t0 = performance.now()
    await sleep(flags.window)
    windowMs = performance.now() - t0
  }
  histogram.disable()
  measuring = false
  stop = true
  await traffic
  await close()
  const sorted = [...durations].sort((a, b) => a - b)
  return {
    measure: 'loop',
    impl,
    variant: flags.variant,
    windowMs,
    loop: { p50: histogram.percentile(50) / 1e6, p99: histogram.percentile(99) / 1e6, max: histogram.max / 1e6, mean: histogram.mean / 1e6 },
    enqueue: { count: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted[sorted.length - 1] ?? NaN },
    ...(drain === undefined ? {} : { drain }),
  }
}

async function main(): Promise<void> {
  const { measure, impl, flags } = readArgs()
  if (flags.db === '' && impl !== 'bullmq') throw new Error('--db is required')
  let result: WorkerResult
  switch (measure) {
    case 'enqueue':
      result = await enqueue(impl, flags)
      break
    case 'fill':
      result = impl === 'bullmq' ? await fillBull(flags) : await fill(impl, flags)
      break
    case 'drain':
      result = await drain(impl, flags)
      break
    case 'floor':
      result = await floor(flags)
      break
    case 'latency':
      result = await latency(impl, flags)
      break
    case 'latency-worker':
      result = await latencyWorker(impl, flags)
      break
    case 'loop':
      result = await loop(impl, flags)
      break
  }
  emit(result)
  // BullMQ and timers may keep handles open; the result is out.
  process.exit(0)
}

await main()

/** Spawns this script as a child measurement. */
function spawnSelf(args: string[]) {
  return spawnChild<WorkerResult>(selfScript, args)
}
