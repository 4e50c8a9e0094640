/**
 * HTTP overhead of afterwork on each framework it adapts (Hono, Fastify, Express, plain node:http):
 * the bare framework (`bare`), the framework with one empty middleware or hook (`floor`: what any
 * middleware costs there), the framework + afterwork's middleware (`mw`: plugin, listener wrapper),
 * and the same plus one background task per request (`task`).
 *
 *   npm run build && node --import tsx bench/http-overhead.ts [--runs 5] [--duration 10]
 *     [--connections 50] [--warmup 2] [--frameworks hono,fastify,express,node] [--together | --rotate]
 *
 * Each run starts a fresh server (bench/http-server.ts) pinned to one CPU, warms it up with
 * autocannon, then measures one autocannon run pinned to another CPU. Besides autocannon's req/s and
 * p99, it reads the server's CPU time (utime + stime from /proc/<pid>/stat) right before and after
 * the measured run and divides by the requests completed: on a shared machine req/s mostly says how
 * much CPU the server was given, CPU per request much less so. Configurations alternate
 * (bare, floor, mw, task, bare, ...) so slow drifts of the machine hit all four alike, and the ratios are
 * taken per round and framework; each round runs every framework in turn.
 *
 * With `--together`, a round runs a framework's four configurations at the same time instead: four
 * servers share the server CPU and four autocannons the client CPU, each measured over the same
 * seconds, so what the shared machine's neighbours do in those seconds falls on all four alike. The
 * clients then drive each server at about a quarter of its full rate; the ratios compare the four
 * at that one load.
 *
 * With `--rotate`, a framework's four servers start and warm up once and are driven alone in turn,
 * round after round, each run `--duration` seconds (3 gives 10 rounds in the time 5 rounds of 10 s
 * took): one configuration at a time and alternating, as above, but with the runs of a pair seconds
 * apart, so the machine's drifts between them are small, and at full load, as a server runs.
 *
 * The orchestrator's `--conditions` flag is passed on to the servers: without it afterwork runs from
 * the built dist/ (`npm run build` first), as users run it and as the frameworks run their compiled
 * JavaScript; with `--conditions=afterwork-source`, from src/ through tsx, whose transform adds a
 * `__name()` call wherever a named function is created, per request in a request path.
 *
 * Prints a markdown table on stdout (progress goes to stderr) and writes every run's raw figures to
 * bench/results/http-overhead-<date>.json.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { Config, Framework, RanReport } from './http-server.js'
import { afterworkConditions, type Spread, spread } from './harness.js'

const order: readonly Config[] = ['bare', 'floor', 'mw', 'task']
const allFrameworks: readonly Framework[] = ['hono', 'hono-mw', 'fastify', 'express', 'node']
const targets = { mw: 1.1, task: 1.15 } as const

const serverScript = fileURLToPath(new URL('./http-server.ts', import.meta.url))
const resultsDir = fileURLToPath(new URL('./results/', import.meta.url))
const repoRoot = fileURLToPath(new URL('../', import.meta.url))
const autocannonBin = createRequire(import.meta.url).resolve('autocannon/autocannon.js')

interface Settings {
  runs: number
  duration: number
  connections: number
  warmup: number
  frameworks: Framework[]
  together: boolean
  rotate: boolean
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
  framework: Framework
  config: Config
  round: number
  reqPerSec: number
  p99Ms: number
  requests: number
  cpuTicks: number
  cpuUsPerRequest: number
  /** Share of the server CPU's time spent on other processes during the run: the machine is shared. */
  otherLoad: number
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
      frameworks: { type: 'string', default: allFrameworks.join(',') },
      together: { type: 'boolean', default: false },
      rotate: { type: 'boolean', default: false },
    },
  })
  const counts = {
    runs: Number(values.runs),
    duration: Number(values.duration),
    connections: Number(values.connections),
    warmup: Number(values.warmup),
  }
  for (const [name, value] of Object.entries(counts)) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be an integer >= 1; got ${value}`)
  }
  const frameworks = values.frameworks.split(',').filter((f) => f !== '')
  const unknown = frameworks.filter((f) => !(allFrameworks as readonly string[]).includes(f))
  if (unknown.length > 0 || frameworks.length === 0) throw new Error(`--frameworks takes some of ${allFrameworks.join(',')}; got ${values.frameworks}`)
  if (values.together && values.rotate) throw new Error('--together and --rotate are two ways to run a round; pick one')
  return { ...counts, frameworks: frameworks as Framework[], together: values.together, rotate: values.rotate }
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

/** Busy and total clock ticks of one CPU, from /proc/stat (user nice system idle iowait irq softirq steal). */
function cpuLineTicks(cpu: number): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${cpu} `))
  if (line === undefined) throw new Error(`cpu${cpu} missing from /proc/stat`)
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line.split(/\s+/).slice(1).map(Number)
  const busy = user + nice + system + irq + softirq + steal
  return { busy, total: busy + idle + iowait }
}

interface Server {
  child: ChildProcess
  pid: number
  port: number
}

