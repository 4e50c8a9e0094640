/**
 * The durable queue on PostgreSQL against graphile-worker 0.18 and pg-boss 12 on the same database
 * (each with its defaults and with its fastest documented settings) and BullMQ on the local Redis,
 * in one run. Needs Node 22+ for the anchors: run it with Node 24 (see bench/RESULTS.md, "Durable
 * queue (PostgreSQL)", for the set-up of bench/anchors):
 *
 *   npm run build   # afterwork from dist/, as users run it (or pass --conditions=afterwork-source: src/)
 *   PATH="$NODE24"/bin:$PATH \
 *   node --import tsx bench/queue-postgres.ts [--runs 5] [--jobs 10000]
 *     [--batch 1000] [--concurrency 10,50] [--latency-jobs 100] [--gap 10] [--cap 10000] [--prefetch N]
 *     [--retention-succeeded 0]
 *     [--deep 1000000] [--shallow 1000] [--deep-claims 10000] [--deep-warm 10000] [--deep-runs 3] [--deep-analyze]
 *     [--steady 25000]
 *     [--only enqueue,drain,latency,deep] [--impls afterwork,graphile,graphile-batch,pgboss,pgboss-fast,bullmq]
 *     [--url postgres://postgres@127.0.0.1:5432/test] [--redis redis://127.0.0.1:6379]
 *
 * 1. enqueue: `jobs` no-op jobs one awaited call at a time (`task.enqueue`, `addJob`, `send`,
 *    `queue.add`) and in batches of `batch` (`enqueueMany`, `addJobs`, `insert`, `addBulk`).
 *    graphile-worker's two configurations enqueue alike, so it is measured once; pg-boss's differ
 *    (a notify-enabled queue sends a NOTIFY per insert), so both are.
 * 2. drain: `jobs` queued no-op jobs, stored by a fill process first, run by a worker process that
 *    holds nothing else (so its peak RSS is the worker's), at each concurrency. Time from worker
 *    start until the last job's outcome is stored (bench/queue-postgres-worker.ts says how each
 *    library's is detected). pg-boss with its defaults waits 2 s after each one-job fetch, so its
 *    drains stop after `cap` ms and report the rate up to then. `--prefetch N` sets afterwork's
 *    worker prefetch (graphile-worker's batching mode holds a local queue of 500).
 *    `--retention-succeeded 0` sets afterwork's `worker.retention.succeeded` in the drains: 0 deletes
 *    each succeeded job as its outcome is written, as graphile-worker does (afterwork keeps them 7
 *    days by default).
 * 3. latency: `latency-jobs` jobs enqueued `gap` ms apart; pick-up = handler start minus the time
 *    taken just before the enqueue call; worker concurrency 10. `same`: producer and worker in one
 *    process (afterwork starts the job on the enqueue's in-process wake-up); `separate`: the worker
 *    in another process, woken by LISTEN/NOTIFY (BullMQ: by Redis; pg-boss defaults: by polling).
 * 4. deep: afterwork's drain rate of the first `deep-claims` jobs with `deep` jobs pending, against
 *    draining `shallow` pending jobs (c=50). The deep schema is filled for each run (enqueueMany in
 *    batches of 10,000), then a fresh worker process drains; with --deep-analyze the jobs table is
 *    ANALYZEd in between (the statistics autovacuum would gather within a minute or so).
 *    Those windows are a cold worker's first jobs. The warm runs give the same comparison to a
 *    worker that has run `deep-warm` warm-up jobs (another task, in its own queue) before it takes
 *    the no-op task: `shallow` jobs pending against what the cold deep drain left (`deep` minus
 *    `deep-claims`) in the same schema.
 *    The steady runs time a queue held at one depth: a worker drains `steady` jobs and, at every
 *    `shallow`/10-th success, enqueues that many more itself, so `shallow` pending stay about
 *    `shallow` and the deep schema's stay about a million; the rate is timed from the `steady`/5-th
 *    success to the last (past start-up and the pipeline's filling), with identical work per job at
 *    both depths. This is the issue's "drain throughput with N pending" in its plainest reading.
 *
 * Every measurement is a fresh process (bench/queue-postgres-worker.ts) on a fresh schema (or a fresh
 * BullMQ queue), dropped after. Within a round the libraries alternate, their order rotating from
 * round to round, and ratios are taken round by round. Nothing is pinned: the worker, the producer,
 * PostgreSQL, Redis and the shared machine's other load share its cores, so CPU time per job (the
 * worker process's and the database server's) is reported beside the wall-clock rates.
 *
 * The orchestrator's `--conditions` flag is passed on: with `--conditions=afterwork-source` afterwork
 * runs from src/ through tsx; without it, from the built dist/ (`npm run build` first), as users run
 * it and as the anchors run their compiled JavaScript.
 *
 * Prints markdown tables on stdout (progress goes to stderr) and writes every run's raw figures to
 * bench/results/queue-postgres-<date>.json.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import pg from 'pg'
import type { DrainResult, EnqueueResult, FillResult, Impl, LatencyResult, WorkerResult } from './queue-postgres-worker.js'
import { afterworkConditions, fmtSpread, fmtValues, latencyPercentiles, num, paired, rate, runJsonChild, verdict, warningsReport, sourceVersion, spread } from './harness.js'

const allGroups = ['enqueue', 'drain', 'latency', 'deep'] as const
type Group = (typeof allGroups)[number]
const allImpls = ['afterwork', 'graphile', 'graphile-batch', 'pgboss', 'pgboss-fast', 'bullmq'] as const satisfies readonly Impl[]
/** Targets of issue 7. */
const targets = { drainOverGraphileBatch: 1, pickupP50Ms: 2, rssMiB: 100, deepOverShallow: 0.9 } as const

