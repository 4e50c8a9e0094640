/**
 * Scheduler costs of afterwork, against croner (the library its cron parsing builds on) where the
 * comparison means something:
 *
 *   node --conditions=afterwork-source --import tsx bench/scheduler.ts [--runs 5] [--seconds 60]
 *     [--count 10000] [--warmup 2] [--only rss,cpu,lateness] [--mixes interval,cron]
 *
 * 1. rss: RSS after a forced GC with `count` daily crons registered (afterwork: a started Service;
 *    croner: paused jobs), against the same process before registering, and again after 10 s idle.
 *    Measured on the built package by bench/scheduler-rss.mjs (run `npm run build` first).
 * 2. cpu (afterwork only, on a ManualClock): CPU time for one simulated hour of `count` schedules
 *    that fire about once a minute, per fire. `--mixes` picks interval schedules, cron schedules or both.
 * 3. lateness: how late 10 `* * * * * *` crons fire beside `count` daily crons, over `seconds` real
 *    seconds after `warmup` seconds, also net of a bare setTimeout probe aimed at the same seconds.
 *
 * Every measurement runs in a fresh process (bench/scheduler-worker.ts), so one run's heap, JIT and
 * timers never leak into the next. Runs alternate (afterwork, croner, afterwork, ...) so slow drifts
 * of the shared machine hit both alike, and each afterwork run is compared with the croner run right
 * after it. The workers are not pinned to a CPU: only one runs at a time, and on a shared machine
 * letting the kernel pick the idler core keeps lateness closer to what a service would see.
 *
 * Prints markdown tables on stdout (progress goes to stderr) and writes every run's raw figures,
 * lateness samples included, to bench/results/scheduler-<date>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { CpuResult, Impl, LatenessResult, Measure, Mix, RssResult, WorkerResult } from './scheduler-worker.js'
import { type Spread, runJsonChild, spread, warningsReport } from './harness.js'

const allMeasures: readonly Measure[] = ['rss', 'cpu', 'lateness']
const allMixes: readonly Mix[] = ['interval', 'cron']
const impls: readonly Impl[] = ['afterwork', 'croner']
/** afterwork's RSS with the schedules registered must stay under this (100 MB, decimal). */
const RSS_TARGET_BYTES = 100e6
/** afterwork's lateness p99 over croner's, median of the paired runs. */
const LATENESS_P99_TARGET = 1.2

const workerScript = fileURLToPath(new URL('./scheduler-worker.ts', import.meta.url))
const rssScript = fileURLToPath(new URL('./scheduler-rss.mjs', import.meta.url))
/** Seconds the RSS worker sits idle before its `settled` sample. */
const SETTLE_SECONDS = 10
const resultsDir = fileURLToPath(new URL('./results/', import.meta.url))
const MIB = 1024 * 1024

interface Settings {
  runs: number
  seconds: number
  count: number
  warmup: number
  only: Measure[]
  mixes: Mix[]
}

/** A worker's result plus what it printed on stderr (Node warnings, which the report repeats). */
type Run<R extends WorkerResult> = R & { round: number; warnings: string[] }

interface Runs {
  rss: Run<RssResult>[]
  cpu: Run<CpuResult>[]
  lateness: Run<LatenessResult>[]
}