/** Starts a fresh server pinned to `cpu`; resolves once it prints its port. */
async function startServer(framework: Framework, config: Config, cpu: number): Promise<Server> {
  // taskset execs node, so the child's pid is the server's pid.
  const child = spawn(
    'taskset',
    ['-c', String(cpu), process.execPath, ...afterworkConditions(), '--import', 'tsx', serverScript, config, '0', framework],
    // From the repository root, where `--import tsx` and the afterwork-source condition resolve.
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`${framework} ${config} server exited early with code ${code}`)
  })
  const [line] = (await Promise.race([once(createInterface({ input: child.stdout! }), 'line'), exited])) as [string]
  const { port } = JSON.parse(line) as { port: number }
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
  // 'close', not 'exit': only then is all of stdout read.
  const [code] = (await once(child, 'close')) as [number | null]
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

/** One measured run's figures, with the checks that make it suspect. `answeredBefore`: requests the server answered before this run. */
async function toRun(
  framework: Framework,
  config: Config,
  round: number,
  server: Server,
  result: AutocannonResult,
  cpu: number,
  otherLoad: number,
  warm: AutocannonResult | undefined,
  m: Machine,
  answeredBefore = warm?.requests.total ?? 0,
): Promise<Run> {
  const requests = result.requests.total
  const ran = await settledRanReport(server.port)
  return {
    framework,
    config,
    round,
    reqPerSec: result.requests.average,
    p99Ms: result.latency.p99,
    requests,
    cpuTicks: cpu,
    cpuUsPerRequest: (cpu / m.clkTck / requests) * 1e6,
    otherLoad,
    problems: problemsOf(config, result, ran, answeredBefore + requests),
    ran,
    warmupRequests: warm?.requests.total ?? 0,
    autocannon: result,
  }
}

/**
 * Measured runs of `configs` of one framework, each on a fresh server, all at the same time: one
 * configuration alone, or the four together (`--together`), sharing the server CPU and the client
 * CPU over the same seconds.
 */
async function measure(framework: Framework, configs: readonly Config[], round: number, settings: Settings, m: Machine): Promise<Run[]> {
  const servers = await Promise.all(configs.map((config) => startServer(framework, config, m.serverCpu)))
  const load = (duration: number) => Promise.all(servers.map((server) => autocannon(server.port, m.clientCpu, duration, settings.connections)))
  try {
    const warm = await load(settings.warmup)
    const before = servers.map((server) => cpuTicks(server.pid))
    const cpuBefore = cpuLineTicks(m.serverCpu)
    const results = await load(settings.duration)
    const cpus = servers.map((server, i) => cpuTicks(server.pid) - (before[i] as number))
    const cpuAfter = cpuLineTicks(m.serverCpu)
    const otherLoad = Math.max(0, cpuAfter.busy - cpuBefore.busy - cpus.reduce((a, b) => a + b, 0)) / (cpuAfter.total - cpuBefore.total)
    return await Promise.all(
      configs.map((config, i) =>
        toRun(framework, config, round, servers[i] as Server, results[i] as AutocannonResult, cpus[i] as number, otherLoad, warm[i] as AutocannonResult, m),
      ),
    )
  } finally {
    await Promise.all(servers.map(stopServer))
  }
}

/**
 * `--rotate`: every round of one framework on the same four servers, started and warmed up once,
 * each driven alone in turn (bare, floor, mw, task; the next round starts one later, so no
 * configuration always runs first) for `--duration` seconds while the others sit idle. The issue's
 * method (one configuration at a time, alternating, CPU from a mark after warm-up), with the runs
 * of a round seconds apart instead of a minute, so slow drifts of the shared machine fall on each
 * pair alike and many short rounds cost what a few long ones did.
 */
async function measureRotating(framework: Framework, settings: Settings, m: Machine, report: (run: Run) => void): Promise<Run[]> {
  const servers = await Promise.all(order.map((config) => startServer(framework, config, m.serverCpu)))
  const runs: Run[] = []
  try {
    const answered = servers.map(() => 0)
    for (const [i, server] of servers.entries()) answered[i] = (await autocannon(server.port, m.clientCpu, settings.warmup, settings.connections)).requests.total
    for (let round = 1; round <= settings.runs; round++) {
      for (let k = 0; k < order.length; k++) {
        const i = (k + round - 1) % order.length
        const server = servers[i] as Server
        const before = cpuTicks(server.pid)
        const cpuBefore = cpuLineTicks(m.serverCpu)
        const result = await autocannon(server.port, m.clientCpu, settings.duration, settings.connections)
        const cpu = cpuTicks(server.pid) - before
        const cpuAfter = cpuLineTicks(m.serverCpu)
        const otherLoad = Math.max(0, cpuAfter.busy - cpuBefore.busy - cpu) / (cpuAfter.total - cpuBefore.total)
        const run = await toRun(framework, order[i] as Config, round, server, result, cpu, otherLoad, undefined, m, answered[i])
        answered[i] = (answered[i] as number) + result.requests.total
        runs.push(run)
        report(run)
      }
    }
    return runs
  } finally {
    await Promise.all(servers.map(stopServer))
  }
}

function fmt(s: Spread, digits: number, unit = ''): string {
  const n = (x: number) => `${x.toFixed(digits)}${unit}`
  return `${n(s.median)} (${n(s.min)}–${n(s.max)})`
}

