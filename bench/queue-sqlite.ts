/**
 * The durable queue on SQLite, against a bare better-sqlite3 claim loop (the one-job-per-transaction
 * floor) and BullMQ on the local Redis, in one run:
 *
 *   node --conditions=afterwork-source --import tsx bench/queue-sqlite.ts [--runs 5] [--jobs 10000]
 *     [--batch 1000] [--concurrency 1,50] [--latency-jobs 100] [--gap 10] [--polls 1000,50]
 *     [--loop-jobs 50000] [--floor-cycles 20000] [--deep 1000000] [--shallow 1000] [--deep-claims 10000]
 *     [--deep-runs 5] [--only enqueue,drain,latency,loop,deep] [--synchronous NORMAL]
 *     [--dir .tmp/queue-sqlite] [--redis redis://127.0.0.1:6379]
 *
 * 1. enqueue: `jobs` no-op jobs one awaited call at a time (afterwork `task.enqueue`, BullMQ
 *    `queue.add`, bare one autocommitted INSERT each) and in batches (`enqueueMany`, `addBulk`, one
 *    transaction per batch).
 * 2. drain: `jobs` queued no-op jobs, stored by a fill process first, run by a worker process that
 *    holds nothing else (so its peak RSS is the worker's): afterwork (a Service with
 *    `worker: { concurrency }`) and BullMQ at each concurrency, and the bare loop (claim with
 *    UPDATE ... RETURNING, complete, each its own transaction). Time from worker start to the last
 *    success. The floor is the issue's: `floor-cycles` full cycles of INSERT, claim, complete.
 * 3. latency: `latency-jobs` jobs enqueued `gap` ms apart; pick-up = handler start minus the time
 *    taken just before the enqueue call. Worker in the same process (concurrency 10; afterwork starts
 *    the job on the enqueue's wake-up), and in a separate process (afterwork polls SQLite every
 *    `pollInterval`: each value of --polls is a run; BullMQ is woken by Redis).
 * 4. loop: the web process's event-loop delay (monitorEventLoopDelay, 1 ms resolution) while it
 *    enqueues one job every `gap` ms and a separate worker process drains `loop-jobs` jobs
 *    (concurrency 50) from the same store; `idle` is the same web process with no worker anywhere.
 * 5. deep: the drain rate of the first `deep-claims` jobs with `deep` jobs pending, against the rate
 *    of draining `shallow` pending jobs (concurrency 50). The deep file is filled once (enqueueMany
 *    in batches of 10,000) and copied for each run.
 *
 * Every measurement is a fresh process (bench/queue-sqlite-worker.ts) on a fresh database file (or a
 * fresh BullMQ queue, obliterated after). Within a round the libraries alternate, and ratios are
 * taken round by round. Nothing is pinned: worker, producer, Redis and the shared machine's other
 * load share its cores, so CPU time per job is reported beside the wall-clock rates.
 *
 * Prints markdown tables on stdout (progress goes to stderr) and writes every run's raw figures to
 * bench/results/queue-sqlite-<date>.json.
 */
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { cpus, loadavg, totalmem } from 'node:os'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { DrainResult, EnqueueResult, FillResult, FloorResult, Impl, LatencyResult, LoopResult, WorkerResult } from './queue-sqlite-worker.js'
import { fmtSpread, fmtValues, latencyPercentiles, num, paired, rate, runJsonChild, verdict, warningsReport, removeDb, sourceVersion, spread } from './harness.js'

const allGroups = ['enqueue', 'drain', 'latency', 'loop', 'deep'] as const
type Group = (typeof allGroups)[number]
/** Targets of issue 6. */
const targets = { drainOverFloor: 2, drainOverBullmq: 1, pickupP50Ms: 2, deepOverShallow: 0.9 } as const

const workerScript = fileURLToPath(new URL('./queue-sqlite-worker.ts', import.meta.url))
const resultsDir = fileURLToPath(new URL('./results/', import.meta.url))
const repoRoot = fileURLToPath(new URL('../', import.meta.url))
const MIB = 1024 * 1024

interface Settings {
  runs: number
  jobs: number
  batch: number
  concurrency: number[]
  latencyJobs: number
  gap: number
  polls: number[]
  loopJobs: number
  floorCycles: number
  deep: number
  shallow: number
  deepClaims: number
  deepRuns: number
  only: Group[]
  synchronous: 'NORMAL' | 'FULL'
  dir: string
  redis: string
}