const workerScript = fileURLToPath(new URL('./queue-postgres-worker.ts', import.meta.url))
const resultsDir = fileURLToPath(new URL('./results/', import.meta.url))
const anchorsDir = fileURLToPath(new URL('./anchors/', import.meta.url))
const repoRoot = fileURLToPath(new URL('../', import.meta.url))
const MIB = 1024 * 1024

interface Settings {
  runs: number
  jobs: number
  batch: number
  concurrency: number[]
  latencyJobs: number
  gap: number
  cap: number
  /** afterwork's worker prefetch in the drains (`--prefetch`); unset: its default. */
  prefetch: number | undefined
  /** afterwork's `worker.retention.succeeded` in the drains (`--retention-succeeded`); unset: its default. */
  retentionSucceeded: string | undefined
  deep: number
  shallow: number
  deepClaims: number
  /** Jobs a worker runs before the warm window (JIT, connections, the prefetch's growth). */
  deepWarm: number
  deepRuns: number
  /** ANALYZE the deep schema's jobs table between the fill and the drain (planner statistics, as autovacuum would gather them). */
  deepAnalyze: boolean
  /** Jobs in each steady-depth drain (the queue refilled as it drains). */
  steady: number
  only: Group[]
  impls: Impl[]
  url: string
  redis: string
}

/** A worker's result plus its round, the machine's 1-minute load when it began, and its stderr. */
type Run<R extends WorkerResult> = R & { round: number; load: number; warnings: string[] }

/**
 * A deep-queue comparison: one run drains `shallow` pending jobs, one the first of `deep`; `warm`
 * marks the runs whose worker ran `deepWarm` warm-up jobs first.
 */
type DeepRun = Run<DrainResult> & { pending: number; fillMs: number; warm?: boolean; steady?: 'shallow' | 'deep' }

interface Runs {
  enqueue: Run<EnqueueResult>[]
  drain: Run<DrainResult>[]
  latency: Run<LatencyResult>[]
  deep: DeepRun[]
}

