/**
 * HTTP overhead of afterwork on Hono: bare Hono, Hono + the afterwork middleware, and the same plus
 * one background task per request.
 *
 *   node --conditions=afterwork-source --import tsx bench/http-overhead.ts [--runs 5] [--duration 10]
 *     [--connections 50] [--warmup 2]
 *
 * Each run starts a fresh server (bench/http-server.ts) pinned to one CPU, warms it up with
 * autocannon, then measures one autocannon run pinned to another CPU. Besides autocannon's req/s and
 * p99, it reads the server's CPU time (utime + stime from /proc/<pid>/stat) right before and after
 * the measured run and divides by the requests completed: unlike req/s, CPU per request barely
 * depends on how much of the shared machine the server got. Configurations alternate
 * (bare, mw, task, bare, ...) so slow drifts of the machine hit all three alike.
 *
 * Prints a markdown table on stdout (progress goes to stderr) and writes every run's raw figures to
 * bench/results/http-overhead-<date>.json.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { Config, RanReport } from './http-server.js'

const order: readonly Config[] = ['bare', 'mw', 'task']
const targets = { mw: 1.1, task: 1.15 } as const

const serverScript = fileURLToPath(new URL('./http-server.ts', import.meta.url))
const resultsDir = fileURLToPath(new URL('./results/', import.meta.url))
const autocannonBin = createRequire(import.meta.url).resolve('autocannon/autocannon.js')

interface Settings {
  runs: number
  duration: number
  connections: number
  warmup: number
}

/** The part of autocannon's `-j` output the bench uses. */
interface AutocannonResult {
  requests: { average: number; total: number; sent: number }
  latency: { p99: number; average: number }
  errors: number
  timeouts: number
  non2xx: number
  duration: number
}

interface Run {
  config: Config
  round: number
  reqPerSec: number
  p99Ms: number
  requests: number
  cpuTicks: number
  cpuUsPerRequest: number
  /** Anything that makes the run suspect: errors, non-2xx answers, tasks that did not run. */
  problems: string[]
  ran: RanReport
  warmupRequests: number
  autocannon: AutocannonResult
}

interface Machine {
  serverCpu: number
  clientCpu: number
  clkTck: number
}

function readSettings(): Settings {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '5' },
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '50' },
      warmup: { type: 'string', default: '2' },
    },
  })
  const settings = {
    runs: Number(values.runs),
    duration: Number(values.duration),
    connections: Number(values.connections),
    warmup: Number(values.warmup),
  }
  for (const [name, value] of Object.entries(settings)) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be an integer >= 1; got ${value}`)
  }
  return settings
}

/** Expands taskset's list syntax ("0,2-3") into CPU numbers. */
function parseCpuList(list: string): number[] {
  return list.split(',').flatMap((part) => {
    const [from, to = from] = part.split('-').map(Number) as [number, number?]
    return Array.from({ length: to - from + 1 }, (_, i) => from + i)
  })
}

/** The CPUs this process may use, as taskset reports them (a container may allow fewer than nproc). */
function allowedCpus(): number[] {
  const out = execFileSync('taskset', ['-pc', String(process.pid)], { encoding: 'utf8' })
  const list = /list:\s*(\S+)/.exec(out)?.[1]
  if (list === undefined) throw new Error(`cannot parse taskset output: ${out}`)
  return parseCpuList(list)
}

function machine(): Machine {
  const cpus = allowedCpus()
  if (cpus.length < 2) throw new Error(`need two allowed CPUs (server and client apart); have ${cpus.join(',')}`)
  const [serverCpu, clientCpu] = cpus as [number, number]
  const clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
  // This script mostly sleeps, but keep even its bookkeeping off the server's CPU (-a: all threads).
  execFileSync('taskset', ['-a', '-pc', String(clientCpu), String(process.pid)], { stdio: 'ignore' })
  return { serverCpu, clientCpu, clkTck }
}

/** utime + stime of a whole process (every thread, GC and libuv included), in clock ticks. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name, which is in parentheses and may itself hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // utime and stime are fields 14 and 15 of stat(5); this slice starts at field 3.
  return Number(fields[11]) + Number(fields[12])
}

interface Server {
  child: ChildProcess
  pid: number
  port: number
}

/** Starts a fresh server pinned to `cpu`; resolves once it prints its port. */
async function startServer(config: Config, cpu: number): Promise<Server> {
  // taskset execs node, so the child's pid is the server's pid.
  const child = spawn(
    'taskset',
    ['-c', String(cpu), process.execPath, '--conditions=afterwork-source', '--import', 'tsx', serverScript, config, '0'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`${config} server exited early with code ${code}`)
  })
  const [line] = (await Promise.race([once(child.stdout!, 'data'), exited])) as [Buffer]
  const { port } = JSON.parse(line.toString()) as { port: number }
  return { child, pid: child.pid!, port }
}

async function stopServer(server: Server): Promise<void> {
  const exited = once(server.child, 'exit')
  server.child.kill('SIGTERM')
  await exited
}

/** One autocannon run in its own process, pinned to `cpu`. */
async function autocannon(port: number, cpu: number, duration: number, connections: number): Promise<AutocannonResult> {
  const args = ['-c', String(cpu), process.execPath, autocannonBin, '-j', '-c', String(connections), '-d', String(duration)]
  const child = spawn('taskset', [...args, `http://127.0.0.1:${port}/`], { stdio: ['ignore', 'pipe', 'inherit'] })
  const chunks: Buffer[] = []
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk))
  const [code] = (await once(child, 'exit')) as [number | null]
  if (code !== 0) throw new Error(`autocannon exited with code ${code}`)
  return JSON.parse(Buffer.concat(chunks).toString()) as AutocannonResult
}

