import pg from 'pg'
import { afterAll, describe, expect, it, onTestFinished } from 'vitest'
import { runDriverConformance } from '../conformance/suite.js'
import { postgres } from './driver.js'

const url = process.env.AFTERWORK_TEST_PG_URL
const schemas = new Set<string>()
let next = 0
const prefix = `aw_test_${process.pid}_${Date.now().toString(36)}`

/** A schema of its own, dropped after the file. */
function freshSchema(): string {
  const schema = `${prefix}_${next++}`
  schemas.add(schema)
  return schema
}

if (!url) {
  describe('QueueDriver conformance: postgres', () => {
    it.skip('skipped: AFTERWORK_TEST_PG_URL is not set', () => {})
  })
} else {
  afterAll(async () => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await client.end()
  })
  const keyed = new Map<string, string>()
  runDriverConformance('postgres', {
    async open(key) {
      let schema = key === undefined ? undefined : keyed.get(key)
      if (schema === undefined) {
        schema = freshSchema()
        if (key !== undefined) keyed.set(key, schema)
      }
      // Test pools stay small: PostgreSQL allows 100 connections in all.
      const driver = postgres({ url, schema, max: 2 })
      await driver.migrate()
      return driver
    },
  })

  describe('jobClaim (postgres)', () => {
    it.each([
      ['unkeyed', null],
      ['concurrency-keyed', 'tenant-1'],
    ])('walks the claim index instead of sorting every pending row when statistics predate a bulk insert (issue 7): %s jobs', async (_, key) => {
      const { driver, plans, sql } = await explainedDriver()
      // Analyzed while nearly every job had finished: the statistics say almost nothing is pending.
      await sql(`INSERT INTO jobs (id, queue, name, payload, state, priority, max_attempts, run_at, created_at, concurrency_key, concurrency_limit)
        SELECT 'a' || lpad(g::text, 6, '0'), 'default', 'noop', '{}', CASE WHEN g % 1000 = 0 THEN 'queued' ELSE 'succeeded' END, 0, 3, g, 0, $1, 1000
        FROM generate_series(1, 10000) g`, [key])
      await sql('ANALYZE jobs')
      await sql(`INSERT INTO jobs (id, queue, name, payload, state, priority, max_attempts, run_at, created_at)
        SELECT 'b' || lpad(g::text, 6, '0'), 'default', 'noop', '{}', 'queued', 0, 3, 20000 + g, 0 FROM generate_series(1, 200000) g`)
      plans.length = 0
      const claimed = await driver.jobClaim({ queue: 'default', names: ['noop'], workerId: 'w1', limit: 50, lease: 60_000 })
      const oldest = Array.from({ length: 10 }, (_, i) => `a${String((i + 1) * 1000).padStart(6, '0')}`)
      const next40 = Array.from({ length: 40 }, (_, i) => `b${String(i + 1).padStart(6, '0')}`)
      expect(claimed.map((r) => r.id)).toEqual([...oldest, ...next40])
      const lockings = plans.flatMap(planNodes).filter((node) => node['Node Type'] === 'LockRows')
      expect(lockings.length).toBeGreaterThan(0)
      for (const locking of lockings) expect(locking.Plans?.[0]).toMatchObject({ 'Node Type': 'Index Scan', 'Index Name': 'jobs_claim' })
    })
  })
}

interface PlanNode {
  'Node Type': string
  'Index Name'?: string
  Plans?: PlanNode[]
}

function planNodes(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(planNodes)]
}

/**
 * A migrated driver on a one-connection pool that reports, through auto_explain, the plan of
 * every statement it runs (statements inside functions too), and a `sql` runner for its schema on
 * that same connection. The table is never analyzed behind the test's back.
 */
async function explainedDriver() {
  const schema = freshSchema()
  const pool = new pg.Pool({ connectionString: url, max: 1 })
  const plans: PlanNode[] = []
  const setup: Promise<unknown>[] = []
  pool.on('connect', (client) => {
    client.on('notice', (notice) => {
      const at = notice.message?.indexOf('plan:\n') ?? -1
      if (at >= 0) plans.push((JSON.parse(notice.message?.slice(at + 6) as string) as { Plan: PlanNode }).Plan)
    })
    setup.push(
      client.query(`LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_level = notice;
        SET auto_explain.log_nested_statements = on; SET auto_explain.log_format = json`),
    )
  })
  const driver = postgres({ pool, schema })
  onTestFinished(async () => {
    await driver.close()
    await pool.end()
  })
  await driver.migrate()
  await Promise.all(setup)
  await pool.query(`ALTER TABLE "${schema}".jobs SET (autovacuum_enabled = false)`)
  const sql = (text: string, values?: unknown[]) => pool.query(text.replaceAll(/\bjobs\b/g, `"${schema}".jobs`), values)
  return { driver, plans, sql }
}