function readSettings(): Settings {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '5' },
      jobs: { type: 'string', default: '10000' },
      batch: { type: 'string', default: '1000' },
      concurrency: { type: 'string', default: '10,50' },
      'latency-jobs': { type: 'string', default: '100' },
      gap: { type: 'string', default: '10' },
      cap: { type: 'string', default: '10000' },
      prefetch: { type: 'string', default: '' },
      'retention-succeeded': { type: 'string', default: '' },
      deep: { type: 'string', default: '1000000' },
      shallow: { type: 'string', default: '1000' },
      'deep-claims': { type: 'string', default: '10000' },
      'deep-warm': { type: 'string', default: '10000' },
      'deep-runs': { type: 'string', default: '3' },
      'deep-analyze': { type: 'boolean', default: false },
      steady: { type: 'string', default: '25000' },
      only: { type: 'string', default: allGroups.join(',') },
      impls: { type: 'string', default: allImpls.join(',') },
      url: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
      redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    },
  })
  const int = (name: string, value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be an integer >= 1; got ${value}`)
    return n
  }
  const ints = (name: string, value: string): number[] => value.split(',').map((v) => int(name, v.trim()))
  const list = <T extends string>(name: string, value: string, allowed: readonly T[]): T[] => {
    const items = value.split(',').map((g) => g.trim())
    const bad = items.filter((g) => !(allowed as readonly string[]).includes(g))
    if (bad.length > 0 || items.length === 0) throw new Error(`--${name} takes a comma list of ${allowed.join(', ')}; got ${value}`)
    return items as T[]
  }
  const s: Settings = {
    runs: int('runs', values.runs),
    jobs: int('jobs', values.jobs),
    batch: int('batch', values.batch),
    concurrency: ints('concurrency', values.concurrency),
    latencyJobs: int('latency-jobs', values['latency-jobs']),
    gap: int('gap', values.gap),
    cap: int('cap', values.cap),
    prefetch: values.prefetch === '' ? undefined : int('prefetch', values.prefetch),
    retentionSucceeded: values['retention-succeeded'] === '' ? undefined : values['retention-succeeded'],
    deep: int('deep', values.deep),
    shallow: int('shallow', values.shallow),
    deepClaims: int('deep-claims', values['deep-claims']),
    deepWarm: int('deep-warm', values['deep-warm']),
    deepRuns: int('deep-runs', values['deep-runs']),
    deepAnalyze: values['deep-analyze'],
    steady: int('steady', values.steady),
    only: list('only', values.only, allGroups),
    impls: list('impls', values.impls, allImpls),
    url: values.url,
    redis: values.redis,
  }
  if (s.deepClaims > s.deep) throw new Error('--deep-claims must not exceed --deep')
  if (s.shallow < 10 || s.steady < 5) throw new Error('--shallow must be at least 10 and --steady at least 5')
  const major = Number(process.versions.node.split('.')[0])
  if (major < 22 && s.impls.some((i) => i.startsWith('graphile') || i.startsWith('pgboss'))) {
    throw new Error(`graphile-worker 0.18 and pg-boss 12 need Node 22+; this is ${process.version}. Put Node 24 first on PATH (see the header), or pass --impls afterwork,bullmq`)
  }
  return s
}

// ---------------------------------------------------------------------------------------------
// stores: a fresh schema (PostgreSQL) or queue name (BullMQ) per measurement

let storeCounter = 0
let admin: pg.Client | undefined
const liveSchemas = new Set<string>()

async function adminClient(s: Settings): Promise<pg.Client> {
  if (!admin) {
    admin = new pg.Client({ connectionString: s.url })
    await admin.connect()
  }
  return admin
}

async function dropSchema(s: Settings, schema: string): Promise<void> {
  await (await adminClient(s)).query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  liveSchemas.delete(schema)
}

async function obliterate(s: Settings, queue: string): Promise<void> {
  const { Queue } = await import('bullmq')
  const url = new URL(s.redis)
  const q = new Queue(queue, { connection: { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null } })
  await q.obliterate({ force: true })
  await q.close()
}

/** Where one measurement's jobs live, and how to remove them after. */
function freshStore(s: Settings, impl: Impl): { args: string[]; cleanup: () => Promise<void> } {
  const n = ++storeCounter
  if (impl === 'bullmq') {
    const queue = `afterwork-bench-pg-${process.pid}-${n}`
    return { args: ['--queue', queue], cleanup: () => obliterate(s, queue) }
  }
  const schema = `qpg_${process.pid}_${n}`
  liveSchemas.add(schema)
  return { args: ['--schema', schema], cleanup: () => dropSchema(s, schema) }
}

/** Runs one measurement in a fresh process and returns the JSON line it prints last. */
async function runWorker<R extends WorkerResult>(args: string[], round: number, s: Settings): Promise<Run<R>> {
  const load = loadavg()[0] as number
  const argv = [...afterworkConditions(), '--import', 'tsx', workerScript, ...args, '--url', s.url, '--redis', s.redis]
  // JSON has no NaN: the worker's NaN (no such time) arrives as null.
  const { result, warnings } = await runJsonChild<R>(argv, { label: args.join(' '), nullIsNaN: true })
  return { ...result, round, load, warnings }
}

/** The impls in a round-dependent rotation, so none always runs first. */
function rotated<T>(items: readonly T[], round: number): T[] {
  const k = items.length === 0 ? 0 : (round - 1) % items.length
  return [...items.slice(k), ...items.slice(0, k)]
}

// ---------------------------------------------------------------------------------------------
// formatting (the shared helpers are in bench/harness.ts)

const enqueueRate = (r: EnqueueResult) => rate(r.jobs, r.ms)
/** Jobs per second from worker start until the last outcome was stored (or the cap). */
const drainRate = (r: DrainResult) => rate(r.capped ? r.finished : r.jobs, r.ms)
/** The same from the first job's start: without connecting, migrating checks and registration. */
const steadyRate = (r: DrainResult) => rate(r.capped ? r.finished : r.jobs, r.ms - r.firstMs)
const doneJobs = (r: DrainResult) => (r.capped ? r.finished : r.jobs)
/** The worker process's CPU per job from the first job's start: without connecting and start-up. */
const cpuPerJob = (r: DrainResult) => r.cpuFromFirstUs / doneJobs(r)

const implName: Record<Impl, string> = {
  afterwork: 'afterwork (PostgreSQL)',
  graphile: 'graphile-worker, defaults',
  'graphile-batch': 'graphile-worker, local queue 500 + batched completions',
  pgboss: 'pg-boss, defaults (1 job per fetch, 2 s poll)',
  'pgboss-fast': 'pg-boss, batch C + burst + LISTEN/NOTIFY',
  bullmq: 'BullMQ (Redis)',
}

// ---------------------------------------------------------------------------------------------
// the measurements

function progress(run: Run<WorkerResult>): void {
  let text: string
  switch (run.measure) {
    case 'enqueue':
      text = `${run.mode}: ${num(enqueueRate(run), 0)} jobs/s, ${num(run.cpuUs / run.jobs, 1)} µs CPU/job, stored ${run.stored}`
      break
    case 'drain':
      text = `c=${run.concurrency} ${run.jobs} jobs: ${num(drainRate(run), 0)} jobs/s${run.capped ? ` (capped: ${run.finished} done)` : ''}, first job at ${num(run.firstMs, 1)} ms, handlers done at ${num(run.handlerMs, 1)} ms, stored at ${num(run.ms, 1)} ms, ${num(run.cpuUs / doneJobs(run), 1)} µs CPU/job, store ${num(run.storeCpuUs / doneJobs(run), 1)} µs/job, RSS ${num(run.maxRssBytes / MIB, 1)} MiB, succeeded ${run.succeeded}`
      break
    case 'latency': {
      const l = latencyPercentiles(run.samples)
      text = `${run.where}: p50 ${num(l.p50, 2)} p99 ${num(l.p99, 2)} max ${num(l.max, 2)} ms${l.missing > 0 ? `, ${l.missing} missing` : ''}`
      break
    }
    default:
      text = JSON.stringify(run)
  }
  const warned = run.warnings.length > 0 ? ` [${run.warnings.length} stderr line(s)]` : ''
  process.stderr.write(`round ${run.round} ${run.measure} ${run.impl}: ${text} (load ${num(run.load, 2)})${warned}\n`)
}

async function enqueueRound(s: Settings, round: number, runs: Runs): Promise<void> {
  // graphile-worker's configurations differ only in the worker.
  const impls = rotated(s.impls.filter((i) => i !== 'graphile-batch' || !s.impls.includes('graphile')), round)
  for (const mode of ['single', 'batch'] as const) {
    for (const impl of impls) {
      const store = freshStore(s, impl)
      try {
        const run = await runWorker<EnqueueResult>(['enqueue', impl, ...store.args, '--mode', mode, '--jobs', String(s.jobs), '--batch', String(s.batch)], round, s)
        runs.enqueue.push(run)
        progress(run)
      } finally {
        await store.cleanup()
      }
    }
  }
}

/** A fill process, then a drain process on the same store. */
async function fillAndDrain(s: Settings, impl: Impl, jobs: number, concurrency: number, round: number, extra: string[] = [], fillBatch = s.batch): Promise<Run<DrainResult> & { fillMs: number }> {
  const store = freshStore(s, impl)
  try {
    const filled = await runWorker<FillResult>(['fill', impl, ...store.args, '--jobs', String(jobs), '--batch', String(fillBatch)], round, s)
    const cap = impl === 'pgboss' ? ['--cap', String(s.cap)] : []
    if (impl === 'afterwork' && s.prefetch !== undefined) cap.push('--prefetch', String(s.prefetch))
    if (impl === 'afterwork' && s.retentionSucceeded !== undefined) cap.push('--retention-succeeded', s.retentionSucceeded)
    const run = await runWorker<DrainResult>(['drain', impl, ...store.args, '--jobs', String(jobs), '--concurrency', String(concurrency), ...cap, ...extra], round, s)
    return { ...run, fillMs: filled.ms }
  } finally {
    await store.cleanup()
  }
}

async function drainRound(s: Settings, round: number, runs: Runs): Promise<void> {
  for (const concurrency of s.concurrency) {
    for (const impl of rotated(s.impls, round)) {
      const run = await fillAndDrain(s, impl, s.jobs, concurrency, round)
      runs.drain.push(run)
      progress(run)
    }
  }
}

async function latencyRound(s: Settings, round: number, runs: Runs): Promise<void> {
  for (const where of ['same', 'separate'] as const) {
    for (const impl of rotated(s.impls, round)) {
      const store = freshStore(s, impl)
      try {
        const run = await runWorker<LatencyResult>(['latency', impl, ...store.args, '--jobs', String(s.latencyJobs), '--gap', String(s.gap), '--where', where], round, s)
        runs.latency.push(run)
        progress(run)
      } finally {
        await store.cleanup()
      }
    }
  }
}

/** Jobs a steady-depth drain enqueues at every such count of successes. */
const steadyRefill = (s: Settings) => Math.floor(s.shallow / 10)
/** The success from which a steady-depth drain is timed. */
const steadyFrom = (s: Settings) => Math.floor(s.steady / 5)

async function deepRuns(s: Settings, runs: Runs): Promise<void> {
  const marks = [...new Set([Math.min(s.shallow, s.deepClaims), s.deepClaims])].join(',')
  /** Warm-up jobs into the store, then a drain of `shallow` jobs by a worker that ran them first. */
  const warmDrain = async (store: string[], round: number) => {
    await runWorker<FillResult>(['fill', 'afterwork', ...store, '--task', 'warm', '--jobs', String(s.deepWarm), '--batch', '10000'], round, s)
    return runWorker<DrainResult>(['drain', 'afterwork', ...store, '--warm', String(s.deepWarm), '--jobs', String(s.shallow), '--concurrency', '50', '--marks', String(s.shallow)], round, s)
  }
  /** A drain of `steady` jobs that refills the queue as it goes, timed from the `steady`/5-th success. */
  const steadyDrain = (store: string[], round: number) =>
    runWorker<DrainResult>(
      ['drain', 'afterwork', ...store, '--jobs', String(s.steady), '--refill', String(steadyRefill(s)), '--concurrency', '50', '--marks', `${steadyFrom(s)},${s.steady}`],
      round,
      s,
    )
  for (let round = 1; round <= s.deepRuns; round++) {
    const shallow = await fillAndDrain(s, 'afterwork', s.shallow, 50, round, ['--marks', String(s.shallow)])
    runs.deep.push({ ...shallow, pending: s.shallow })
    progress(shallow)
    const shallowStore = freshStore(s, 'afterwork')
    try {
      const filled = await runWorker<FillResult>(['fill', 'afterwork', ...shallowStore.args, '--jobs', String(s.shallow), '--batch', String(s.batch)], round, s)
      const warm = await warmDrain(shallowStore.args, round)
      runs.deep.push({ ...warm, pending: s.shallow, fillMs: filled.ms, warm: true })
      progress(warm)
    } finally {
      await shallowStore.cleanup()
    }
    const steadyStore = freshStore(s, 'afterwork')
    try {
      const filled = await runWorker<FillResult>(['fill', 'afterwork', ...steadyStore.args, '--jobs', String(s.shallow), '--batch', String(s.batch)], round, s)
      const steady = await steadyDrain(steadyStore.args, round)
      runs.deep.push({ ...steady, pending: s.shallow, fillMs: filled.ms, steady: 'shallow' })
      progress(steady)
    } finally {
      await steadyStore.cleanup()
    }
    process.stderr.write(`deep round ${round}: filling ${num(s.deep, 0)} jobs ...\n`)
    const store = freshStore(s, 'afterwork')
    try {
      const filled = await runWorker<FillResult>(['fill', 'afterwork', ...store.args, '--jobs', String(s.deep), '--batch', '10000'], round, s)
      process.stderr.write(`deep round ${round}: filled in ${num(filled.ms / 1000, 1)} s\n`)
      if (s.deepAnalyze) await (await adminClient(s)).query(`ANALYZE "${store.args[1] as string}".jobs`)
      const deep = await runWorker<DrainResult>(['drain', 'afterwork', ...store.args, '--jobs', String(s.deepClaims), '--concurrency', '50', '--marks', marks], round, s)
      runs.deep.push({ ...deep, pending: s.deep, fillMs: filled.ms })
      progress(deep)
      // The rest of the deep queue, drained by a warm worker.
      const warm = await warmDrain(store.args, round)
      runs.deep.push({ ...warm, pending: s.deep - s.deepClaims, fillMs: filled.ms, warm: true })
      progress(warm)
      // What is left (the warm drain's stop finishes what it had claimed: about `shallow` fewer).
      const steady = await steadyDrain(store.args, round)
      runs.deep.push({ ...steady, pending: s.deep - s.deepClaims - s.shallow, fillMs: filled.ms, steady: 'deep' })
      progress(steady)
    } finally {
      await store.cleanup()
    }
  }
}

async function runAll(s: Settings): Promise<Runs> {
  const runs: Runs = { enqueue: [], drain: [], latency: [], deep: [] }
  for (let round = 1; round <= s.runs; round++) {
    if (s.only.includes('enqueue')) await enqueueRound(s, round, runs)
    if (s.only.includes('drain')) await drainRound(s, round, runs)
    if (s.only.includes('latency')) await latencyRound(s, round, runs)
  }
  if (s.only.includes('deep') && s.impls.includes('afterwork')) await deepRuns(s, runs)
  return runs
}

// ---------------------------------------------------------------------------------------------
// reports

function enqueueReport(runs: Run<EnqueueResult>[], s: Settings): string[] {
  const of = (impl: Impl, mode: string) => runs.filter((r) => r.impl === impl && r.mode === mode)
  const present = allImpls.filter((i) => runs.some((r) => r.impl === i))
  const rows = (['single', 'batch'] as const).flatMap((mode) =>
    present.map((impl) => {
      const mine = of(impl, mode)
      const how = mode === 'single' ? '1 awaited call per job' : `${num(s.batch, 0)} per call`
      const label = impl === 'graphile' ? 'graphile-worker (either configuration)' : implName[impl]
      return `| ${label} | ${how} | ${fmtValues(mine.map(enqueueRate), 0)} | ${fmtSpread(spread(mine.map((r) => r.cpuUs / r.jobs)), 1)} |`
    }),
  )
  const others = present.filter((i) => i !== 'afterwork')
  const ratios = (['single', 'batch'] as const).flatMap((mode) =>
    others.map((other) => `| ${mode}: afterwork / ${implName[other]} | ${fmtSpread(spread(paired(of('afterwork', mode), of(other, mode), enqueueRate, enqueueRate)), 2)} |`),
  )
  return [
    `### Enqueue throughput, ${num(s.jobs, 0)} no-op jobs`,
    '',
    '| queue | calls | jobs/s median (min–max, n) | CPU µs/job (enqueuing process) |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
    '| jobs/s ratio, paired per round | median (min–max) |',
    '| --- | --- |',
    ...ratios,
  ]
}