function readSettings(): Settings {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '5' },
      seconds: { type: 'string', default: '60' },
      count: { type: 'string', default: '10000' },
      warmup: { type: 'string', default: '2' },
      only: { type: 'string', default: allMeasures.join(',') },
      mixes: { type: 'string', default: allMixes.join(',') },
    },
  })
  const numbers = { runs: Number(values.runs), seconds: Number(values.seconds), count: Number(values.count), warmup: Number(values.warmup) }
  for (const [name, value] of Object.entries(numbers)) {
    const min = name === 'warmup' ? 0 : 1
    if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be an integer >= ${min}; got ${value}`)
  }
  return { ...numbers, only: listOf(values.only, allMeasures, 'only'), mixes: listOf(values.mixes, allMixes, 'mixes') }
}

function listOf<T extends string>(value: string, allowed: readonly T[], flag: string): T[] {
  const items = value.split(',').map((item) => item.trim())
  const bad = items.filter((item) => !allowed.includes(item as T))
  if (bad.length > 0 || items.length === 0) throw new Error(`--${flag} takes a comma list of ${allowed.join(', ')}; got ${value}`)
  return items as T[]
}

/** Runs one measurement in a fresh process and returns the JSON line it prints. */
async function runWorker<R extends WorkerResult>(args: string[], round: number): Promise<Run<R>> {
  // RSS is measured on the built package in plain JavaScript (see scheduler-rss.mjs); the rest from source.
  const argv =
    args[0] === 'rss'
      ? ['--expose-gc', rssScript, args[1]!, args[args.indexOf('--count') + 1]!, String(SETTLE_SECONDS)]
      : ['--expose-gc', '--conditions=afterwork-source', '--import', 'tsx', workerScript, ...args]
  const { result, warnings } = await runJsonChild<R>(argv, { label: args.join(' ') })
  return { ...result, round, warnings }
}

function sharedArgs(s: Settings): string[] {
  return ['--count', String(s.count), '--seconds', String(s.seconds), '--warmup', String(s.warmup)]
}

function mib(bytes: number): string {
  return (bytes / MIB).toFixed(1)
}

function progress(run: Run<WorkerResult>): void {
  let text: string
  if (run.measure === 'rss') {
    text = `RSS ${mib(run.before.rss)} -> ${mib(run.after.rss)} MiB (${mib(run.settled!.rss)} after ${SETTLE_SECONDS} s idle), registered and started in ${(run.registerMs / 1000).toFixed(1)} s`
  } else if (run.measure === 'cpu') {
    text = `${run.mix}: ${run.fires} fires, ${(run.cpuUs / 1e6).toFixed(2)} s CPU, ${(run.cpuUs / run.fires).toFixed(1)} µs/fire`
  } else {
    const l = latenessOf(run)
    text = `lateness p50 ${l.p50.toFixed(2)} p99 ${l.p99.toFixed(2)} max ${l.max.toFixed(2)} ms, ${run.samples.length}/${run.expected} fires`
  }
  const warned = run.warnings.length > 0 ? ` [${run.warnings.length} stderr line(s)]` : ''
  process.stderr.write(`round ${run.round} ${run.measure} ${run.impl}: ${text}${warned}\n`)
}

/** Runs every selected measurement, `runs` rounds each, alternating the libraries within a round. */
async function runAll(s: Settings): Promise<Runs> {
  const runs: Runs = { rss: [], cpu: [], lateness: [] }
  const record = <R extends WorkerResult>(list: Run<R>[], run: Run<R>) => {
    list.push(run)
    progress(run)
  }
  for (const measure of s.only) {
    for (let round = 1; round <= s.runs; round++) {
      if (measure === 'cpu') {
        for (const mix of s.mixes) record(runs.cpu, await runWorker<CpuResult>(['cpu', 'afterwork', '--mix', mix, ...sharedArgs(s)], round))
        continue
      }
      for (const impl of impls) {
        const run = await runWorker<RssResult | LatenessResult>([measure, impl, ...sharedArgs(s)], round)
        if (run.measure === 'rss') record(runs.rss, run)
        else if (run.measure === 'lateness') record(runs.lateness, run)
      }
    }
  }
  return runs
}

function fmt(s: Spread, digits: number): string {
  return `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!
}

interface Lateness {
  p50: number
  p99: number
  max: number
}

function percentiles(samples: number[]): Lateness {
  const sorted = [...samples].sort((a, b) => a - b)
  if (sorted.length === 0) return { p50: NaN, p99: NaN, max: NaN }
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted[sorted.length - 1]! }
}

function latenessOf(run: LatenessResult): Lateness {
  return percentiles(run.samples)
}

/** afterwork's figure over croner's, round by round. */
function pairedRatios<R extends { impl: Impl; round: number }>(runs: R[], figure: (run: R) => number): number[] {
  const croner = runs.filter((r) => r.impl === 'croner')
  return runs
    .filter((r) => r.impl === 'afterwork')
    .flatMap((r) => {
      const partner = croner.find((c) => c.round === r.round)
      return partner ? [figure(r) / figure(partner)] : []
    })
}

