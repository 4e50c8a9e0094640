/**
 * One measurement for bench/scheduler.ts, in a fresh process; prints one JSON line on stdout.
 *
 *   node --expose-gc --conditions=afterwork-source --import tsx bench/scheduler-worker.ts \
 *     <rss|cpu|lateness> <afterwork|croner> [--count 10000] [--seconds 60] [--warmup 2] [--mix interval|cron]
 *
 * - rss: RSS after a forced GC before and after registering `count` daily crons (afterwork: a started
 *   Service; croner: paused jobs).
 * - cpu (afterwork only): process CPU time while a ManualClock advances one simulated hour over
 *   `count` schedules that fire about once a minute (`--mix`), and the number of fires.
 * - lateness: how late 10 `* * * * * *` crons fire, beside `count` daily crons, over `seconds` real
 *   seconds after `warmup` seconds; and how much later than a bare setTimeout aimed at the same
 *   second, which takes most of the shared machine's noise out.
 *
 * Each library is imported only by the runs that measure it, so one's modules never weigh on the
 * other's RSS or heap.
 */
import { parseArgs } from 'node:util'
import type { AnyService } from 'afterwork'

// Only types are exported: importing a value would run a measurement in the importing process.
const measures = ['rss', 'cpu', 'lateness'] as const
export type Measure = (typeof measures)[number]
const impls = ['afterwork', 'croner'] as const
export type Impl = (typeof impls)[number]
const mixes = ['interval', 'cron'] as const
export type Mix = (typeof mixes)[number]

export interface RssResult {
  measure: 'rss'
  impl: Impl
  count: number
  /** process.memoryUsage() after gc(), in bytes, with the library loaded (and, for afterwork, the Service created). */
  before: MemorySample
  after: MemorySample
  /** After some seconds idle (bench/scheduler-rss.mjs only). */
  settled?: MemorySample
  /** Wall time to register the schedules and start them, in ms. */
  registerMs: number
}

export interface MemorySample {
  rss: number
  heapUsed: number
  external: number
}

export interface CpuResult {
  measure: 'cpu'
  impl: 'afterwork'
  mix: Mix
  count: number
  fires: number
  /** user + system CPU of the whole process across `clock.advance('1h')`, in µs. */
  cpuUs: number
  wallMs: number
  /** Fires the triggers hold in the hour: fewer `fires` would mean some were missed or skipped. */
  expectedFires: number
}

export interface LatenessResult {
  measure: 'lateness'
  impl: Impl
  count: number
  seconds: number
  /** Lateness of every counted fire, in ms, in fire order. */
  samples: number[]
  /** The first counted whole second (epoch ms): places a slow second in its minute. */
  windowStart: number
  /**
   * Each fire's lateness minus that of a bare setTimeout aimed at the same second in the same
   * process (see {@link startProbe}), in fire order: the library's own share, with most of the
   * shared machine's noise taken out. Fires whose second the probe missed are left out.
   */
  overProbe: number[]
  /** Fires the 10 ticking crons should have made in the counted window (10 per second). */
  expected: number
  /** Fires counted twice for one (schedule, second): would mean a fire was early and floored wrongly. */
  duplicates: number
  /**
   * Date.now() minus performance.timeOrigin + performance.now(), in ms (see {@link clockSkew}): both
   * libraries fire by Date.now(), so lateness read on the precise clock carries this bias, alike for both.
   */
  clockSkewMs: number
}

export type WorkerResult = RssResult | CpuResult | LatenessResult

const TICKERS = 10
const HOUR_MS = 3_600_000
/** A Monday at midnight UTC: the simulated hour crosses no DST change and no day boundary. */
const SIMULATED_START = Date.parse('2026-01-05T00:00:00Z')

/** The i-th of `count` daily crons, spread evenly over the 1,440 minutes of the day ('M H * * *'). */
function dailyCron(i: number, count: number): string {
  const minuteOfDay = Math.floor((i * 1440) / count)
  return `${minuteOfDay % 60} ${Math.floor(minuteOfDay / 60)} * * *`
}

/** Wall time with sub-millisecond precision, read the same way for both libraries. */
function preciseNow(): number {
  return performance.timeOrigin + performance.now()
}

/**
 * How far Date.now() is ahead of {@link preciseNow}. One pair of readings can be off by a
 * preemption between them on a busy machine, so this takes the median of many; Date.now() is
 * floored to the millisecond, so half a millisecond is added back.
 */
function clockSkew(): number {
  const diffs = Array.from({ length: 1_001 }, () => Date.now() - preciseNow()).sort((a, b) => a - b)
  return diffs[500]! + 0.5
}