function drainReport(runs: Run<DrainResult>[], s: Settings): string[] {
  const of = (impl: Impl, c: number) => runs.filter((r) => r.impl === impl && r.concurrency === c)
  const present = allImpls.filter((i) => runs.some((r) => r.impl === i))
  const row = (impl: Impl, c: number) => {
    const mine = of(impl, c)
    if (mine.length === 0) return []
    const capped = mine.some((r) => r.capped)
    const ok = capped
      ? `capped at ${num(s.cap / 1000, 0)} s: ${mine.map((r) => r.finished).join(', ')} done`
      : mine.every((r) => r.succeeded >= r.jobs)
        ? 'yes'
        : `no (${mine.map((r) => r.succeeded).join(', ')})`
    return [
      `| ${implName[impl]} c=${c} | ${fmtValues(mine.map(drainRate), 0)} | ${fmtSpread(spread(mine.map(steadyRate)), 0)} | ${fmtSpread(spread(mine.map((r) => r.firstMs)), 0)} | ${fmtSpread(spread(mine.map(cpuPerJob)), 1)} | ${fmtSpread(spread(mine.map((r) => r.storeCpuUs / doneJobs(r))), 1)} | ${fmtSpread(spread(mine.map((r) => r.maxRssBytes / MIB)), 1)} | ${ok} |`,
    ]
  }
  const lines = [
    `### Drain throughput, ${num(s.jobs, 0)} queued no-op jobs, one worker process`,
    '',
    '| worker | jobs/s from worker start, median (min–max, n) | jobs/s from first job start | worker start to first job (ms) | CPU µs/job (worker process, from first job) | CPU µs/job (PostgreSQL, or Redis) | worker peak RSS MiB | all succeeded |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...s.concurrency.flatMap((c) => present.flatMap((impl) => row(impl, c))),
    '',
    '| drain ratio (jobs/s from worker start), paired per round | median (min–max) | target | median meets it |',
    '| --- | --- | --- | --- |',
  ]
  for (const c of s.concurrency) {
    for (const other of present.filter((i) => i !== 'afterwork')) {
      const ratio = spread(paired(of('afterwork', c), of(other, c), drainRate, drainRate))
      const target = other === 'graphile-batch'
      lines.push(
        `| afterwork / ${implName[other]}, c=${c} | ${fmtSpread(ratio, 2)} | ${target ? `> ${targets.drainOverGraphileBatch}` : ''} | ${target ? verdict(ratio.median, ratio.median > targets.drainOverGraphileBatch) : ''} |`,
      )
    }
  }
  if (present.includes('afterwork') && present.includes('graphile-batch')) {
    for (const c of s.concurrency) {
      const ratio = spread(paired(of('afterwork', c), of('graphile-batch', c), steadyRate, steadyRate))
      lines.push(
        `| afterwork / ${implName['graphile-batch']}, c=${c}, jobs/s from first job start | ${fmtSpread(ratio, 2)} | > ${targets.drainOverGraphileBatch} | ${verdict(ratio.median, ratio.median > targets.drainOverGraphileBatch)} |`,
      )
    }
  }
  const rss = spread(runs.filter((r) => r.impl === 'afterwork').map((r) => r.maxRssBytes / MIB))
  lines.push(`| afterwork worker peak RSS, all drains (MiB) | ${fmtSpread(rss, 1)} | < ${targets.rssMiB} | ${verdict(rss.max, rss.max < targets.rssMiB)} (max) |`)
  return lines
}