function rssReport(runs: Run<RssResult>[], count: number): string[] {
  const byImpl = (impl: Impl) => runs.filter((r) => r.impl === impl)
  const ratio = (figure: (r: RssResult) => number) => fmt(spread(pairedRatios(runs, figure)), 2)
  const verdict = (label: string, rss: number[]) => {
    const median = spread(rss).median
    return `${label}: median ${mib(median)} MiB (${(median / 1e6).toFixed(0)} MB), ${median < RSS_TARGET_BYTES ? 'met' : 'missed'}`
  }
  const mine = byImpl('afterwork')
  return [
    `### RSS with ${count.toLocaleString('en-US')} registered schedules (built package, plain node)`,
    '',
    `| library | RSS before (MiB) | RSS after (MiB) | RSS after ${SETTLE_SECONDS} s idle (MiB) | heap used delta (MiB) | KiB per schedule, settled | register + start (s) |`,
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...impls.map((impl) => {
      const own = byImpl(impl)
      const cells = [
        fmt(spread(own.map((r) => r.before.rss / MIB)), 1),
        fmt(spread(own.map((r) => r.after.rss / MIB)), 1),
        fmt(spread(own.map((r) => r.settled!.rss / MIB)), 1),
        fmt(spread(own.map((r) => (r.after.heapUsed - r.before.heapUsed) / MIB)), 1),
        fmt(spread(own.map((r) => (r.settled!.rss - r.before.rss) / 1024 / count)), 1),
        fmt(spread(own.map((r) => r.registerMs / 1000)), 2),
      ]
      return `| ${impl} | ${cells.join(' | ')} |`
    }),
    '',
    '| afterwork/croner (paired) | median (min–max) |',
    '| --- | --- |',
    `| RSS after | ${ratio((r) => r.after.rss)} |`,
    `| RSS after ${SETTLE_SECONDS} s idle | ${ratio((r) => r.settled!.rss)} |`,
    '',
    `Target: afterwork RSS under 100 MB (${mib(RSS_TARGET_BYTES)} MiB). ` +
      `${verdict('Right after registering', mine.map((r) => r.after.rss))}; ${verdict(`after ${SETTLE_SECONDS} s idle`, mine.map((r) => r.settled!.rss))}.`,
  ]
}

function cpuReport(runs: Run<CpuResult>[], mixes: Mix[], count: number): string[] {
  return [
    `### CPU for one simulated hour of ${count.toLocaleString('en-US')} schedules (afterwork, ManualClock)`,
    '',
    '| mix | fires in the hour | CPU (s) | CPU µs/fire | fires per CPU-second | share of one core in real time | wall (s) |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...mixes.map((mix) => {
      const mine = runs.filter((r) => r.mix === mix)
      const cells = [
        fmt(spread(mine.map((r) => r.fires)), 0),
        fmt(spread(mine.map((r) => r.cpuUs / 1e6)), 2),
        fmt(spread(mine.map((r) => r.cpuUs / r.fires)), 1),
        fmt(spread(mine.map((r) => r.fires / (r.cpuUs / 1e6))), 0),
        `${fmt(spread(mine.map((r) => (r.cpuUs / 3.6e9) * 100)), 2)} %`,
        fmt(spread(mine.map((r) => r.wallMs / 1000)), 1),
      ]
      return `| ${mix} | ${cells.join(' | ')} |`
    }),
    '',
    'Mixes (each schedule fires about once a minute, so the hour holds ≈ 60 fires per schedule, ≈ 167 fires per simulated second):',
    '- interval: `svc.every(60_000 + (i % 1000), fn)`, periods 60.000–60.999 s, 10 schedules per period.',
    "- cron: `svc.cron('${i % 60} * * * * *', fn)`, a 6-field cron at second i % 60 of every minute.",
    'CPU is the whole process (user + system) across `await clock.advance(\'1h\')`, ManualClock bookkeeping included;',
    '"share of one core" is that CPU spread over a real hour.',
  ]
}