/** A worker's result plus its round, the machine's 1-minute load when it began, and its stderr. */
type Run<R extends WorkerResult> = R & { round: number; load: number; warnings: string[] }

/** A deep-queue comparison: one run drains from the shallow file, one from a copy of the deep one. */
type DeepRun = Run<DrainResult> & { pending: number }

interface Runs {
  enqueue: Run<EnqueueResult>[]
  floor: Run<FloorResult>[]
  drain: Run<DrainResult>[]
  latency: Run<LatencyResult>[]
  loop: Run<LoopResult>[]
  deep: DeepRun[]
  deepFill?: FillResult & { bytes: number }
}

function readSettings(): Settings {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '5' },
      jobs: { type: 'string', default: '10000' },
      batch: { type: 'string', default: '1000' },
      concurrency: { type: 'string', default: '1,50' },
      'latency-jobs': { type: 'string', default: '100' },
      gap: { type: 'string', default: '10' },
      polls: { type: 'string', default: '1000,50' },
      'loop-jobs': { type: 'string', default: '50000' },
      'floor-cycles': { type: 'string', default: '20000' },
      deep: { type: 'string', default: '1000000' },
      shallow: { type: 'string', default: '1000' },
      'deep-claims': { type: 'string', default: '10000' },
      'deep-runs': { type: 'string', default: '5' },
      only: { type: 'string', default: allGroups.join(',') },
      synchronous: { type: 'string', default: 'NORMAL' },
      dir: { type: 'string', default: resolve(repoRoot, '.tmp/queue-sqlite') },
      redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    },
  })
  const int = (name: string, value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be an integer >= 1; got ${value}`)
    return n
  }
  const ints = (name: string, value: string): number[] => value.split(',').map((v) => int(name, v.trim()))
  if (values.synchronous !== 'NORMAL' && values.synchronous !== 'FULL') throw new Error(`--synchronous takes NORMAL or FULL; got ${values.synchronous}`)
  const only = values.only.split(',').map((g) => g.trim())
  const bad = only.filter((g) => !(allGroups as readonly string[]).includes(g))
  if (bad.length > 0 || only.length === 0) throw new Error(`--only takes a comma list of ${allGroups.join(', ')}; got ${values.only}`)
  const s: Settings = {
    runs: int('runs', values.runs),
    jobs: int('jobs', values.jobs),
    batch: int('batch', values.batch),
    concurrency: ints('concurrency', values.concurrency),
    latencyJobs: int('latency-jobs', values['latency-jobs']),
    gap: int('gap', values.gap),
    polls: ints('polls', values.polls),
    loopJobs: int('loop-jobs', values['loop-jobs']),
    floorCycles: int('floor-cycles', values['floor-cycles']),
    deep: int('deep', values.deep),
    shallow: int('shallow', values.shallow),
    deepClaims: int('deep-claims', values['deep-claims']),
    deepRuns: int('deep-runs', values['deep-runs']),
    only: only as Group[],
    synchronous: values.synchronous,
    dir: resolve(values.dir),
    redis: values.redis,
  }
  if (s.deepClaims > s.deep) throw new Error('--deep-claims must not exceed --deep')
  return s
}

// ---------------------------------------------------------------------------------------------
// running children

let queueCounter = 0

/** A fresh BullMQ queue name: every BullMQ run starts from an empty queue. */
function freshQueue(): string {
  return `afterwork-bench-${process.pid}-${++queueCounter}`
}

/** A fresh database path for one measurement (removed first, in case a run was cut short). */
function freshDb(s: Settings, label: string): string {
  const path = `${s.dir}/${label}.db`
  removeDb(path)
  return path
}

/** Runs one measurement in a fresh process and returns the JSON line it prints last. */
async function runWorker<R extends WorkerResult>(args: string[], round: number, s: Settings): Promise<Run<R>> {
  const load = loadavg()[0] as number
  const argv = ['--conditions=afterwork-source', '--import', 'tsx', workerScript, ...args, '--synchronous', s.synchronous, '--redis', s.redis]
  const { result, warnings } = await runJsonChild<R>(argv, { label: args.join(' ') })
  return { ...result, round, load, warnings }
}

/** Where a store lives: a database file for afterwork and bare, a queue name for BullMQ. */
function storeArgs(s: Settings, impl: Impl, label: string): { args: string[]; cleanup: () => void } {
  if (impl === 'bullmq') return { args: ['--queue', freshQueue()], cleanup: () => {} }
  const db = freshDb(s, label)
  return { args: ['--db', db], cleanup: () => removeDb(db) }
}

// ---------------------------------------------------------------------------------------------
// formatting (the shared helpers are in bench/harness.ts)

const drainRate = (r: DrainResult) => rate(r.jobs, r.ms)
const floorRate = (r: FloorResult) => rate(r.cycles, r.ms)
const enqueueRate = (r: EnqueueResult) => rate(r.jobs, r.ms)

// ---------------------------------------------------------------------------------------------
// the measurements

function progress(run: Run<WorkerResult>): void {
  let text: string
  switch (run.measure) {
    case 'enqueue':
      text = `${run.mode}: ${num(enqueueRate(run), 0)} jobs/s, ${num(run.cpuUs / run.jobs, 1)} µs CPU/job, stored ${run.stored}`
      break
    case 'drain':
      text = `c=${run.concurrency} ${run.jobs} jobs: ${num(drainRate(run), 0)} jobs/s, ${num(run.cpuUs / run.jobs, 1)} µs CPU/job, first job at ${num(run.firstMs, 1)} ms, RSS ${num(run.maxRssBytes / MIB, 1)} MiB, succeeded ${run.succeeded}`
      break
    case 'floor':
      text = `${num(floorRate(run), 0)} cycles/s, ${num(run.cpuUs / run.cycles, 1)} µs CPU/cycle`
      break
    case 'latency': {
      const l = latencyPercentiles(run.samples)
      text = `${run.where}${run.pollMs === undefined ? '' : ` poll ${run.pollMs} ms`}: p50 ${num(l.p50, 2)} p99 ${num(l.p99, 2)} max ${num(l.max, 2)} ms`
      break
    }
    case 'loop':
      text = `${run.variant}: loop p50 ${num(run.loop.p50, 2)} p99 ${num(run.loop.p99, 2)} max ${num(run.loop.max, 2)} ms; enqueue p99 ${num(run.enqueue.p99, 2)} max ${num(run.enqueue.max, 2)} ms over ${run.enqueue.count}${run.drain ? `; drain ${num(drainRate(run.drain), 0)} jobs/s` : ''}`
      break
    default:
      text = JSON.stringify(run)
  }
  const warned = run.warnings.length > 0 ? ` [${run.warnings.length} stderr line(s)]` : ''
  process.stderr.write(`round ${run.round} ${run.measure} ${run.impl}: ${text} (load ${num(run.load, 2)})${warned}\n`)
}

async function enqueueRound(s: Settings, round: number, runs: Runs): Promise<void> {
  for (const mode of ['single', 'batch'] as const) {
    for (const impl of ['afterwork', 'bullmq', 'bare'] as const) {
      const store = storeArgs(s, impl, `enqueue-${impl}`)
      const run = await runWorker<EnqueueResult>(['enqueue', impl, ...store.args, '--mode', mode, '--jobs', String(s.jobs), '--batch', String(s.batch)], round, s)
      store.cleanup()
      runs.enqueue.push(run)
      progress(run)
    }
  }
}

/** A fill process, then a drain process on the same store. */
async function fillAndDrain(s: Settings, impl: Impl, jobs: number, concurrency: number, round: number, label: string, extra: string[] = []): Promise<Run<DrainResult>> {
  const store = storeArgs(s, impl, label)
  await runWorker<FillResult>(['fill', impl, ...store.args, '--jobs', String(jobs), '--batch', String(s.batch)], round, s)
  const run = await runWorker<DrainResult>(['drain', impl, ...store.args, '--jobs', String(jobs), '--concurrency', String(concurrency), ...extra], round, s)
  store.cleanup()
  return run
}

async function drainRound(s: Settings, round: number, runs: Runs): Promise<void> {
  for (const concurrency of s.concurrency) {
    for (const impl of ['afterwork', 'bullmq'] as const) {
      const run = await fillAndDrain(s, impl, s.jobs, concurrency, round, `drain-${impl}`)
      runs.drain.push(run)
      progress(run)
    }
  }
  const bare = await fillAndDrain(s, 'bare', s.jobs, 1, round, 'drain-bare')
  runs.drain.push(bare)
  progress(bare)
  const db = freshDb(s, 'floor')
  const floor = await runWorker<FloorResult>(['floor', 'bare', '--db', db, '--jobs', String(s.floorCycles)], round, s)
  removeDb(db)
  runs.floor.push(floor)
  progress(floor)
}

async function latencyRound(s: Settings, round: number, runs: Runs): Promise<void> {
  const base = ['--jobs', String(s.latencyJobs), '--gap', String(s.gap)]
  const plan: { impl: Impl; where: 'same' | 'separate'; poll?: number }[] = [
    { impl: 'afterwork', where: 'same' },
    { impl: 'bullmq', where: 'same' },
    ...s.polls.map((poll) => ({ impl: 'afterwork' as const, where: 'separate' as const, poll })),
    { impl: 'bullmq', where: 'separate' },
  ]
  for (const p of plan) {
    const store = storeArgs(s, p.impl, `latency-${p.impl}`)
    const args = ['latency', p.impl, ...store.args, ...base, '--where', p.where, ...(p.poll === undefined ? [] : ['--poll', String(p.poll)])]
    const run = await runWorker<LatencyResult>(args, round, s)
    store.cleanup()
    runs.latency.push(run)
    progress(run)
  }
}

async function loopRound(s: Settings, round: number, runs: Runs): Promise<void> {
  const plan: { impl: Impl; variant: 'worker' | 'idle' }[] = [
    { impl: 'afterwork', variant: 'worker' },
    { impl: 'afterwork', variant: 'idle' },
    { impl: 'bullmq', variant: 'worker' },
  ]
  for (const p of plan) {
    const store = storeArgs(s, p.impl, `loop-${p.impl}`)
    if (p.variant === 'worker') await runWorker<FillResult>(['fill', p.impl, ...store.args, '--jobs', String(s.loopJobs), '--batch', String(s.batch)], round, s)
    const args = ['loop', p.impl, ...store.args, '--variant', p.variant, '--jobs', String(s.loopJobs), '--concurrency', '50', '--gap', String(s.gap), '--window', '2000']
    const run = await runWorker<LoopResult>(args, round, s)
    store.cleanup()
    runs.loop.push(run)
    progress(run)
  }
}

async function deepRuns(s: Settings, runs: Runs): Promise<void> {
  const template = freshDb(s, 'deep-template')
  process.stderr.write(`deep: filling ${num(s.deep, 0)} jobs into ${template} ...\n`)
  const filled = await runWorker<FillResult>(['fill', 'afterwork', '--db', template, '--jobs', String(s.deep), '--batch', '10000'], 0, s)
  // The fill's service closed the file, which checkpoints the WAL into it: one file to copy.
  const bytes = readFileSync(template).byteLength
  runs.deepFill = { ...filled, bytes }
  process.stderr.write(`deep: filled ${num(filled.jobs, 0)} jobs in ${num(filled.ms / 1000, 1)} s, ${num(bytes / MIB, 0)} MiB\n`)
  const marks = [...new Set([Math.min(s.shallow, s.deepClaims), s.deepClaims])].join(',')
  for (let round = 1; round <= s.deepRuns; round++) {
    const shallow = await fillAndDrain(s, 'afterwork', s.shallow, 50, round, 'deep-shallow', ['--marks', String(s.shallow)])
    runs.deep.push({ ...shallow, pending: s.shallow })
    progress(shallow)
    const copy = freshDb(s, 'deep-copy')
    copyFileSync(template, copy)
    const deep = await runWorker<DrainResult>(['drain', 'afterwork', '--db', copy, '--jobs', String(s.deepClaims), '--concurrency', '50', '--marks', marks], round, s)
    removeDb(copy)
    runs.deep.push({ ...deep, pending: s.deep })
    progress(deep)
  }
  removeDb(template)
}

async function runAll(s: Settings): Promise<Runs> {
  const runs: Runs = { enqueue: [], floor: [], drain: [], latency: [], loop: [], deep: [] }
  mkdirSync(s.dir, { recursive: true })
  for (let round = 1; round <= s.runs; round++) {
    if (s.only.includes('enqueue')) await enqueueRound(s, round, runs)
    if (s.only.includes('drain')) await drainRound(s, round, runs)
    if (s.only.includes('latency')) await latencyRound(s, round, runs)
    if (s.only.includes('loop')) await loopRound(s, round, runs)
  }
  if (s.only.includes('deep')) await deepRuns(s, runs)
  return runs
}

// ---------------------------------------------------------------------------------------------
// reports

const implName: Record<Impl, string> = { afterwork: 'afterwork (SQLite)', bullmq: 'BullMQ (Redis)', bare: 'bare better-sqlite3' }

function enqueueReport(runs: Run<EnqueueResult>[], s: Settings): string[] {
  const of = (impl: Impl, mode: string) => runs.filter((r) => r.impl === impl && r.mode === mode)
  const rows = (['single', 'batch'] as const).flatMap((mode) =>
    (['afterwork', 'bullmq', 'bare'] as const).map((impl) => {
      const mine = of(impl, mode)
      const how = mode === 'single' ? '1 awaited call per job' : `${num(s.batch, 0)} per call`
      return `| ${implName[impl]} | ${how} | ${fmtValues(mine.map(enqueueRate), 0)} | ${fmtSpread(spread(mine.map((r) => r.cpuUs / r.jobs)), 1)} |`
    }),
  )
  const ratios = (['single', 'batch'] as const).flatMap((mode) => [
    `| ${mode}: afterwork / BullMQ | ${fmtSpread(spread(paired(of('afterwork', mode), of('bullmq', mode), enqueueRate, enqueueRate)), 2)} |`,
    `| ${mode}: afterwork / bare | ${fmtSpread(spread(paired(of('afterwork', mode), of('bare', mode), enqueueRate, enqueueRate)), 2)} |`,
  ])
  return [
    `### Enqueue throughput, ${num(s.jobs, 0)} no-op jobs`,
    '',
    '| store | calls | jobs/s median (min–max, n) | CPU µs/job (enqueuing process) |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
    '| jobs/s ratio, paired per round | median (min–max) |',
    '| --- | --- |',
    ...ratios,
  ]
}

