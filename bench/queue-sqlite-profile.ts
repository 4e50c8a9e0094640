/**
 * Where an afterwork worker's CPU goes while it drains (evidence for bench/RESULTS.md, "Durable
 * queue (SQLite)"): fills a file, drains it in a child run with `--cpu-prof`, and sums the profile
 * per job by what the time was spent under.
 *
 *   node --conditions=afterwork-source --import tsx bench/queue-sqlite-profile.ts [--jobs 50000]
 *     [--concurrency 50] [--dir .tmp/queue-sqlite-profile]
 *
 * Each sample counts once, under the first category found walking from the sampled function up its
 * stack: SQL (the driver's jobClaim and jobCompleteMany, statements and BEGIN/COMMIT included),
 * AbortController/AbortSignal/DOMException work, event emission (listeners and metrics included),
 * timers, module loading, GC, idle, or other. Prints a markdown table and the functions with the
 * most self time; keeps the .cpuprofile file (open it in Chrome DevTools).
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const workerScript = fileURLToPath(new URL('./queue-sqlite-worker.ts', import.meta.url))
const repoRoot = fileURLToPath(new URL('../', import.meta.url))

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
}

interface Profile {
  nodes: { id: number; callFrame: CallFrame; children?: number[] }[]
  samples: number[]
  timeDeltas: number[]
}

const categories: readonly (readonly [string, (f: CallFrame) => boolean])[] = [
  ['SQL: jobClaim (driver)', (f) => f.functionName === 'jobClaim' && f.url.includes('drivers/sqlite')],
  ['SQL: jobCompleteMany (driver)', (f) => f.functionName === 'jobCompleteMany' && f.url.includes('drivers/sqlite')],
  [
    'AbortController / AbortSignal / DOMException',
    (f) => f.url.startsWith('node:') && /^(DOMException|createAbortSignal|abortSignal|AbortController|abort|Event|dispatchEvent|addEventListener|removeEventListener)$/.test(f.functionName),
  ],
  ['events emitted (listeners, metrics)', (f) => f.functionName === 'emit' && f.url.includes('core/events')],
  ['timers (clock.sleep)', (f) => f.functionName === 'sleep' && f.url.includes('core/clock')],
  ['module loading (startup)', (f) => /^node:internal\/(modules|bootstrap)\//.test(f.url)],
  ['garbage collector', (f) => f.functionName === '(garbage collector)'],
  ['idle', (f) => f.functionName === '(idle)'],
]

async function run(args: string[]): Promise<void> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] })
  const [code] = (await once(child, 'exit')) as [number | null]
  if (code !== 0) throw new Error(`${args.join(' ')} exited with code ${code}`)
}

function summarize(profile: Profile, jobs: number): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const selfUs = new Map<number, number>()
  let total = 0
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt)
    total += dt
  })
  const sums = new Map<string, number>(categories.map(([name]) => [name, 0]))
  let other = 0
  const bySelf = new Map<string, number>()
  for (const [id, us] of selfUs) {
    const leaf = (byId.get(id) as Profile['nodes'][number]).callFrame
    const key = `${leaf.functionName || '(anonymous)'} ${leaf.url.replace(/^.*\/(src|node_modules)\//, '$1/')}:${leaf.lineNumber + 1}`
    bySelf.set(key, (bySelf.get(key) ?? 0) + us)
    let found: string | undefined
    for (let cur: number | undefined = id; cur !== undefined && found === undefined; cur = parent.get(cur)) {
      const frame = (byId.get(cur) as Profile['nodes'][number]).callFrame
      found = categories.find(([, match]) => match(frame))?.[0]
    }
    if (found === undefined) other += us
    else sums.set(found, (sums.get(found) as number) + us)
  }
  const row = (name: string, us: number) => `| ${name} | ${(us / jobs).toFixed(2)} | ${((us / total) * 100).toFixed(1)}% |`
  return [
    `Profile of the drain process: ${(total / 1000).toFixed(0)} ms sampled for ${jobs.toLocaleString('en-US')} jobs.`,
    '',
    '| spent under | µs/job | share |',
    '| --- | --- | --- |',
    ...[...sums].map(([name, us]) => row(name, us)),
    row('other', other),
    '',
    '| most self time | ms |',
    '| --- | --- |',
    ...[...bySelf]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15)
      .map(([key, us]) => `| ${key} | ${(us / 1000).toFixed(1)} |`),
  ].join('\n')
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      jobs: { type: 'string', default: '50000' },
      concurrency: { type: 'string', default: '50' },
      dir: { type: 'string', default: resolve(repoRoot, '.tmp/queue-sqlite-profile') },
    },
  })
  const jobs = Number(values.jobs)
  const concurrency = Number(values.concurrency)
  if (!Number.isInteger(jobs) || jobs < 1 || !Number.isInteger(concurrency) || concurrency < 1) throw new Error('--jobs and --concurrency take integers >= 1')
  const dir = resolve(values.dir)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const db = `${dir}/drain.db`
  const node = ['--conditions=afterwork-source', '--import', 'tsx']
  await run([...node, workerScript, 'fill', 'afterwork', '--db', db, '--jobs', String(jobs)])
  await run(['--cpu-prof', `--cpu-prof-dir=${dir}`, ...node, workerScript, 'drain', 'afterwork', '--db', db, '--jobs', String(jobs), '--concurrency', String(concurrency)])
  // The main thread's profile is the large one (tsx's loader thread writes a small one too).
  const [file] = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => `${dir}/${f}`)
    .sort((a, b) => statSync(b).size - statSync(a).size)
  if (file === undefined) throw new Error(`no .cpuprofile in ${dir}`)
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
  process.stdout.write(`${summarize(profile, jobs)}\n\nProfile: ${file}\n`)
}

await main()