function latencyReport(runs: Run<LatencyResult>[], s: Settings): string[] {
  const present = allImpls.filter((i) => runs.some((r) => r.impl === i))
  const of = (impl: Impl, where: string) => runs.filter((r) => r.impl === impl && r.where === where)
  const whereName = { same: 'producer and worker in one process', separate: 'worker in a separate process' } as const
  const rows = (['same', 'separate'] as const).flatMap((where) =>
    present.map((impl) => {
      const p = of(impl, where).map((r) => latencyPercentiles(r.samples))
      const missing = p.reduce((sum, x) => sum + x.missing, 0)
      return `| ${implName[impl]}, ${whereName[where]} | ${fmtValues(p.map((x) => x.p50), 2)} | ${fmtSpread(spread(p.map((x) => x.p99)), 2)} | ${fmtSpread(spread(p.map((x) => x.max)), 2)}${missing > 0 ? ` (${missing} jobs never started)` : ''} |`
    }),
  )
  const p50 = (r: Run<LatencyResult>) => latencyPercentiles(r.samples).p50
  const lines = [
    `### Enqueue-to-start latency, ${s.latencyJobs} jobs ${s.gap} ms apart, worker concurrency 10 (ms)`,
    '',
    '| worker | p50 | p99 | max |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
    '| pick-up | median (min–max) | target | median meets it |',
    '| --- | --- | --- | --- |',
  ]
  for (const where of ['same', 'separate'] as const) {
    const mine = spread(of('afterwork', where).map(p50))
    lines.push(`| afterwork p50, ${whereName[where]} (ms) | ${fmtSpread(mine, 2)} | < ${targets.pickupP50Ms} | ${verdict(mine.median, mine.median < targets.pickupP50Ms)} |`)
    for (const other of present.filter((i) => i !== 'afterwork' && i !== 'pgboss')) {
      lines.push(`| afterwork / ${implName[other]} p50, ${whereName[where]}, paired | ${fmtSpread(spread(paired(of('afterwork', where), of(other, where), p50, p50)), 2)} | | |`)
    }
  }
  return lines
}