function latenessReport(runs: Run<LatenessResult>[], s: Settings): string[] {
  const pick = (key: keyof Lateness) => (r: LatenessResult) => latenessOf(r)[key]
  const ratio = (key: keyof Lateness) => spread(pairedRatios(runs, pick(key)))
  const p99 = ratio('p99')
  return [
    `### Fire lateness of 10 one-second crons beside ${s.count.toLocaleString('en-US')} daily crons (${s.seconds} s per run)`,
    '',
    '| library | p50 (ms) | p99 (ms) | max (ms) | over the probe: p50 (ms) | over the probe: p99 (ms) | fires counted / expected | clock skew (ms) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...impls.map((impl) => {
      const mine = runs.filter((r) => r.impl === impl)
      const fires = mine.reduce((sum, r) => sum + r.samples.length, 0)
      const expected = mine.reduce((sum, r) => sum + r.expected, 0)
      const overProbe = mine.map((r) => percentiles(r.overProbe))
      const cells = [
        fmt(spread(mine.map(pick('p50'))), 2),
        fmt(spread(mine.map(pick('p99'))), 2),
        fmt(spread(mine.map(pick('max'))), 2),
        fmt(spread(overProbe.map((l) => l.p50)), 2),
        fmt(spread(overProbe.map((l) => l.p99)), 2),
        `${fires} / ${expected}`,
        fmt(spread(mine.map((r) => r.clockSkewMs)), 2),
      ]
      return `| ${impl} | ${cells.join(' | ')} |`
    }),
    '',
    '| afterwork/croner (paired) | median (min–max) | target | met |',
    '| --- | --- | --- | --- |',
    `| p50 | ${fmt(ratio('p50'), 2)} | | |`,
    `| p99 | ${fmt(p99, 2)} | ≤ ${LATENESS_P99_TARGET.toFixed(1)} | ${p99.median <= LATENESS_P99_TARGET ? 'yes' : 'no'} |`,
    `| max | ${fmt(ratio('max'), 2)} | | |`,
    '',
    'Lateness = (performance.timeOrigin + performance.now()) in the fired function minus the whole second it fired for;',
    'percentiles per run over its 10 × seconds fires, then the median (min–max) across runs. Both libraries fire by',
    'Date.now(); "clock skew" is Date.now() minus that precise clock (≈ 0 means no bias between the two).',
    '"Over the probe": each fire\'s lateness minus that of a bare setTimeout aimed at the same second in the same process,',
    'i.e. the library\'s own share with most of the shared machine\'s noise (a busy neighbour, a GC) taken out.',
  ]
}

function report(runs: Runs, s: Settings): string {
  const sections: string[][] = []
  if (runs.rss.length > 0) sections.push(rssReport(runs.rss, s.count))
  if (runs.cpu.length > 0) sections.push(cpuReport(runs.cpu, s.mixes, s.count))
  if (runs.lateness.length > 0) sections.push(latenessReport(runs.lateness, s))
  return [...sections.flatMap((section) => [...section, '']), ...warningsReport<Run<WorkerResult>>([...runs.rss, ...runs.cpu, ...runs.lateness], (r) => `${r.measure} ${r.impl}${r.measure === 'cpu' ? ` ${r.mix}` : ''} round ${r.round}`)].join('\n')
}

function saveRaw(s: Settings, runs: Runs): string {
  mkdirSync(resultsDir, { recursive: true })
  const date = new Date().toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')
  const file = `${resultsDir}scheduler-${date}.json`
  const machine = { cpus: cpus().length, model: cpus()[0]?.model }
  writeFileSync(file, `${JSON.stringify({ date, node: process.version, settings: s, machine, runs }, null, 2)}\n`)
  return file
}

async function main(): Promise<void> {
  const settings = readSettings()
  process.stderr.write(`node ${process.version}; ${JSON.stringify(settings)}\n`)
  const runs = await runAll(settings)
  const file = saveRaw(settings, runs)
  process.stdout.write(`${report(runs, settings)}\n`)
  process.stderr.write(`raw runs: ${file}\n`)
}

await main()