function drainReport(runs: Run<DrainResult>[], floors: Run<FloorResult>[], s: Settings): string[] {
  const of = (impl: Impl, c?: number) => runs.filter((r) => r.impl === impl && (c === undefined || r.concurrency === c))
  const row = (label: string, mine: Run<DrainResult>[]) => {
    const store = mine.every((r) => r.storeCpuUs !== undefined) ? fmtSpread(spread(mine.map((r) => (r.storeCpuUs as number) / r.jobs)), 1) : '–'
    const ok = mine.every((r) => r.succeeded >= r.jobs) ? 'yes' : `no (${mine.map((r) => r.succeeded).join(', ')})`
    return `| ${label} | ${fmtValues(mine.map(drainRate), 0)} | ${fmtSpread(spread(mine.map((r) => r.cpuUs / r.jobs)), 1)} | ${store} | ${fmtSpread(spread(mine.map((r) => r.maxRssBytes / MIB)), 1)} | ${ok} |`
  }
  const lines = [
    `### Drain throughput, ${num(s.jobs, 0)} queued no-op jobs, one worker process`,
    '',
    '| worker | jobs/s median (min–max, n) | CPU µs/job (worker process) | CPU µs/job (Redis) | worker peak RSS MiB | all succeeded |',
    '| --- | --- | --- | --- | --- | --- |',
    ...s.concurrency.flatMap((c) => [row(`afterwork c=${c}`, of('afterwork', c)), row(`BullMQ c=${c}`, of('bullmq', c))]),
    row('bare claim loop (claim + complete, 1 job per transaction)', of('bare')),
    `| bare floor (insert + claim + complete, 1 job per transaction), cycles/s | ${fmtValues(floors.map(floorRate), 0)} | ${fmtSpread(spread(floors.map((r) => r.cpuUs / r.cycles)), 1)} | – | – | yes |`,
    '',
    '| drain ratio, paired per round | median (min–max) | target | median meets it |',
    '| --- | --- | --- | --- |',
  ]
  for (const c of s.concurrency) {
    const overFloor = spread(paired(of('afterwork', c), floors, drainRate, floorRate))
    const overBull = spread(paired(of('afterwork', c), of('bullmq', c), drainRate, drainRate))
    const overBare = spread(paired(of('afterwork', c), of('bare'), drainRate, drainRate))
    lines.push(
      `| afterwork c=${c} / bare floor | ${fmtSpread(overFloor, 2)} | ≥ ${targets.drainOverFloor} | ${verdict(overFloor.median, overFloor.median >= targets.drainOverFloor)} |`,
      `| afterwork c=${c} / BullMQ c=${c} | ${fmtSpread(overBull, 2)} | > ${targets.drainOverBullmq} | ${verdict(overBull.median, overBull.median > targets.drainOverBullmq)} |`,
      `| afterwork c=${c} / bare claim loop | ${fmtSpread(overBare, 2)} | | |`,
    )
  }
  return lines
}