function deepReport(runs: DeepRun[], s: Settings): string[] {
  const shallow = runs.filter((r) => r.pending === s.shallow && !r.warm && r.steady === undefined)
  const warmShallow = runs.filter((r) => r.pending === s.shallow && r.warm)
  const deep = runs.filter((r) => r.pending === s.deep)
  const warmDeep = runs.filter((r) => r.pending === s.deep - s.deepClaims && r.warm)
  const steadyShallow = runs.filter((r) => r.steady === 'shallow')
  const steadyDeep = runs.filter((r) => r.steady === 'deep')
  const mark = (r: DrainResult, count: number) => r.marks.find((m) => m.count === count)
  /** Jobs per second from the first job's start to the count-th success. */
  const window = (r: DrainResult, count: number) => rate(count, (mark(r, count)?.ms ?? NaN) - r.firstMs)
  /** The worker process's CPU µs per job over the same window. */
  const cpuPerJob = (r: DrainResult, count: number) => ((mark(r, count)?.cpuUs ?? NaN) - r.firstCpuUs) / count
  const small = Math.min(s.shallow, s.deepClaims)
  const shallowRate = (r: DrainResult) => window(r, s.shallow)
  const deepRate = (r: DrainResult) => window(r, s.deepClaims)
  const headline = spread(paired(deep, shallow, deepRate, shallowRate))
  const like = spread(paired(deep, shallow, (r) => window(r, small), (r) => window(r, small)))
  const warmRatio = spread(paired(warmDeep, warmShallow, shallowRate, shallowRate))
  const cpuHeadline = spread(paired(shallow, deep, (r) => cpuPerJob(r, s.shallow), (r) => cpuPerJob(r, s.deepClaims)))
  const from = steadyFrom(s)
  /** Jobs per second from the `from`-th success to the last, and the worker's CPU µs per job then. */
  const steadyRate = (r: DrainResult) => rate(s.steady - from, (mark(r, s.steady)?.ms ?? NaN) - (mark(r, from)?.ms ?? NaN))
  const steadyCpu = (r: DrainResult) => ((mark(r, s.steady)?.cpuUs ?? NaN) - (mark(r, from)?.cpuUs ?? NaN)) / (s.steady - from)
  const steadyRatio = spread(paired(steadyDeep, steadyShallow, steadyRate, steadyRate))
  const steadyWindow = `jobs ${num(from + 1, 0)}–${num(s.steady, 0)}`
  const steadyRows =
    steadyShallow.length === 0
      ? []
      : [
          `| about ${num(s.shallow, 0)}, refilled ${num(steadyRefill(s), 0)} at a time | ${steadyWindow} | ${fmtValues(steadyShallow.map(steadyRate), 0)} | ${fmtSpread(spread(steadyShallow.map(steadyCpu)), 1)} | ${fmtSpread(spread(steadyShallow.map((r) => r.storeCpuUs / s.steady)), 1)} | |`,
          `| about ${num(s.deep - s.deepClaims - s.shallow, 0)}, refilled alike | ${steadyWindow} | ${fmtValues(steadyDeep.map(steadyRate), 0)} | ${fmtSpread(spread(steadyDeep.map(steadyCpu)), 1)} | ${fmtSpread(spread(steadyDeep.map((r) => r.storeCpuUs / s.steady)), 1)} | |`,
        ]
  const steadyRatioRows =
    steadyShallow.length === 0
      ? []
      : [
          `| steady depth: ${steadyWindow} with about ${num(s.deep - s.deepClaims - s.shallow, 0)} pending / with about ${num(s.shallow, 0)} pending | ${fmtSpread(steadyRatio, 3)} | ≥ ${targets.deepOverShallow} | ${verdict(steadyRatio.median, steadyRatio.median >= targets.deepOverShallow)} |`,
        ]
  return [
    `### Drain rate with ${num(s.deep, 0)} jobs pending against ${num(s.shallow, 0)} pending (afterwork, c=50, ${shallow.length} runs each)`,
    '',
    '| pending | window | jobs/s median (min–max, n) | worker CPU µs/job in the window | PostgreSQL CPU µs/job (whole drain) | worker start to first job (ms) |',
    '| --- | --- | --- | --- | --- | --- |',
    `| ${num(s.shallow, 0)} | all ${num(s.shallow, 0)} | ${fmtValues(shallow.map(shallowRate), 0)} | ${fmtSpread(spread(shallow.map((r) => cpuPerJob(r, s.shallow))), 1)} | ${fmtSpread(spread(shallow.map((r) => r.storeCpuUs / r.jobs)), 1)} | ${fmtSpread(spread(shallow.map((r) => r.firstMs)), 1)} |`,
    `| ${num(s.deep, 0)} | first ${num(small, 0)} | ${fmtValues(deep.map((r) => window(r, small)), 0)} | ${fmtSpread(spread(deep.map((r) => cpuPerJob(r, small))), 1)} | | ${fmtSpread(spread(deep.map((r) => r.firstMs)), 1)} |`,
    `| ${num(s.deep, 0)} | first ${num(s.deepClaims, 0)} | ${fmtValues(deep.map(deepRate), 0)} | ${fmtSpread(spread(deep.map((r) => cpuPerJob(r, s.deepClaims))), 1)} | ${fmtSpread(spread(deep.map((r) => r.storeCpuUs / r.jobs)), 1)} | |`,
    `| ${num(s.shallow, 0)}, worker warmed up by ${num(s.deepWarm, 0)} jobs | all ${num(s.shallow, 0)} | ${fmtValues(warmShallow.map(shallowRate), 0)} | ${fmtSpread(spread(warmShallow.map((r) => cpuPerJob(r, s.shallow))), 1)} | | ${fmtSpread(spread(warmShallow.map((r) => r.firstMs)), 1)} |`,
    `| ${num(s.deep - s.deepClaims, 0)}, worker warmed up by ${num(s.deepWarm, 0)} jobs | first ${num(s.shallow, 0)} | ${fmtValues(warmDeep.map(shallowRate), 0)} | ${fmtSpread(spread(warmDeep.map((r) => cpuPerJob(r, s.shallow))), 1)} | | ${fmtSpread(spread(warmDeep.map((r) => r.firstMs)), 1)} |`,
    ...steadyRows,
    '',
    '| ratio, paired per run | median (min–max) | target | median meets it |',
    '| --- | --- | --- | --- |',
    `| first ${num(s.deepClaims, 0)} of ${num(s.deep, 0)} / all ${num(s.shallow, 0)} of ${num(s.shallow, 0)} | ${fmtSpread(headline, 3)} | ≥ ${targets.deepOverShallow} | ${verdict(headline.median, headline.median >= targets.deepOverShallow)} |`,
    `| first ${num(small, 0)} of ${num(s.deep, 0)} / all ${num(small, 0)} of ${num(s.shallow, 0)} (same window) | ${fmtSpread(like, 3)} | ≥ ${targets.deepOverShallow} | ${verdict(like.median, like.median >= targets.deepOverShallow)} |`,
    `| warm worker: first ${num(s.shallow, 0)} of ${num(s.deep - s.deepClaims, 0)} / all ${num(s.shallow, 0)} of ${num(s.shallow, 0)} | ${fmtSpread(warmRatio, 3)} | ≥ ${targets.deepOverShallow} | ${verdict(warmRatio.median, warmRatio.median >= targets.deepOverShallow)} |`,
    `| jobs per worker CPU-second: first ${num(s.deepClaims, 0)} of ${num(s.deep, 0)} / all ${num(s.shallow, 0)} of ${num(s.shallow, 0)} | ${fmtSpread(cpuHeadline, 3)} | | |`,
    ...steadyRatioRows,
    '',
    `Each deep run fills a fresh schema with ${num(s.deep, 0)} jobs (enqueueMany, batches of 10,000: ${fmtSpread(spread(deep.map((r) => r.fillMs / 1000)), 1)} s)${s.deepAnalyze ? ', runs ANALYZE on its jobs table,' : ''} and drains it at once with a fresh worker process${s.deepAnalyze ? '' : ' (before autovacuum has analyzed the new table)'}. Rates run from the first job's start to the n-th success.`,
  ]
}

