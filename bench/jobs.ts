/**
 * In-process jobs and offload against their anchors, in one process, alternating:
 *
 *   node --conditions=afterwork-source --import tsx bench/jobs.ts [--runs 5] [--jobs 20000] [--tasks 20000] [--subruns 3]
 *
 * 1. Job start-to-running overhead: `kind.start()` until the handler runs, against a bare promise
 *    chain doing the same (Promise.resolve().then(handler)), for `--jobs` trivial jobs.
 * 2. Offload round trip: `svc.offload.run()` against bare piscina on the same worker module, both
 *    pipelined (all `--tasks` submitted at once), both without a signal and both with one.
 *
 * Pairs are formed per round (afterwork run next to its anchor run), and the ratios reported are
 * medians of the per-round ratios, with min-max. Each offload figure of a round is the median of
 * `--subruns` runs per side, alternating, since this machine's speed drifts between runs. Prints a
 * markdown table; raw runs go to bench/results/jobs-<date>.json.
 */
import { setMaxListeners } from 'node:events'
import { mkdirSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createService, silentLogger } from 'afterwork'
import { Piscina } from 'piscina'
import { median } from './harness.js'

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    jobs: { type: 'string', default: '20000' },
    tasks: { type: 'string', default: '20000' },
    subruns: { type: 'string', default: '3' },
  },
})
const runs = Number(values.runs)
const jobCount = Number(values.jobs)
const taskCount = Number(values.tasks)
const subruns = Number(values.subruns)
const threads = Math.max(1, availableParallelism() - 1)
const trivial = new URL('./jobs-task.mjs', import.meta.url)

/** Jobs/s for `n` jobs started back to back, each resolving a counter when its handler runs. */
async function afterworkJobs(n: number): Promise<number> {
  const svc = createService({ logger: silentLogger, jobs: { maxFinished: 0 } })
  let ran = 0
  let done!: () => void
  const all = new Promise<void>((resolve) => (done = resolve))
  const kind = svc.jobs.define(
    async function noop() {
      if (++ran === n) done()
    },
    { concurrency: n, maxQueued: 0 },
  )
  await svc.start()
  const t0 = performance.now()
  for (let i = 0; i < n; i++) void kind.start(undefined)
  await all
  const rate = n / ((performance.now() - t0) / 1000)
  await svc.stop()
  return rate
}

async function barePromises(n: number): Promise<number> {
  let ran = 0
  let done!: () => void
  const all = new Promise<void>((resolve) => (done = resolve))
  const handler = async () => {
    if (++ran === n) done()
  }
  const t0 = performance.now()
  for (let i = 0; i < n; i++) void Promise.resolve().then(handler)
  await all
  return n / ((performance.now() - t0) / 1000)
}

async function offloadTasks(n: number, withSignal: boolean): Promise<number> {
  const svc = createService({ logger: silentLogger, offload: { minThreads: threads, maxThreads: threads, maxQueue: n } })
  await svc.start()
  await Promise.all(Array.from({ length: threads * 4 }, () => svc.offload.run(trivial, 'noop', 0))) // warm threads
  const controller = new AbortController()
  // One signal shared by every run on purpose: each run adds (and later removes) one listener.
  setMaxListeners(0, controller.signal)
  const opts = withSignal ? { signal: controller.signal } : {}
  const t0 = performance.now()
  await Promise.all(Array.from({ length: n }, (_, i) => svc.offload.run(trivial, 'noop', i, opts)))
  const rate = n / ((performance.now() - t0) / 1000)
  await svc.stop()
  return rate
}

async function piscinaTasks(n: number, withSignal: boolean): Promise<number> {
  const pool = new Piscina({ filename: fileURLToPath(trivial), minThreads: threads, maxThreads: threads })
  await Promise.all(Array.from({ length: threads * 4 }, () => pool.run(0, { name: 'noop' })))
  const controller = new AbortController()
  setMaxListeners(0, controller.signal)
  const t0 = performance.now()
  await Promise.all(Array.from({ length: n }, (_, i) => pool.run(i, withSignal ? { name: 'noop', signal: controller.signal } : { name: 'noop' })))
  const rate = n / ((performance.now() - t0) / 1000)
  await pool.destroy()
  return rate
}

const fmt = (xs: number[], digits = 0) =>
  `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)})`

const pairs = {
  jobs: { afterwork: [] as number[], anchor: [] as number[] },
  offloadPlain: { afterwork: [] as number[], anchor: [] as number[] },
  offloadSignal: { afterwork: [] as number[], anchor: [] as number[] },
}
for (let round = 0; round < runs; round++) {
  process.stderr.write(`round ${round + 1}/${runs}\n`)
  // Alternate which side goes first, so drifts of the shared machine hit both alike.
  const order = round % 2 === 0
  const pair = async (a: () => Promise<number>, b: () => Promise<number>) => (order ? [await a(), await b()] : [await b(), await a()].reverse()) as [number, number]
  // The machine's speed drifts by 20% from one run to the next: each offload pair is the median of
  // `subruns` back-to-back runs per side, alternating (ABAB... then BABA... in the next round).
  const interleaved = async (a: () => Promise<number>, b: () => Promise<number>) => {
    const xs: number[] = []
    const ys: number[] = []
    for (let k = 0; k < subruns; k++) {
      const [x, y] = await pair(a, b)
      xs.push(x)
      ys.push(y)
    }
    return [median(xs), median(ys)] as [number, number]
  }
  let [x, y] = await pair(() => afterworkJobs(jobCount), () => barePromises(jobCount))
  pairs.jobs.afterwork.push(x)
  pairs.jobs.anchor.push(y)
  ;[x, y] = await interleaved(() => offloadTasks(taskCount, false), () => piscinaTasks(taskCount, false))
  pairs.offloadPlain.afterwork.push(x)
  pairs.offloadPlain.anchor.push(y)
  ;[x, y] = await interleaved(() => offloadTasks(taskCount, true), () => piscinaTasks(taskCount, true))
  pairs.offloadSignal.afterwork.push(x)
  pairs.offloadSignal.anchor.push(y)
}

const ratio = (p: { afterwork: number[]; anchor: number[] }) => p.afterwork.map((a, i) => a / (p.anchor[i] as number))
const rows = [
  ['in-process job start to running, trivial handler (jobs/s)', 'bare promise', pairs.jobs],
  [`offload round trip, trivial task, ${threads} thread(s), no signal (tasks/s)`, 'bare piscina', pairs.offloadPlain],
  [`offload round trip, trivial task, ${threads} thread(s), with a signal (tasks/s)`, 'bare piscina + signal', pairs.offloadSignal],
] as const
console.log(`Node ${process.version}, ${runs} alternating rounds; median (min-max)\n`)
console.log('| measure | afterwork | anchor | anchor | afterwork / anchor, per round |')
console.log('| --- | --- | --- | --- | --- |')
for (const [label, anchor, p] of rows) console.log(`| ${label} | ${fmt(p.afterwork)} | ${anchor} | ${fmt(p.anchor)} | ${fmt(ratio(p), 3)} |`)

const dir = fileURLToPath(new URL('./results/', import.meta.url))
mkdirSync(dir, { recursive: true })
writeFileSync(`${dir}jobs-${new Date().toISOString().replace(/[:.]/g, '-')}.json`, JSON.stringify({ node: process.version, runs, jobCount, taskCount, subruns, threads, pairs }, null, 2))
