/**
 * Peak RSS of an afterwork worker process draining the PostgreSQL queue, on the built package with
 * plain node, as a service runs in production. bench/queue-postgres.ts runs its workers under tsx
 * (the anchors are TypeScript too), and tsx's loader adds 15-30 MiB to every process it runs.
 *
 *   npm run build && node bench/queue-postgres-rss.mjs [--runs 3] [--jobs 10000] [--concurrency 10,50]
 *     [--url postgres://postgres@127.0.0.1:5432/test]
 *
 * Each run fills a fresh schema with `jobs` no-op jobs (enqueueMany, one process), then drains them
 * in a fresh worker process (a Service with `worker: { concurrency }`, defaults otherwise) that
 * reports its peak RSS (`process.resourceUsage().maxRSS`) once the last outcome is stored. Prints a
 * markdown table: median (min-max) per concurrency.
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: 'string', default: '3' },
    jobs: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '10,50' },
    url: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
    schema: { type: 'string', default: '' },
  },
})
const jobs = Number(values.jobs)
const { url } = values
if (!existsSync(new URL('../dist/index.js', import.meta.url))) {
  throw new Error('bench/queue-postgres-rss.mjs measures the built package: run `npm run build` first')
}

/** Accepts any payload as is: the bench measures the queue, not a validator. */
const anything = { '~standard': { version: 1, vendor: 'bench', validate: (value) => ({ value }) } }

async function service(schema, worker) {
  const { createService, silentLogger } = await import('afterwork')
  const { postgres } = await import('afterwork/postgres')
  return createService({ name: 'bench', logger: silentLogger, queue: postgres({ url, schema }), worker, shutdown: { work: '5s' } })
}

async function fill(schema) {
  const svc = await service(schema, false)
  const task = svc.task('noop', { schema: anything }, async () => {})
  await svc.start()
  for (let i = 0; i < jobs; i += 1000) {
    await task.enqueueMany(Array.from({ length: Math.min(1000, jobs - i) }, (_, j) => ({ payload: { i: i + j } })))
  }
  await svc.stop()
}

async function drain(schema, concurrency) {
  const svc = await service(schema, { concurrency })
  svc.task('noop', { schema: anything }, async () => {})
  let succeeded = 0
  let done
  const all = new Promise((resolve) => (done = resolve))
  // Emitted once the outcome is committed.
  svc.on('job:succeeded', () => {
    if (++succeeded === jobs) done()
  })
  const t0 = performance.now()
  await svc.start()
  await all
  const ms = performance.now() - t0
  const rss = process.resourceUsage().maxRSS * 1024
  await svc.stop()
  process.stdout.write(`${JSON.stringify({ jobsPerSecond: jobs / (ms / 1000), peakRssMiB: rss / 2 ** 20 })}\n`)
}

async function dropSchema(schema) {
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  await client.end()
}

const [role, concurrency] = positionals
if (role === 'fill') await fill(values.schema)
else if (role === 'drain') await drain(values.schema, Number(concurrency))
else {
  const script = fileURLToPath(import.meta.url)
  const child = (args) => execFileSync(process.execPath, [script, ...args, '--jobs', String(jobs), '--url', url], { encoding: 'utf8' })
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const fmt = (xs, digits) => `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)})`
  console.log(`Node ${process.version}, ${jobs} no-op jobs, ${values.runs} runs per concurrency, built package\n`)
  console.log('| concurrency | worker peak RSS (MiB) | drain (jobs/s) |')
  console.log('| --- | --- | --- |')
  for (const c of values.concurrency.split(',').map(Number)) {
    const results = []
    for (let run = 0; run < Number(values.runs); run++) {
      const schema = `aw_rss_${process.pid}_${c}_${run}`
      try {
        child(['fill', '--schema', schema])
        results.push(JSON.parse(child(['drain', String(c), '--schema', schema]).trim().split('\n').at(-1)))
      } finally {
        await dropSchema(schema)
      }
    }
    console.log(`| ${c} | ${fmt(results.map((r) => r.peakRssMiB), 1)} | ${fmt(results.map((r) => r.jobsPerSecond), 0)} |`)
  }
}