function noop(): void {}

function collectGarbage(): void {
  if (!global.gc) throw new Error('run the worker with --expose-gc')
  // Twice: the first pass can leave finalizer-held objects for the second.
  global.gc()
  global.gc()
}

function memory(): MemorySample {
  collectGarbage()
  const { rss, heapUsed, external } = process.memoryUsage()
  return { rss, heapUsed, external }
}

/** Registers `count` daily crons on a started Service; resolves to a function that stops it. */
async function registerAfterwork(count: number, before: () => void): Promise<() => Promise<void>> {
  const { createService, silentLogger } = await import('afterwork')
  const svc = createService({ logger: silentLogger })
  before()
  for (let i = 0; i < count; i++) svc.cron(dailyCron(i, count), noop, { name: `daily-${i}` })
  await svc.start()
  return () => svc.stop()
}

/**
 * Creates `count` paused croner jobs. With a function, croner arms a timer even for a paused job
 * (capped at 30 s, re-armed each time), so these are the real cost of idle croner jobs.
 */
async function registerCroner(count: number, before: () => void): Promise<() => Promise<void>> {
  const { Cron } = await import('croner')
  before()
  const jobs = Array.from({ length: count }, (_, i) => new Cron(dailyCron(i, count), { paused: true }, noop))
  return async () => {
    for (const job of jobs) job.stop()
  }
}

async function measureRss(impl: Impl, count: number): Promise<RssResult> {
  let before: MemorySample | undefined
  let startedAt = 0
  const takeBefore = () => {
    before = memory()
    startedAt = performance.now()
  }
  const register = impl === 'afterwork' ? registerAfterwork : registerCroner
  const stop = await register(count, takeBefore)
  const registerMs = performance.now() - startedAt
  const after = memory()
  await stop()
  return { measure: 'rss', impl, count, before: before!, after, registerMs }
}

/**
 * `count` schedules that each fire about once a minute, so one hour holds ≈ 60 × count fires:
 * - interval: `every(60_000 + (i % 1000))`, periods from 60.000 s to 60.999 s (10 schedules share each);
 * - cron: `S * * * * *` with S = i % 60, so each second of the minute has count / 60 schedules.
 */
function registerMix(svc: AnyService, mix: Mix, count: number): number {
  let expected = 0
  for (let i = 0; i < count; i++) {
    const name = `s-${i}`
    if (mix === 'interval') {
      const period = 60_000 + (i % 1000)
      svc.every(period, noop, { name })
      expected += Math.floor(HOUR_MS / period)
    } else {
      svc.cron(`${i % 60} * * * * *`, noop, { name })
      expected += 60
    }
  }
  return expected
}

async function measureCpu(mix: Mix, count: number): Promise<CpuResult> {
  const { createService, silentLogger } = await import('afterwork')
  const { ManualClock } = await import('afterwork/testing')
  const clock = new ManualClock(SIMULATED_START)
  const svc = createService({ clock, logger: silentLogger })
  let fires = 0
  svc.on('schedule:fired', () => {
    fires++
  })
  const expectedFires = registerMix(svc, mix, count)
  await svc.start()
  const cpuBefore = process.cpuUsage()
  const wallBefore = performance.now()
  await clock.advance('1h')
  const wallMs = performance.now() - wallBefore
  const { user, system } = process.cpuUsage(cpuBefore)
  const stopping = svc.stop()
  // stop() waits on the ManualClock for running runs; let it reach its deadlines if any are left.
  await clock.advance('1m')
  await stopping
  return { measure: 'cpu', impl: 'afterwork', mix, count, fires, cpuUs: user + system, wallMs, expectedFires }
}

/**
 * Collects lateness for the whole seconds in [first, first + seconds). `record` is the ticking
 * crons' function; it ignores fires until `open()`, which the caller invokes once everything is
 * registered and started (registering 10,000 schedules takes seconds), so setup never lands in the
 * window. `done` settles once every tick of the last counted second is in, or 3 s after that second
 * in case some never come.
 */
function latenessWindow(seconds: number, warmup: number) {
  const samples: number[] = []
  const sampleSeconds: number[] = []
  const seen = new Set<string>()
  let duplicates = 0
  let first = Infinity
  let last = -Infinity
  let finish!: () => void
  const done = new Promise<void>((resolve) => (finish = resolve))
  let deadline: NodeJS.Timeout | undefined
  const open = () => {
    first = (Math.ceil(preciseNow() / 1_000) + warmup) * 1_000
    last = first + (seconds - 1) * 1_000
    deadline = setTimeout(finish, last + 3_000 - preciseNow())
  }
  const record = (ticker: number) => {
    const now = preciseNow()
    const second = Math.floor(now / 1_000) * 1_000
    if (second < first || second > last) return
    const key = `${ticker}@${second}`
    if (seen.has(key)) duplicates++
    seen.add(key)
    samples.push(now - second)
    sampleSeconds.push(second)
    if (samples.length === seconds * TICKERS) {
      clearTimeout(deadline)
      finish()
    }
  }
  return { samples, sampleSeconds, open, record, done, duplicates: () => duplicates, start: () => first }
}