function latencyReport(runs: Run<LatencyResult>[], s: Settings): string[] {
  const groups: { label: string; runs: Run<LatencyResult>[] }[] = [
    { label: 'afterwork, worker in the same process (c=10)', runs: runs.filter((r) => r.impl === 'afterwork' && r.where === 'same') },
    { label: 'BullMQ, worker in the same process (c=10)', runs: runs.filter((r) => r.impl === 'bullmq' && r.where === 'same') },
    ...s.polls.map((poll) => ({
      label: `afterwork, worker in a separate process, pollInterval ${poll} ms`,
      runs: runs.filter((r) => r.impl === 'afterwork' && r.where === 'separate' && r.pollMs === poll),
    })),
    { label: 'BullMQ, worker in a separate process', runs: runs.filter((r) => r.impl === 'bullmq' && r.where === 'separate') },
  ]
  const same = groups[0]?.runs ?? []
  const p50 = spread(same.map((r) => latencyPercentiles(r.samples).p50))
  const bullSame = groups[1]?.runs ?? []
  return [
    `### Enqueue-to-start latency, ${s.latencyJobs} jobs ${s.gap} ms apart (ms)`,
    '',
    '| worker | p50 | p99 | max |',
    '| --- | --- | --- | --- |',
    ...groups.map((g) => {
      const p = g.runs.map((r) => latencyPercentiles(r.samples))
      return `| ${g.label} | ${fmtValues(p.map((x) => x.p50), 2)} | ${fmtSpread(spread(p.map((x) => x.p99)), 2)} | ${fmtSpread(spread(p.map((x) => x.max)), 2)} |`
    }),
    '',
    '| pick-up | median (min–max) | target | median meets it |',
    '| --- | --- | --- | --- |',
    `| afterwork same-process p50 (ms) | ${fmtSpread(p50, 2)} | < ${targets.pickupP50Ms} | ${verdict(p50.median, p50.median < targets.pickupP50Ms)} |`,
    `| afterwork / BullMQ same-process p50, paired | ${fmtSpread(spread(paired(same, bullSame, (r) => latencyPercentiles(r.samples).p50, (r) => latencyPercentiles(r.samples).p50)), 2)} | | |`,
  ]
}

