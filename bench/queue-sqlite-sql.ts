/**
 * What the SQLite driver's claim and completion SQL costs per job, with no worker around it, and
 * what schema and query changes would save (evidence for bench/RESULTS.md, "Durable queue (SQLite)"):
 *
 *   node --conditions=afterwork-source --import tsx bench/queue-sqlite-sql.ts [--jobs 10000] [--runs 5]
 *     [--claims 50,1] [--dir .tmp/queue-sqlite-sql]
 *
 * A template file is filled once with `jobs` queued no-op jobs through afterwork (enqueueMany) and
 * copied for every run. A run drains it the way the worker does: one `BEGIN IMMEDIATE` transaction
 * per claim of `claim` jobs (the driver's CLAIM_CANDIDATES, then CLAIM_JOBS), completions written
 * 100 per transaction (COMPLETE_SUCCEEDED), synchronous=NORMAL, WAL. Variants change one thing each:
 * - as is: the driver's statements and schema (candidates read = 4 × the claim).
 * - candidates = claim: read only as many candidates as the claim takes (CANDIDATE_FACTOR 1).
 * - no state/worker index: without `afterwork_jobs_state (state, id)` and `afterwork_jobs_worker`,
 *   which every claim and every completion update.
 * - both of the above.
 * - one statement: `UPDATE ... WHERE rowid IN (SELECT rowid ... LIMIT n) RETURNING`, no candidate
 *   read (possible when no candidate has a rate limit or concurrency key), without those indexes.
 * Variants alternate within each round; figures are per job: process CPU (user + system) and wall.
 *
 * Prints a markdown table on stdout and writes the raw figures to bench/results/queue-sqlite-sql-<date>.json.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { StandardSchemaV1 } from '@standard-schema/spec'
import Database from 'better-sqlite3'
import { createService, silentLogger } from 'afterwork'
import { sqlite } from 'afterwork/sqlite'
import * as Q from '../src/drivers/sqlite/queries.js'
import { type Spread, removeDb, spread } from './harness.js'

const resultsDir = fileURLToPath(new URL('./results/', import.meta.url))
const repoRoot = fileURLToPath(new URL('../', import.meta.url))
const COMPLETION_BATCH = 100

interface Variant {
  label: string
  factor: number
  dropIndexes: boolean
  oneStatement: boolean
}

const variants: readonly Variant[] = [
  { label: 'as is', factor: 4, dropIndexes: false, oneStatement: false },
  { label: 'candidates = claim', factor: 1, dropIndexes: false, oneStatement: false },
  { label: 'no state/worker index', factor: 4, dropIndexes: true, oneStatement: false },
  { label: 'candidates = claim + no state/worker index', factor: 1, dropIndexes: true, oneStatement: false },
  { label: 'one-statement claim + no state/worker index', factor: 1, dropIndexes: true, oneStatement: true },
]

const ONE_STATEMENT_CLAIM = `UPDATE afterwork_jobs SET state = 'running', attempt = attempt + 1, started_at = @now,
  worker_id = @workerId, lease_until = @leaseUntil
  WHERE rowid IN (SELECT rowid FROM afterwork_jobs INDEXED BY afterwork_jobs_claim
    WHERE queue = @queue AND state IN ('scheduled', 'queued', 'retrying') AND run_at <= @now
      AND name IN (SELECT value FROM json_each(@names))
    ORDER BY priority DESC, run_at, id LIMIT @limit)
  RETURNING ${Q.JOB_COLUMNS}`

interface Settings {
  jobs: number
  runs: number
  claims: number[]
  dir: string
}

interface Sample {
  variant: string
  claim: number
  round: number
  jobs: number
  cpuUsPerJob: number
  wallUsPerJob: number
}

function readSettings(): Settings {
  const { values } = parseArgs({
    options: {
      jobs: { type: 'string', default: '10000' },
      runs: { type: 'string', default: '5' },
      claims: { type: 'string', default: '50,1' },
      dir: { type: 'string', default: resolve(repoRoot, '.tmp/queue-sqlite-sql') },
    },
  })
  const int = (name: string, value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be an integer >= 1; got ${value}`)
    return n
  }
  return {
    jobs: int('jobs', values.jobs),
    runs: int('runs', values.runs),
    claims: values.claims.split(',').map((c) => int('claims', c.trim())),
    dir: resolve(values.dir),
  }
}

const anything: StandardSchemaV1<unknown, unknown> = { '~standard': { version: 1, vendor: 'bench', validate: (value) => ({ value }) } }

/** Fills the template through afterwork itself, so rows, ids and indexes are the driver's. */
async function fillTemplate(path: string, jobs: number): Promise<void> {
  removeDb(path)
  const svc = createService({ name: 'bench', logger: silentLogger, queue: sqlite({ path }), worker: false })
  const task = svc.task('noop', { schema: anything }, async () => {})
  await svc.start()
  for (let i = 0; i < jobs; i += 1_000) await task.enqueueMany(Array.from({ length: Math.min(1_000, jobs - i) }, (_, k) => ({ i: i + k })))
  // Closing the last connection checkpoints the WAL into the file: one file to copy.
  await svc.stop()
}