/** CPU per request of `config` over bare's, round by round (each round ran the four back to back). */
function pairedRatios(runs: Run[], config: Config, base: Config = 'bare'): number[] {
  const bases = runs.filter((r) => r.config === base)
  return runs
    .filter((r) => r.config === config)
    .map((r) => r.cpuUsPerRequest / bases.find((b) => b.round === r.round)!.cpuUsPerRequest)
}

/** One report per framework, each with its own bare baseline. */
function reports(runs: Run[], frameworks: readonly Framework[]): string {
  return frameworks.map((framework) => `### ${framework}\n\n${report(runs.filter((r) => r.framework === framework))}`).join('\n\n')
}

function report(runs: Run[]): string {
  const lines = [
    '| config | req/s | p99 (ms) | CPU µs/request | other load on server CPU |',
    '| --- | --- | --- | --- | --- |',
    ...order.map((config) => {
      const mine = runs.filter((r) => r.config === config)
      const cells = [
        fmt(spread(mine.map((r) => r.reqPerSec)), 0),
        fmt(spread(mine.map((r) => r.p99Ms)), 0),
        fmt(spread(mine.map((r) => r.cpuUsPerRequest)), 1),
        fmt(spread(mine.map((r) => r.otherLoad * 100)), 0, '%'),
      ]
      return `| ${config} | ${cells.join(' | ')} |`
    }),
    '',
    '| CPU/request ratio, paired per round | median (min–max) | target | median within target |',
    '| --- | --- | --- | --- |',
    ...(['mw', 'task'] as const).map((config) => {
      const ratio = spread(pairedRatios(runs, config))
      return `| ${config}/bare | ${fmt(ratio, 3)} | ≤ ${targets[config].toFixed(2)} | ${ratio.median <= targets[config] ? 'yes' : 'no'} |`
    }),
    `| floor/bare (any middleware) | ${fmt(spread(pairedRatios(runs, 'floor')), 3)} | | |`,
    `| mw/floor (afterwork's own share) | ${fmt(spread(pairedRatios(runs, 'mw', 'floor')), 3)} | | |`,
    `| task/floor | ${fmt(spread(pairedRatios(runs, 'task', 'floor')), 3)} | | |`,
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

/**
 * Which source was measured: src/ changes under active development, so results name the commit and,
 * when src/ has uncommitted changes, a hash of every file in it (tracked or not) to tell states apart.
 */
function sourceVersion(): { commit: string; srcDirty: boolean; srcHash: string } {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8' }).trim()
  const hash = createHash('sha1')
  for (const file of git('ls-files', '--cached', '--others', '--exclude-standard', '--', 'src').split('\n').sort()) {
    if (existsSync(repoRoot + file)) hash.update(file).update(readFileSync(repoRoot + file))
  }
  return { commit: git('rev-parse', 'HEAD'), srcDirty: git('status', '--porcelain', '--', 'src') !== '', srcHash: hash.digest('hex').slice(0, 12) }
}

function saveRaw(settings: Settings, m: Machine, runs: Run[]): string {
  mkdirSync(resultsDir, { recursive: true })
  const date = new Date().toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')
  const file = `${resultsDir}http-overhead-${date}.json`
  writeFileSync(file, `${JSON.stringify({ date, node: process.version, source: sourceVersion(), settings, machine: m, runs }, null, 2)}\n`)
  return file
}

function progressLine(run: Run): string {
  const figures = [
    `${run.reqPerSec.toFixed(0)} req/s`,
    `p99 ${run.p99Ms} ms`,
    `${run.cpuUsPerRequest.toFixed(1)} µs CPU/request`,
    `other load ${(run.otherLoad * 100).toFixed(0)}%`,
  ]
  const note = run.problems.length > 0 ? ` [${run.problems.join('; ')}]` : ''
  return `round ${run.round} ${run.framework.padEnd(7)} ${run.config.padEnd(4)}: ${figures.join(', ')}${note}`
}

async function main(): Promise<void> {
  const settings = readSettings()
  const m = machine()
  process.stderr.write(`node ${process.version}; server on CPU ${m.serverCpu}, autocannon on CPU ${m.clientCpu}; ${JSON.stringify(settings)}\n`)
  const runs: Run[] = []
  const report = (run: Run) => process.stderr.write(`${progressLine(run)}\n`)
  if (settings.rotate) for (const framework of settings.frameworks) runs.push(...(await measureRotating(framework, settings, m, report)))
  for (let round = 1; round <= (settings.rotate ? 0 : settings.runs); round++) {
    for (const framework of settings.frameworks) {
      const measured = settings.together ? await measure(framework, order, round, settings, m) : []
      for (const config of settings.together ? [] : order) measured.push(...(await measure(framework, [config], round, settings, m)))
      for (const run of measured) {
        runs.push(run)
        report(run)
      }
    }
  }
  const file = saveRaw(settings, m, runs)
  process.stdout.write(`${reports(runs, settings.frameworks)}\n`)
  process.stderr.write(`raw runs: ${file}\n`)
}

await main()