function loopReport(runs: Run<LoopResult>[], s: Settings): string[] {
  const of = (impl: Impl, variant: string) => runs.filter((r) => r.impl === impl && r.variant === variant)
  const row = (label: string, mine: Run<LoopResult>[]) =>
    `| ${label} | ${fmtSpread(spread(mine.map((r) => r.loop.p50)), 2)} | ${fmtValues(mine.map((r) => r.loop.p99), 2)} | ${fmtSpread(spread(mine.map((r) => r.loop.max)), 2)} | ${fmtSpread(spread(mine.map((r) => r.enqueue.p99)), 2)} | ${fmtSpread(spread(mine.map((r) => r.enqueue.max)), 2)} | ${mine.every((r) => r.drain) ? fmtSpread(spread(mine.map((r) => drainRate(r.drain as DrainResult))), 0) : '–'} | ${fmtSpread(spread(mine.map((r) => r.windowMs / 1000)), 2)} |`
  const aw = of('afterwork', 'worker')
  const idle = of('afterwork', 'idle')
  const bull = of('bullmq', 'worker')
  return [
    `### Web process event loop while a separate worker process drains ${num(s.loopJobs, 0)} jobs (c=50); the web process enqueues one job every ${s.gap} ms`,
    '',
    '| web process | loop delay p50 (ms) | loop delay p99 (ms) | loop delay max (ms) | enqueue call p99 (ms) | enqueue call max (ms) | worker drain jobs/s | window (s) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    row('afterwork, worker draining', aw),
    row('afterwork, no worker (idle baseline)', idle),
    row('BullMQ, worker draining', bull),
    '',
    '| loop delay p99 ratio, paired per round | median (min–max) |',
    '| --- | --- |',
    `| afterwork draining / afterwork idle | ${fmtSpread(spread(paired(aw, idle, (r) => r.loop.p99, (r) => r.loop.p99)), 2)} |`,
    `| afterwork draining / BullMQ draining | ${fmtSpread(spread(paired(aw, bull, (r) => r.loop.p99, (r) => r.loop.p99)), 2)} |`,
  ]
}

