// What the benchmark scripts share: statistics, CPU readings and the child-process plumbing. Each
// benchmark runs its measurements in child processes of its own script and reads one JSON line
// back from each.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'

const repoRoot = fileURLToPath(new URL('..', import.meta.url))

/** Median and range of a set of runs. */
export interface Spread {
  median: number
  min: number
  max: number
}

/** Median, min and max, ignoring NaN (a run that could not measure). */
export function spread(values: number[]): Spread {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return { median: NaN, min: NaN, max: NaN }
  const mid = sorted.length >> 1
  const median = sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
  return { median, min: sorted[0] as number, max: sorted[sorted.length - 1] as number }
}

export function median(values: number[]): number {
  return spread(values).median
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? NaN : (sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] as number)
}

/** `figure(a) / figure(b)` for the runs of the same round. */
export function paired<A extends { round: number }, B extends { round: number }>(as: A[], bs: B[], fa: (a: A) => number, fb: (b: B) => number): number[] {
  return as.flatMap((a) => {
    const b = bs.find((x) => x.round === a.round)
    return b ? [fa(a) / fb(b)] : []
  })
}

/** This process's CPU time (user + system), in microseconds. */
export function cpuUs(): number {
  const { user, system } = process.cpuUsage()
  return user + system
}

/** Epoch ms with sub-ms precision, comparable across processes of this machine. */
export function epochNow(): number {
  return performance.timeOrigin + performance.now()
}

/** Which source was measured: src/ changes under active development, so results name the commit. */
export function sourceVersion(): { commit: string; srcDirty: boolean } {
  const git = (...args: string[]) => execFileSync('git', args, { encoding: 'utf8', cwd: repoRoot }).trim()
  return { commit: git('rev-parse', 'HEAD'), srcDirty: git('status', '--porcelain', '--', 'src') !== '' }
}

/** Removes a SQLite database with its WAL and shared-memory files. */
export function removeDb(path: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true })
}

export interface Deferred<T> {
  promise: Promise<T>
  resolve: (value: T) => void
  reject: (error: unknown) => void
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** Calls `enqueueOne` `jobs` times `gap` ms apart (on a fixed grid, so slow calls do not stretch it). */
export async function paced(jobs: number, gap: number, enqueueOne: (i: number) => Promise<unknown>): Promise<void> {
  const t0 = performance.now()
  for (let i = 0; i < jobs; i++) {
    const wait = t0 + i * gap - performance.now()
    if (wait > 0) await sleep(wait)
    await enqueueOne(i)
  }
}

/** A child measurement's one line of output (or its "started" event), on stdout. */
export function emit<T>(result: T | { event: 'started' }): void {
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

/** Spawns `script` as a child measurement and returns its "started" event and result as they come. */
/**
 * The `--conditions` flags this process was started with, for the processes it starts: with
 * `--conditions=afterwork-source` they run afterwork from `src/` through tsx, without it from the
 * built `dist/` (`npm run build` first), which is what users run.
 */
export function afterworkConditions(): string[] {
  return process.execArgv.filter((arg) => arg.startsWith('--conditions'))
}

export function spawnChild<R>(script: string, args: string[]): { child: ChildProcess; started: Promise<void>; result: Promise<R> } {
  const child = spawn(process.execPath, [...afterworkConditions(), '--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout as NonNullable<typeof child.stdout> })
  const started = deferred<void>()
  const result = deferred<R>()
  lines.on('line', (line) => {
    const parsed = JSON.parse(line) as R | { event: 'started' }
    if (typeof parsed === 'object' && parsed !== null && 'event' in parsed) started.resolve()
    else result.resolve(parsed as R)
  })
  child.on('exit', (code) => {
    const error = new Error(`child ${args.join(' ')} exited with code ${code} before its result`)
    started.reject(error)
    result.reject(error)
  })
  // Either may never be awaited when the other fails first.
  started.promise.catch(() => {})
  result.promise.catch(() => {})
  return { child, started: started.promise, result: result.promise }
}

/** Redis's own CPU time (user + system), in microseconds, from INFO. */
export async function redisCpuUs(url: string): Promise<number> {
  const { Redis } = await import('ioredis')
  const redis = new Redis(url)
  try {
    const info = await redis.info('cpu')
    const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? NaN)
    return (field('used_cpu_sys') + field('used_cpu_user')) * 1e6
  } finally {
    redis.disconnect()
  }
}

/** A BullMQ connection for a redis:// URL. */
export function bullConnection(url: string): { host: string; port: number; maxRetriesPerRequest: null } {
  const parsed = new URL(url)
  // maxRetriesPerRequest: null is what BullMQ requires of a Worker's connection.
  return { host: parsed.hostname, port: Number(parsed.port || 6379), maxRetriesPerRequest: null }
}

/** CPU time (user + system, µs) of every `postgres` process of this machine and of those that exited: the server's work. */
export function postgresCpuUs(): number {
  const ticksPerSecond = 100
  let ticks = 0
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
    } catch {
      continue
    }
    const close = stat.lastIndexOf(')')
    const comm = stat.slice(stat.indexOf('(') + 1, close)
    if (comm !== 'postgres') continue
    const fields = stat.slice(close + 2).split(' ')
    // fields[0] is field 3 (state): utime, stime, cutime and cstime are fields 14 to 17. The
    // postmaster's cutime and cstime hold the backends that exited (closed connections).
    ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])
  }
  return (ticks / ticksPerSecond) * 1e6
}