/**
 * A bare setTimeout aimed at every whole second, as croner aims its timers: its lateness is what
 * the machine and Node's timers alone cost in that second (a busy neighbour, a GC), which both
 * libraries pay alike. Returns the lateness by second (epoch ms) and a function that stops it.
 */
function startProbe(): { lateness: Map<number, number>; stop: () => void } {
  const lateness = new Map<number, number>()
  let timer: NodeJS.Timeout
  const arm = () => {
    timer = setTimeout(tick, Math.ceil(1_000 - (preciseNow() % 1_000)))
  }
  const tick = () => {
    const now = preciseNow()
    const second = Math.floor(now / 1_000) * 1_000
    // A timer may fire a hair before the second by this clock; the second it reads is then
    // already recorded, and arm() aims again at the one it missed.
    if (!lateness.has(second)) lateness.set(second, now - second)
    arm()
  }
  arm()
  return { lateness, stop: () => clearTimeout(timer) }
}

async function tickAfterwork(count: number, record: (ticker: number) => void): Promise<() => Promise<void>> {
  const { createService, silentLogger } = await import('afterwork')
  const svc = createService({ logger: silentLogger })
  for (let i = 0; i < count; i++) svc.cron(dailyCron(i, count), noop, { name: `daily-${i}` })
  for (let t = 0; t < TICKERS; t++) svc.cron('* * * * * *', () => record(t), { name: `tick-${t}` })
  await svc.start()
  return () => svc.stop()
}

async function tickCroner(count: number, record: (ticker: number) => void): Promise<() => Promise<void>> {
  const { Cron } = await import('croner')
  const jobs = Array.from({ length: count }, (_, i) => new Cron(dailyCron(i, count), { paused: true }, noop))
  for (let t = 0; t < TICKERS; t++) jobs.push(new Cron('* * * * * *', () => record(t)))
  return async () => {
    for (const job of jobs) job.stop()
  }
}

async function measureLateness(impl: Impl, count: number, seconds: number, warmup: number): Promise<LatenessResult> {
  const clockSkewMs = clockSkew()
  const window = latenessWindow(seconds, warmup)
  const stop = await (impl === 'afterwork' ? tickAfterwork : tickCroner)(count, window.record)
  const probe = startProbe()
  window.open()
  await window.done
  // The last second's fires can come before the probe's own timer: give it time to fire.
  await new Promise((resolve) => setTimeout(resolve, 100))
  probe.stop()
  await stop()
  const overProbe = window.samples.flatMap((late, i) => {
    const base = probe.lateness.get(window.sampleSeconds[i]!)
    return base === undefined ? [] : [late - base]
  })
  return {
    measure: 'lateness',
    impl,
    count,
    seconds,
    samples: window.samples,
    windowStart: window.start(),
    overProbe,
    expected: seconds * TICKERS,
    duplicates: window.duplicates(),
    clockSkewMs,
  }
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], what: string): T {
  if (!allowed.includes(value as T)) throw new Error(`${what} must be one of ${allowed.join(', ')}; got ${value}`)
  return value as T
}

function nonNegativeInt(value: string, flag: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${flag} must be an integer >= 0; got ${value}`)
  return n
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      count: { type: 'string', default: '10000' },
      seconds: { type: 'string', default: '60' },
      warmup: { type: 'string', default: '2' },
      mix: { type: 'string', default: 'interval' },
    },
  })
  const measure = oneOf(positionals[0], measures, 'measure')
  const impl = oneOf(positionals[1], impls, 'impl')
  const count = nonNegativeInt(values.count, 'count')
  let result: WorkerResult
  if (measure === 'rss') result = await measureRss(impl, count)
  else if (measure === 'cpu') {
    if (impl !== 'afterwork') throw new Error('cpu measures afterwork only (croner has no injectable clock)')
    result = await measureCpu(oneOf(values.mix, mixes, '--mix'), count)
  } else result = await measureLateness(impl, count, Math.max(1, nonNegativeInt(values.seconds, 'seconds')), nonNegativeInt(values.warmup, 'warmup'))
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

await main()