function report(runs: Runs, s: Settings): string {
  const sections: string[][] = []
  if (runs.enqueue.length > 0) sections.push(enqueueReport(runs.enqueue, s))
  if (runs.drain.length > 0) sections.push(drainReport(runs.drain, s))
  if (runs.latency.length > 0) sections.push(latencyReport(runs.latency, s))
  if (runs.deep.length > 0) sections.push(deepReport(runs.deep, s))
  const loads = spread([...runs.enqueue, ...runs.drain, ...runs.latency, ...runs.deep].map((r) => r.load))
  sections.push([`Machine load (1-minute load average as each run began): ${fmtSpread(loads, 2)} on ${cpus().length} CPUs.`])
  return [...sections.flatMap((section) => [...section, '']), ...warningsReport<Run<WorkerResult>>([...runs.enqueue, ...runs.drain, ...runs.latency, ...runs.deep], (r) => `${r.measure} ${r.impl} round ${r.round}`)].join('\n')
}

// ---------------------------------------------------------------------------------------------

async function versions(s: Settings): Promise<Record<string, string>> {
  const pkg = (dir: string, name: string) => {
    try {
      return (JSON.parse(readFileSync(`${dir}node_modules/${name}/package.json`, 'utf8')) as { version: string }).version
    } catch {
      return 'missing'
    }
  }
  const c = await adminClient(s)
  const setting = async (name: string) => ((await c.query(`SELECT current_setting($1) AS v`, [name])).rows[0] as { v: string }).v
  let redis = 'unknown'
  try {
    redis = /redis_version:(\S+)/.exec(execFileSync('redis-cli', ['-u', s.redis, 'info', 'server'], { encoding: 'utf8' }))?.[1] ?? 'unknown'
  } catch {
    // redis-cli missing: BullMQ runs will say whether Redis is there.
  }
  return {
    node: process.version,
    postgres: await setting('server_version'),
    'postgres synchronous_commit': await setting('synchronous_commit'),
    'postgres shared_buffers': await setting('shared_buffers'),
    'graphile-worker': pkg(anchorsDir, 'graphile-worker'),
    'pg-boss': pkg(anchorsDir, 'pg-boss'),
    'pg (anchors)': pkg(anchorsDir, 'pg'),
    'pg (afterwork)': pkg(repoRoot, 'pg'),
    bullmq: pkg(repoRoot, 'bullmq'),
    ioredis: pkg(repoRoot, 'ioredis'),
    redis,
  }
}

function saveRaw(s: Settings, runs: Runs, v: Record<string, string>): string {
  mkdirSync(resultsDir, { recursive: true })
  const date = new Date().toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')
  const file = `${resultsDir}queue-postgres-${date}.json`
  const machine = { cpus: cpus().length, model: cpus()[0]?.model, memoryBytes: totalmem() }
  writeFileSync(file, `${JSON.stringify({ date, versions: v, source: sourceVersion(), settings: s, machine, runs }, null, 2)}\n`)
  return file
}

async function main(): Promise<void> {
  const settings = readSettings()
  try {
    const v = await versions(settings)
    process.stderr.write(`${Object.entries(v).map(([k, x]) => `${k} ${x}`).join(', ')}; ${JSON.stringify(settings)}\n`)
    const runs = await runAll(settings)
    const file = saveRaw(settings, runs, v)
    process.stdout.write(`${report(runs, settings)}\n`)
    process.stderr.write(`raw runs: ${file}\n`)
  } finally {
    // A failed run leaves no schema behind.
    for (const schema of [...liveSchemas]) await dropSchema(settings, schema).catch(() => {})
    await admin?.end()
  }
}

await main()