/** No single measurement takes this long; a child past it is stuck. */
export const CHILD_TIMEOUT_MS = 10 * 60_000

/**
 * Runs one measurement in a fresh process (`argv` after the node binary) and returns the JSON line
 * it prints last, with its stderr lines as warnings. JSON has no NaN: with `nullIsNaN`, a null the
 * child wrote for "no such figure" comes back as NaN.
 */
export async function runJsonChild<R>(argv: string[], opts: { label: string; nullIsNaN?: boolean }): Promise<{ result: R; warnings: string[] }> {
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
  const out: Buffer[] = []
  const err: Buffer[] = []
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
  child.stderr.on('data', (chunk: Buffer) => err.push(chunk))
  const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS)
  // 'close', not 'exit': only then is all of stdout read.
  const [code] = (await once(child, 'close')) as [number | null]
  clearTimeout(timer)
  const stderr = Buffer.concat(err).toString().trim()
  if (code !== 0) throw new Error(`worker ${opts.label} exited with code ${code}:\n${stderr}`)
  const lines = Buffer.concat(out).toString().trim().split('\n')
  const reviver = opts.nullIsNaN ? (_key: string, value: unknown) => (value === null ? NaN : value) : undefined
  const result = JSON.parse(lines[lines.length - 1] as string, reviver) as R
  return { result, warnings: stderr === '' ? [] : stderr.split('\n') }
}

/** Each distinct stderr text of the runs once, with the runs that printed it. */
export function warningsReport<R extends { warnings: string[] }>(runs: readonly R[], label: (run: R) => string): string[] {
  const byText = new Map<string, string[]>()
  for (const r of runs) {
    if (r.warnings.length === 0) continue
    // Drop the pid Node puts in each warning, so one warning from several runs is listed once.
    const text = r.warnings.join(' / ').replace(/\(node:\d+\) /g, '').slice(0, 500)
    byText.set(text, [...(byText.get(text) ?? []), label(r)])
  }
  return [...byText].flatMap(([text, labels]) => ['', `Worker stderr (${labels.join(', ')}): ${text}`])
}

/** A number for a table: en-US grouping, `digits` decimals, a dash for NaN. */
export function num(x: number, digits: number): string {
  return Number.isNaN(x) ? '–' : x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

/** `median (min–max)`, or a dash when there is no figure. */
export function fmtSpread(s: Spread, digits: number): string {
  return Number.isNaN(s.median) ? '–' : `${num(s.median, digits)} (${num(s.min, digits)}–${num(s.max, digits)})`
}

/** `median (min–max), n=k` over the values that are figures, or a dash when none is. */
export function fmtValues(values: number[], digits: number): string {
  const n = values.filter((v) => !Number.isNaN(v)).length
  return n === 0 ? '–' : `${fmtSpread(spread(values), digits)}, n=${n}`
}

/** p50, p99 and max of the samples that are figures, and how many were not. */
export function latencyPercentiles(samples: readonly number[]): { p50: number; p99: number; max: number; missing: number } {
  const sorted = samples.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b)
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted[sorted.length - 1] ?? NaN, missing: samples.length - sorted.length }
}

/** 'yes' or 'no' for a target, 'n/a' when there was no figure. */
export function verdict(value: number, ok: boolean): string {
  return Number.isNaN(value) ? 'n/a' : ok ? 'yes' : 'no'
}

/** Jobs per second. */
export const rate = (jobs: number, ms: number): number => (jobs / ms) * 1000
