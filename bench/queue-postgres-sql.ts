/**
 * What the PostgreSQL driver's claim and completion SQL costs per job, with no worker around it, and
 * what fewer round trips, fewer commits waiting for the WAL flush, fewer indexes and bigger claims
 * would save (evidence for bench/RESULTS.md, "Durable queue (PostgreSQL)"):
 *
 *   node --conditions=afterwork-source --import tsx bench/queue-postgres-sql.ts [--jobs 10000] [--runs 3]
 *     [--claims 50,500] [--url postgres://postgres@127.0.0.1:5432/test]
 *
 * Each run fills a fresh schema with `jobs` queued no-op jobs through afterwork (enqueueMany, which
 * also runs the migrations), then drains it on one connection the way the worker does with no-op
 * handlers: claim `claim` jobs, then write their `succeeded` outcomes, until none are left (claims on
 * one connection and completions on another, as from the worker's pool; one at a time).
 * Variants change one thing each, cumulatively, from the statements the driver ran before issue 7's
 * fixes (hard-coded here, not the driver's current ones):
 * - as is: a claim is BEGIN, the clock, the candidates (queries.ts `claimCandidates`, 4 × claim,
 *   FOR UPDATE SKIP LOCKED), the UPDATE, COMMIT (5 round trips, one commit); a completion is BEGIN,
 *   the UPDATE, COMMIT (3 round trips, one commit). The driver still claims jobs with rate or
 *   concurrency keys this way (its BEGIN also sets enable_sort and jit off).
 * - candidates = claim: read and lock only as many candidates as the claim takes (CANDIDATE_FACTOR 1).
 * - 1 statement each: the claim as one autocommitted `UPDATE ... WHERE id IN (SELECT ... LIMIT n
 *   FOR UPDATE SKIP LOCKED) RETURNING` (possible when no candidate has a rate limit or concurrency
 *   key), the completion as the one autocommitted UPDATE.
 * - + claims not waiting for the WAL flush: the claim connection runs with `synchronous_commit =
 *   off` (a claim lost in a database crash leaves the job claimable again, and the job ran at most
 *   once more than it would have anyway; a completion is still durable).
 * - + no state/worker index: without `jobs_state (state, id)` and `jobs_worker (worker_id)`, which
 *   every claim and completion updates.
 * And, apart from the others:
 * - driver: the driver's own `jobClaim` and `jobCompleteMany` (src/drivers/postgres), whatever
 *   statements they send now, on a pool of two connections; round trips counted on that pool.
 * Variants alternate within each round; figures per job: wall time, this process's CPU and every
 * postgres process's CPU.
 *
 * Prints a markdown table on stdout and writes the raw figures to bench/results/queue-postgres-sql-<date>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import pg from 'pg'
import type { StandardSchemaV1 } from '@standard-schema/spec'
import { createService, silentLogger } from 'afterwork'
import { postgres } from 'afterwork/postgres'
import { JOB_COLUMNS, queries } from '../src/drivers/postgres/queries.js'
import { cpuUs, postgresCpuUs, spread } from './harness.js'

const resultsDir = fileURLToPath(new URL('./results/', import.meta.url))
const WORKER = 'bench-sql'
const LEASE_MS = 6_000

interface Variant {
  label: string
  /** Candidates read (and locked) per claim, as a multiple of the claim. */
  factor: number
  oneStatement: boolean
  asyncClaim: boolean
  dropIndexes: boolean
  /** Call the driver instead of replaying statements (the other fields do not apply). */
  driver?: boolean
}

const variants: readonly Variant[] = [
  { label: 'as is', factor: 4, oneStatement: false, asyncClaim: false, dropIndexes: false },
  { label: 'candidates = claim', factor: 1, oneStatement: false, asyncClaim: false, dropIndexes: false },
  { label: '1 statement each', factor: 1, oneStatement: true, asyncClaim: false, dropIndexes: false },
  { label: '1 statement each + claims not waiting for the WAL flush', factor: 1, oneStatement: true, asyncClaim: true, dropIndexes: false },
  { label: '1 statement each + claims not waiting for the WAL flush + no state/worker index', factor: 1, oneStatement: true, asyncClaim: true, dropIndexes: true },
  { label: 'driver: jobClaim + jobCompleteMany as they are now', factor: 1, oneStatement: true, asyncClaim: false, dropIndexes: false, driver: true },
]

interface Settings {
  jobs: number
  runs: number
  claims: number[]
  url: string
}