function deepReport(runs: DeepRun[], fillInfo: Runs['deepFill'], s: Settings): string[] {
  const shallow = runs.filter((r) => r.pending === s.shallow)
  const deep = runs.filter((r) => r.pending === s.deep)
  const mark = (r: DrainResult, count: number) => r.marks.find((m) => m.count === count)
  /** Jobs per second from the first job's start to the count-th success. */
  const window = (r: DrainResult, count: number) => rate(count, (mark(r, count)?.ms ?? NaN) - r.firstMs)
  /** The worker process's CPU µs per job over the same window: what the machine's other load barely moves. */
  const cpuPerJob = (r: DrainResult, count: number) => ((mark(r, count)?.cpuUs ?? NaN) - r.firstCpuUs) / count
  const small = Math.min(s.shallow, s.deepClaims)
  const shallowRate = (r: DrainResult) => window(r, s.shallow)
  const deepRate = (r: DrainResult) => window(r, s.deepClaims)
  const headline = spread(paired(deep, shallow, deepRate, shallowRate))
  const like = spread(paired(deep, shallow, (r) => window(r, small), (r) => window(r, small)))
  const cpuHeadline = spread(paired(shallow, deep, (r) => cpuPerJob(r, s.shallow), (r) => cpuPerJob(r, s.deepClaims)))
  const cpuLike = spread(paired(shallow, deep, (r) => cpuPerJob(r, small), (r) => cpuPerJob(r, small)))
  return [
    `### Drain rate with ${num(s.deep, 0)} jobs pending against ${num(s.shallow, 0)} pending (afterwork, c=50, ${shallow.length} runs each)`,
    '',
    '| pending | window | jobs/s median (min–max, n) | worker CPU µs/job in the window | worker start to first job (ms) |',
    '| --- | --- | --- | --- | --- |',
    `| ${num(s.shallow, 0)} | all ${num(s.shallow, 0)} | ${fmtValues(shallow.map(shallowRate), 0)} | ${fmtSpread(spread(shallow.map((r) => cpuPerJob(r, s.shallow))), 1)} | ${fmtSpread(spread(shallow.map((r) => r.firstMs)), 1)} |`,
    `| ${num(s.deep, 0)} | first ${num(small, 0)} | ${fmtValues(deep.map((r) => window(r, small)), 0)} | ${fmtSpread(spread(deep.map((r) => cpuPerJob(r, small))), 1)} | ${fmtSpread(spread(deep.map((r) => r.firstMs)), 1)} |`,
    `| ${num(s.deep, 0)} | first ${num(s.deepClaims, 0)} | ${fmtValues(deep.map(deepRate), 0)} | ${fmtSpread(spread(deep.map((r) => cpuPerJob(r, s.deepClaims))), 1)} | |`,
    '',
    '| ratio, paired per run | median (min–max) | target | median meets it |',
    '| --- | --- | --- | --- |',
    `| first ${num(s.deepClaims, 0)} of ${num(s.deep, 0)} / all ${num(s.shallow, 0)} of ${num(s.shallow, 0)} | ${fmtSpread(headline, 3)} | ≥ ${targets.deepOverShallow} | ${verdict(headline.median, headline.median >= targets.deepOverShallow)} |`,
    `| first ${num(small, 0)} of ${num(s.deep, 0)} / first ${num(small, 0)} of ${num(s.shallow, 0)} (same window) | ${fmtSpread(like, 3)} | ≥ ${targets.deepOverShallow} | ${verdict(like.median, like.median >= targets.deepOverShallow)} |`,
    `| jobs per worker CPU-second: first ${num(s.deepClaims, 0)} of ${num(s.deep, 0)} / all ${num(s.shallow, 0)} of ${num(s.shallow, 0)} | ${fmtSpread(cpuHeadline, 3)} | ≥ ${targets.deepOverShallow} | ${verdict(cpuHeadline.median, cpuHeadline.median >= targets.deepOverShallow)} |`,
    `| jobs per worker CPU-second: first ${num(small, 0)} of each (same window) | ${fmtSpread(cpuLike, 3)} | ≥ ${targets.deepOverShallow} | ${verdict(cpuLike.median, cpuLike.median >= targets.deepOverShallow)} |`,
    '',
    fillInfo
      ? `The ${num(s.deep, 0)}-job file was filled once with enqueueMany in batches of 10,000 (${num(fillInfo.ms / 1000, 1)} s, ${num((fillInfo.jobs / fillInfo.ms) * 1000, 0)} jobs/s, ${num(fillInfo.bytes / MIB, 0)} MiB) and copied for each run. Rates and CPU per job run from the first job's start to the n-th success.`
      : '',
  ]
}