/** The server's task counts once no task is pending (tasks start as responses close, so this is quick). */
async function settledRanReport(port: number): Promise<RanReport> {
  for (let attempt = 0; ; attempt++) {
    const report = (await (await fetch(`http://127.0.0.1:${port}/__ran`)).json()) as RanReport
    if (report.pending === 0 || attempt === 50) return report
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

function problemsOf(config: Config, result: AutocannonResult, ran: RanReport, answered: number): string[] {
  const problems: string[] = []
  if (result.errors > 0 || result.timeouts > 0) problems.push(`${result.errors} errors, ${result.timeouts} timeouts`)
  if (result.non2xx > 0) problems.push(`${result.non2xx} non-2xx answers`)
  if (config !== 'task') return problems
  if (ran.ran !== ran.scheduled || ran.pending > 0 || ran.failed > 0) {
    problems.push(`tasks: ${ran.scheduled} scheduled, ${ran.ran} ran, ${ran.pending} pending, ${ran.failed} failed`)
  }
  // Every answered request scheduled a task; in-flight ones cut off at the end may add a few more.
  if (ran.scheduled < answered) problems.push(`only ${ran.scheduled} tasks scheduled for ${answered} answered requests`)
  return problems
}

/** One measured run of one configuration on a fresh server. */
async function runOnce(config: Config, round: number, settings: Settings, m: Machine): Promise<Run> {
  const server = await startServer(config, m.serverCpu)
  try {
    const warm = await autocannon(server.port, m.clientCpu, settings.warmup, settings.connections)
    const before = cpuTicks(server.pid)
    const result = await autocannon(server.port, m.clientCpu, settings.duration, settings.connections)
    const cpu = cpuTicks(server.pid) - before
    const ran = await settledRanReport(server.port)
    const requests = result.requests.total
    return {
      config,
      round,
      reqPerSec: result.requests.average,
      p99Ms: result.latency.p99,
      requests,
      cpuTicks: cpu,
      cpuUsPerRequest: (cpu / m.clkTck / requests) * 1e6,
      problems: problemsOf(config, result, ran, warm.requests.total + requests),
      ran,
      warmupRequests: warm.requests.total,
      autocannon: result,
    }
  } finally {
    await stopServer(server)
  }
}

interface Spread {
  median: number
  min: number
  max: number
}

function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! }
}

function fmt(s: Spread, digits: number): string {
  return `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`
}

/** CPU per request of `config` over bare's, round by round (each round ran the three back to back). */
function pairedRatios(runs: Run[], config: Config): number[] {
  const bare = runs.filter((r) => r.config === 'bare')
  return runs
    .filter((r) => r.config === config)
    .map((r) => r.cpuUsPerRequest / bare.find((b) => b.round === r.round)!.cpuUsPerRequest)
}

function report(runs: Run[]): string {
  const lines = [
    '| config | req/s | p99 (ms) | CPU µs/request |',
    '| --- | --- | --- | --- |',
    ...order.map((config) => {
      const mine = runs.filter((r) => r.config === config)
      const cells = [
        fmt(spread(mine.map((r) => r.reqPerSec)), 0),
        fmt(spread(mine.map((r) => r.p99Ms)), 0),
        fmt(spread(mine.map((r) => r.cpuUsPerRequest)), 1),
      ]
      return `| ${config} | ${cells.join(' | ')} |`
    }),
    '',
    '| CPU/request ratio | median (min–max) | target | met |',
    '| --- | --- | --- | --- |',
    ...(['mw', 'task'] as const).map((config) => {
      const ratio = spread(pairedRatios(runs, config))
      return `| ${config}/bare | ${fmt(ratio, 3)} | ≤ ${targets[config].toFixed(2)} | ${ratio.median <= targets[config] ? 'yes' : 'no'} |`
    }),
  ]
  const suspect = runs.filter((r) => r.problems.length > 0)
  for (const r of suspect) lines.push('', `Warning: ${r.config} round ${r.round}: ${r.problems.join('; ')}`)
  const task = runs.filter((r) => r.config === 'task')
  if (task.every((r) => r.problems.length === 0)) {
    const total = task.reduce((sum, r) => sum + r.ran.ran, 0)
    lines.push('', `Background tasks: every scheduled task ran (${total} over ${task.length} task runs, 0 failed).`)
  }
  return lines.join('\n')
}

function saveRaw(settings: Settings, m: Machine, runs: Run[]): string {
  mkdirSync(resultsDir, { recursive: true })
  const date = new Date().toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')
  const file = `${resultsDir}http-overhead-${date}.json`
  writeFileSync(file, `${JSON.stringify({ date, node: process.version, settings, machine: m, runs }, null, 2)}\n`)
  return file
}

async function main(): Promise<void> {
  const settings = readSettings()
  const m = machine()
  process.stderr.write(`node ${process.version}; server on CPU ${m.serverCpu}, autocannon on CPU ${m.clientCpu}; ${JSON.stringify(settings)}\n`)
  const runs: Run[] = []
  for (let round = 1; round <= settings.runs; round++) {
    for (const config of order) {
      const run = await runOnce(config, round, settings, m)
      runs.push(run)
      const note = run.problems.length > 0 ? ` [${run.problems.join('; ')}]` : ''
      process.stderr.write(
        `round ${round} ${config.padEnd(4)}: ${run.reqPerSec.toFixed(0)} req/s, p99 ${run.p99Ms} ms, ${run.cpuUsPerRequest.toFixed(1)} µs CPU/request${note}\n`,
      )
    }
  }
  const file = saveRaw(settings, m, runs)
  process.stdout.write(`${report(runs)}\n`)
  process.stderr.write(`raw runs: ${file}\n`)
}

await main()