interface Result {
  variant: string
  claim: number
  round: number
  jobs: number
  ms: number
  cpuUs: number
  pgCpuUs: number
  statements: number
}

const anything: StandardSchemaV1<unknown, unknown> = {
  '~standard': { version: 1, vendor: 'bench', validate: (value) => ({ value }) },
}

function readSettings(): Settings {
  const { values } = parseArgs({
    options: {
      jobs: { type: 'string', default: '10000' },
      runs: { type: 'string', default: '3' },
      claims: { type: 'string', default: '50,500' },
      url: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
    },
  })
  const int = (name: string, value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be an integer >= 1; got ${value}`)
    return n
  }
  return { jobs: int('jobs', values.jobs), runs: int('runs', values.runs), claims: values.claims.split(',').map((c) => int('claims', c.trim())), url: values.url }
}

async function fill(s: Settings, schema: string): Promise<void> {
  const svc = createService({ name: 'bench-sql', logger: silentLogger, queue: postgres({ url: s.url, schema }), worker: false })
  const task = svc.task('noop', { schema: anything }, async () => {})
  await svc.start()
  for (let i = 0; i < s.jobs; i += 1000) await task.enqueueMany(Array.from({ length: Math.min(1000, s.jobs - i) }, (_, k) => ({ i: i + k })))
  await svc.stop()
}

/** Drains through the driver itself, counting the statements its pool sends. */
async function drainThroughDriver(s: Settings, v: Variant, claim: number, round: number, schema: string): Promise<Result> {
  const pool = new pg.Pool({ connectionString: s.url, max: 2 })
  let statements = 0
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown
    client.query = ((...args: unknown[]) => {
      statements++
      return query(...args)
    }) as typeof client.query
  })
  const driver = postgres({ pool, schema })
  let done = 0
  const c0 = cpuUs()
  const p0 = postgresCpuUs()
  const t0 = performance.now()
  for (;;) {
    const rows = await driver.jobClaim({ queue: 'default', names: ['noop'], workerId: WORKER, limit: claim, lease: LEASE_MS })
    if (rows.length === 0) break
    await driver.jobCompleteMany({ workerId: WORKER, completions: rows.map((r) => ({ id: r.id, outcome: 'succeeded' as const, result: null })) })
    done += rows.length
  }
  const ms = performance.now() - t0
  const cpu = cpuUs() - c0
  const pgCpu = postgresCpuUs() - p0
  const left = ((await pool.query(`SELECT count(*)::int AS n FROM "${schema}".jobs WHERE state <> 'succeeded'`)).rows[0] as { n: number }).n
  await pool.end()
  if (done !== s.jobs || left !== 0) throw new Error(`${v.label}: drained ${done} of ${s.jobs}, ${left} not succeeded`)
  return { variant: v.label, claim, round, jobs: done, ms, cpuUs: cpu, pgCpuUs: pgCpu, statements }
}

async function drainOnce(s: Settings, v: Variant, claim: number, round: number, schema: string): Promise<Result> {
  if (v.driver) return drainThroughDriver(s, v, claim, round, schema)
  const q = queries(schema)
  const jobsTable = `"${schema}".jobs`
  const returning = JOB_COLUMNS.split(',').map((c) => `j.${c.trim()}`).join(', ')
  // The clock once, uncorrelated: a subquery reading an outer `now` would run once per row.
  const oneClaim = `WITH n AS MATERIALIZED (SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint AS now),
    c AS (SELECT id FROM ${jobsTable} WHERE queue = $1 AND state IN ('scheduled', 'queued', 'retrying') AND run_at <= (SELECT now FROM n)
      AND name = ANY($2::text[]) AND rate_key IS NULL AND concurrency_key IS NULL
      ORDER BY priority DESC, run_at, id LIMIT $5 FOR UPDATE SKIP LOCKED)
    UPDATE ${jobsTable} j SET state = 'running', attempt = attempt + 1, started_at = n.now, worker_id = $3, lease_until = n.now + $4::bigint
    FROM c, n WHERE j.id = c.id
    RETURNING ${returning}`
  // Claims on one connection, completions on another, as the worker's pool does; with
  // asyncClaim only the claim connection's commits skip waiting for the WAL flush.
  const claimer = new pg.Client({ connectionString: s.url })
  const completer = new pg.Client({ connectionString: s.url })
  await claimer.connect()
  await completer.connect()
  if (v.dropIndexes) await claimer.query(`DROP INDEX "${schema}".jobs_state; DROP INDEX "${schema}".jobs_worker`)
  if (v.asyncClaim) await claimer.query('SET synchronous_commit = off')
  let statements = 0
  const on = (client: pg.Client) => async (text: string, values?: unknown[]) => {
    statements++
    return client.query(text, values)
  }
  const claimSql = on(claimer)
  const completeSql = on(completer)
  let done = 0
  const c0 = cpuUs()
  const p0 = postgresCpuUs()
  const t0 = performance.now()
  for (;;) {
    let ids: string[]
    if (v.oneStatement) {
      ids = ((await claimSql(oneClaim, ['default', ['noop'], WORKER, LEASE_MS, claim])).rows as { id: string }[]).map((r) => r.id)
    } else {
      await claimSql('BEGIN')
      const now = Number(((await claimSql(q.now, [null])).rows[0] as { now: string }).now)
      const candidates = (await claimSql(q.claimCandidates, ['default', now, ['noop'], claim * v.factor])).rows as { id: string }[]
      const picked = candidates.slice(0, claim).map((c) => c.id)
      ids = picked.length === 0 ? [] : ((await claimSql(q.claim, [picked, now, WORKER, now + LEASE_MS])).rows as { id: string }[]).map((r) => r.id)
      await claimSql('COMMIT')
    }
    if (ids.length === 0) break
    const results = ids.map(() => null)
    if (v.oneStatement) {
      await completeSql(q.succeeded, [ids, results, WORKER, null])
    } else {
      await completeSql('BEGIN')
      await completeSql(q.succeeded, [ids, results, WORKER, null])
      await completeSql('COMMIT')
    }
    done += ids.length
  }
  const ms = performance.now() - t0
  const cpu = cpuUs() - c0
  const pgCpu = postgresCpuUs() - p0
  const left = ((await claimer.query(`SELECT count(*)::int AS n FROM ${jobsTable} WHERE state <> 'succeeded'`)).rows[0] as { n: number }).n
  await claimer.end()
  await completer.end()
  if (done !== s.jobs || left !== 0) throw new Error(`${v.label}: drained ${done} of ${s.jobs}, ${left} not succeeded`)
  return { variant: v.label, claim, round, jobs: done, ms, cpuUs: cpu, pgCpuUs: pgCpu, statements }
}

function fmt(values: number[], digits: number): string {
  const s = spread(values)
  const n = (x: number) => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
  return `${n(s.median)} (${n(s.min)}–${n(s.max)})`
}

async function main(): Promise<void> {
  const s = readSettings()
  const admin = new pg.Client({ connectionString: s.url })
  await admin.connect()
  const results: Result[] = []
  let n = 0
  try {
    for (let round = 1; round <= s.runs; round++) {
      for (const claim of s.claims) {
        for (const v of variants) {
          const schema = `qpgsql_${process.pid}_${++n}`
          try {
            await fill(s, schema)
            const r = await drainOnce(s, v, claim, round, schema)
            results.push(r)
            process.stderr.write(`round ${round} claim ${claim} ${v.label}: ${Math.round((r.jobs / r.ms) * 1000)} jobs/s, ${(r.cpuUs / r.jobs).toFixed(1)} µs client CPU/job, ${(r.pgCpuUs / r.jobs).toFixed(1)} µs postgres CPU/job\n`)
          } finally {
            await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
          }
        }
      }
    }
  } finally {
    await admin.end()
  }
  mkdirSync(resultsDir, { recursive: true })
  const date = new Date().toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')
  const file = `${resultsDir}queue-postgres-sql-${date}.json`
  writeFileSync(file, `${JSON.stringify({ date, node: process.version, settings: s, results }, null, 2)}\n`)
  const lines = [
    `### Claim and completion SQL alone, ${s.jobs.toLocaleString('en-US')} no-op jobs, one connection (median (min–max) of ${s.runs} runs)`,
    '',
    '| claim size | variant | jobs/s | round trips per job | postgres CPU µs/job | client CPU µs/job |',
    '| --- | --- | --- | --- | --- | --- |',
  ]
  for (const claim of s.claims) {
    for (const v of variants) {
      const mine = results.filter((r) => r.claim === claim && r.variant === v.label)
      lines.push(
        `| ${claim} | ${v.label} | ${fmt(mine.map((r) => (r.jobs / r.ms) * 1000), 0)} | ${fmt(mine.map((r) => r.statements / r.jobs), 3)} | ${fmt(mine.map((r) => r.pgCpuUs / r.jobs), 1)} | ${fmt(mine.map((r) => r.cpuUs / r.jobs), 1)} |`,
      )
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`)
  process.stderr.write(`raw: ${file}\n`)
}

await main()