function report(runs: Runs, s: Settings): string {
  const sections: string[][] = []
  if (runs.enqueue.length > 0) sections.push(enqueueReport(runs.enqueue, s))
  if (runs.drain.length > 0) sections.push(drainReport(runs.drain, runs.floor, s))
  if (runs.latency.length > 0) sections.push(latencyReport(runs.latency, s))
  if (runs.loop.length > 0) sections.push(loopReport(runs.loop, s))
  if (runs.deep.length > 0) sections.push(deepReport(runs.deep, runs.deepFill, s))
  const loads = spread([...runs.enqueue, ...runs.floor, ...runs.drain, ...runs.latency, ...runs.loop, ...runs.deep].map((r) => r.load))
  sections.push([`Machine load (1-minute load average as each run began): ${fmtSpread(loads, 2)} on ${cpus().length} CPUs.`])
  return [...sections.flatMap((section) => [...section, '']), ...warningsReport<Run<WorkerResult>>([...runs.enqueue, ...runs.floor, ...runs.drain, ...runs.latency, ...runs.loop, ...runs.deep], (r) => `${r.measure} ${r.impl} round ${r.round}`)].join('\n')
}

// ---------------------------------------------------------------------------------------------

async function versions(s: Settings): Promise<Record<string, string>> {
  const require = createRequire(import.meta.url)
  const pkg = (name: string) => (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version
  const { default: Database } = await import('better-sqlite3')
  const db = new Database(':memory:')
  const sqlite = (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v
  db.close()
  let redis = 'unknown'
  try {
    redis = /redis_version:(\S+)/.exec(execFileSync('redis-cli', ['-u', s.redis, 'info', 'server'], { encoding: 'utf8' }))?.[1] ?? 'unknown'
  } catch {
    // redis-cli missing: BullMQ runs will say whether Redis is there.
  }
  return { node: process.version, sqlite, 'better-sqlite3': pkg('better-sqlite3'), bullmq: pkg('bullmq'), ioredis: pkg('ioredis'), redis }
}

function saveRaw(s: Settings, runs: Runs, v: Record<string, string>): string {
  mkdirSync(resultsDir, { recursive: true })
  const date = new Date().toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')
  const file = `${resultsDir}queue-sqlite-${date}.json`
  const machine = { cpus: cpus().length, model: cpus()[0]?.model, memoryBytes: totalmem() }
  writeFileSync(file, `${JSON.stringify({ date, versions: v, source: sourceVersion(), settings: s, machine, runs }, null, 2)}\n`)
  return file
}

async function main(): Promise<void> {
  const settings = readSettings()
  const v = await versions(settings)
  process.stderr.write(`${Object.entries(v).map(([k, x]) => `${k} ${x}`).join(', ')}; ${JSON.stringify(settings)}\n`)
  const runs = await runAll(settings)
  const file = saveRaw(settings, runs, v)
  process.stdout.write(`${report(runs, settings)}\n`)
  process.stderr.write(`raw runs: ${file}\n`)
}

await main()