function drainCopy(template: string, copy: string, variant: Variant, claim: number): { jobs: number; cpuUs: number; wallMs: number } {
  removeDb(copy)
  copyFileSync(template, copy)
  const db = new Database(copy)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma('journal_size_limit = 67108864')
  // IF EXISTS: migration 2 of the driver has since dropped both.
  if (variant.dropIndexes) db.exec('DROP INDEX IF EXISTS afterwork_jobs_state; DROP INDEX IF EXISTS afterwork_jobs_worker;')
  const candidates = db.prepare(Q.CLAIM_CANDIDATES)
  const claimByIds = db.prepare(Q.CLAIM_JOBS)
  const claimOne = db.prepare(ONE_STATEMENT_CLAIM)
  const succeeded = db.prepare(Q.COMPLETE_SUCCEEDED)
  const params = { queue: 'default', names: '["noop"]', workerId: 'bench:0' }
  let pending: { id: string }[] = []
  const complete = (now: number) => {
    const batch = pending
    pending = []
    db.transaction(() => {
      for (const row of batch) succeeded.run({ id: row.id, workerId: params.workerId, now, result: null })
    }).immediate()
  }
  let jobs = 0
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  for (;;) {
    const now = Date.now()
    const rows = db.transaction(() => {
      if (variant.oneStatement) return claimOne.all({ ...params, now, limit: claim, leaseUntil: now + 6_000 }) as { id: string }[]
      const found = candidates.all({ queue: params.queue, names: params.names, now, limit: claim * variant.factor }) as { id: string }[]
      if (found.length === 0) return []
      const ids = JSON.stringify(found.slice(0, claim).map((c) => c.id))
      return claimByIds.all({ ids, now, workerId: params.workerId, leaseUntil: now + 6_000 }) as { id: string }[]
    }).immediate()
    if (rows.length === 0) break
    jobs += rows.length
    pending.push(...rows)
    if (pending.length >= COMPLETION_BATCH) complete(now)
  }
  if (pending.length > 0) complete(Date.now())
  const wallMs = performance.now() - t0
  const cpu = process.cpuUsage(c0)
  const left = (db.prepare(`SELECT count(*) AS n FROM afterwork_jobs WHERE state <> 'succeeded'`).get() as { n: number }).n
  db.close()
  removeDb(copy)
  if (left !== 0) throw new Error(`${variant.label}: ${left} jobs not succeeded`)
  return { jobs, cpuUs: cpu.user + cpu.system, wallMs }
}

function fmt(s: Spread, digits: number): string {
  const n = (x: number) => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
  return `${n(s.median)} (${n(s.min)}–${n(s.max)})`
}

function report(samples: Sample[], s: Settings): string {
  const lines = [
    `### Claim + completion SQL per job, ${s.jobs.toLocaleString('en-US')} queued jobs, completions ${COMPLETION_BATCH} per transaction (median (min–max) of ${s.runs})`,
    '',
    '| claim size | variant | CPU µs/job | wall µs/job | jobs/s (wall) | CPU vs as is, paired |',
    '| --- | --- | --- | --- | --- | --- |',
  ]
  for (const claim of s.claims) {
    const asIs = samples.filter((x) => x.claim === claim && x.variant === 'as is')
    for (const v of variants) {
      const mine = samples.filter((x) => x.claim === claim && x.variant === v.label)
      const ratios = mine.map((x) => x.cpuUsPerJob / (asIs.find((a) => a.round === x.round) as Sample).cpuUsPerJob)
      lines.push(
        `| ${claim} | ${v.label} | ${fmt(spread(mine.map((x) => x.cpuUsPerJob)), 1)} | ${fmt(spread(mine.map((x) => x.wallUsPerJob)), 1)} | ${fmt(spread(mine.map((x) => 1e6 / x.wallUsPerJob)), 0)} | ${fmt(spread(ratios), 2)} |`,
      )
    }
  }
  return lines.join('\n')
}

async function main(): Promise<void> {
  const s = readSettings()
  mkdirSync(s.dir, { recursive: true })
  const template = `${s.dir}/template.db`
  const copy = `${s.dir}/run.db`
  process.stderr.write(`node ${process.version}; ${JSON.stringify(s)}\n`)
  await fillTemplate(template, s.jobs)
  const samples: Sample[] = []
  for (let round = 1; round <= s.runs; round++) {
    for (const claim of s.claims) {
      for (const v of variants) {
        const r = drainCopy(template, copy, v, claim)
        const sample = { variant: v.label, claim, round, jobs: r.jobs, cpuUsPerJob: r.cpuUs / r.jobs, wallUsPerJob: (r.wallMs * 1000) / r.jobs }
        samples.push(sample)
        process.stderr.write(`round ${round} claim ${claim} ${v.label}: ${sample.cpuUsPerJob.toFixed(1)} µs CPU/job, ${sample.wallUsPerJob.toFixed(1)} µs wall/job\n`)
      }
    }
  }
  removeDb(template)
  mkdirSync(resultsDir, { recursive: true })
  const date = new Date().toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')
  const file = `${resultsDir}queue-sqlite-sql-${date}.json`
  writeFileSync(file, `${JSON.stringify({ date, node: process.version, settings: s, samples }, null, 2)}\n`)
  process.stdout.write(`${report(samples, s)}\n`)
  process.stderr.write(`raw runs: ${file}\n`)
}

await main()
