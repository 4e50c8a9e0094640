/**
 * The scheduler bench's RSS measurement, in plain JavaScript on the built package (`npm run build`
 * first), as a service runs in production: no tsx (its loader thread alone adds about 30 MiB on
 * Node 20) and no type stripping (about 15 MiB on Node 24).
 *
 *   node --expose-gc bench/scheduler-rss.mjs <afterwork|croner> [count] [settleSeconds]
 *
 * Prints one JSON line (an RssResult of scheduler-worker.ts plus `settled`): memory after a forced
 * GC with the library loaded, right after registering `count` daily crons, and again after
 * `settleSeconds` idle, when V8 has given back the young generation that registration grew.
 */
import { existsSync } from 'node:fs'
import { performance } from 'node:perf_hooks'

const [impl = 'afterwork', countArg = '10000', settleArg = '10'] = process.argv.slice(2)
const count = Number(countArg)
const settleSeconds = Number(settleArg)
if (!globalThis.gc) throw new Error('run with --expose-gc')
if (!['afterwork', 'croner'].includes(impl) || !(count > 0) || !(settleSeconds >= 0)) {
  throw new Error('usage: scheduler-rss.mjs <afterwork|croner> [count] [settleSeconds]')
}
if (impl === 'afterwork' && !existsSync(new URL('../dist/index.js', import.meta.url))) {
  throw new Error('bench/scheduler-rss.mjs measures the built package: run `npm run build` first')
}

/** The same spread as scheduler-worker.ts: `count` daily crons over the day's 1,440 minutes. */
function dailyCron(i) {
  const minuteOfDay = Math.floor((i * 1440) / count)
  return `${minuteOfDay % 60} ${Math.floor(minuteOfDay / 60)} * * *`
}

function memory() {
  // Twice: the first pass can leave finalizer-held objects for the second.
  globalThis.gc()
  globalThis.gc()
  const { rss, heapUsed, external } = process.memoryUsage()
  return { rss, heapUsed, external }
}

const noop = () => {}
let before
let stop
let startedAt
if (impl === 'afterwork') {
  const { createService, silentLogger } = await import('afterwork')
  const svc = createService({ logger: silentLogger })
  before = memory()
  startedAt = performance.now()
  for (let i = 0; i < count; i++) svc.cron(dailyCron(i), noop, { name: `daily-${i}` })
  await svc.start()
  stop = () => svc.stop()
} else {
  const { Cron } = await import('croner')
  before = memory()
  startedAt = performance.now()
  // With a function, croner arms a timer even for a paused job: the real cost of idle croner jobs.
  const jobs = Array.from({ length: count }, (_, i) => new Cron(dailyCron(i), { paused: true }, noop))
  stop = async () => jobs.forEach((job) => job.stop())
}
const registerMs = performance.now() - startedAt
const after = memory()
await new Promise((resolve) => setTimeout(resolve, settleSeconds * 1000))
const settled = memory()
await stop()
process.stdout.write(`${JSON.stringify({ measure: 'rss', impl, count, before, after, settled, registerMs })}\n`)
