import { createServer, type AddressInfo, type Socket } from 'node:net'
import pg from 'pg'
import { afterAll, describe, expect, it, onTestFinished } from 'vitest'
import { runDriverConformance } from '../conformance/suite.js'
import type { JobInsert, JobRow, QueueDriver } from '../../queue/driver.js'
import { postgres } from './driver.js'

const url = process.env.AFTERWORK_TEST_PG_URL
const schemas = new Set<string>()
let next = 0
const prefix = `aw_test_${process.pid}_${Date.now().toString(36)}`
const T0 = Date.parse('2026-03-01T00:00:00Z')

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
      ['unkeyed jobs, statistics of a table of finished jobs', 10_000, null, ['one statement']],
      ['concurrency-keyed jobs, statistics of a table of finished jobs', 10_000, 'tenant-1', ['one statement', 'transaction']],
      ['unkeyed jobs, statistics of an empty table', 0, null, ['one statement']],
    ])('walks the claim index instead of sorting every pending row when statistics predate a bulk insert (issue 7): %s', async (_, finished, key, path) => {
      const { driver, plans, statements, sql } = await observedDriver({ explain: true })
      // Analyzed while (nearly) every job had finished: the statistics say almost nothing is pending.
      await sql(`INSERT INTO jobs (id, queue, name, payload, state, priority, max_attempts, run_at, created_at, concurrency_key, concurrency_limit)
        SELECT 'a' || lpad(g::text, 6, '0'), 'default', 'noop', '{}', CASE WHEN g % 1000 = 0 THEN 'queued' ELSE 'succeeded' END, 0, 3, g, 0, $1, 1000
        FROM generate_series(1, $2) g`, [key, finished])
      await sql('ANALYZE jobs')
      // Claims before the burst: a plan they left cached would be one for a table with nothing pending.
      const claim = (limit: number) => driver.jobClaim({ queue: 'default', names: ['noop'], workerId: 'w1', limit, lease: 60_000 })
      for (let i = 0; i < 6; i++) await claim(2)
      await sql(`INSERT INTO jobs (id, queue, name, payload, state, priority, max_attempts, run_at, created_at, concurrency_key, concurrency_limit)
        SELECT 'b' || lpad(g::text, 6, '0'), 'default', 'noop', '{}', 'queued', 0, 3, 20000 + g, 0, $1, 1000 FROM generate_series(1, 200000) g`, [key])
      plans.length = 0
      statements.length = 0
      const claimed = await claim(50)
      expect(claimPath(statements)).toEqual(path)
      expect(claimed.map((r) => r.id)).toEqual(Array.from({ length: 50 }, (_, i) => `b${String(i + 1).padStart(6, '0')}`))
      const nodes = plans.flatMap(planNodes)
      const lockings = nodes.filter((node) => node['Node Type'] === 'LockRows')
      expect(lockings.length).toBeGreaterThan(0)
      for (const locking of lockings) expect(locking.Plans?.[0]).toMatchObject({ 'Node Type': 'Index Scan', 'Index Name': 'jobs_claim' })
      // Nothing else reads the table but through an index (the UPDATE finds the claimed rows by id).
      const scans = nodes.filter((node) => node['Relation Name'] === 'jobs' && node['Node Type'].endsWith('Scan'))
      expect(scans.filter((node) => !node['Node Type'].startsWith('Index'))).toEqual([])
    })

    it('claims jobs without keys in one statement, in the order and with the fields the keyed claim gives them', async () => {
      const { driver, statements, sql } = await observedDriver()
      // The same jobs in two queues; in `keyed` a concurrency-keyed job heads the line, so its claim
      // takes the transaction. Ties on priority and run time fall to the id.
      const specs = [
        { n: 1, priority: 0, runAt: T0 - 2 },
        { n: 2, priority: 5, runAt: T0 },
        { n: 3, priority: 0, runAt: T0 - 5 },
        { n: 4, priority: 0, runAt: T0 - 5 },
        { n: 5, priority: 9, runAt: T0 + 1 },
        { n: 6, priority: 1, runAt: T0 - 1 },
      ]
      for (const queue of ['plain', 'keyed']) {
        await driver.jobInsertMany({ jobs: specs.map((j) => ({ ...j, id: `${queue}-${j.n}`, queue, name: 'n', payload: `{"n":${j.n}}`, maxAttempts: 5 })), now: T0 - 10 })
      }
      await driver.jobInsertMany({
        jobs: [{ id: 'keyed-0', queue: 'keyed', name: 'n', payload: '{}', priority: 10, runAt: T0, maxAttempts: 5, concurrencyKey: 'tenant', concurrencyLimit: 5 }],
        now: T0 - 10,
      })
      // A job on its third attempt, waiting to retry.
      await sql(`UPDATE jobs SET state = 'retrying', attempt = 2 WHERE id IN ('plain-6', 'keyed-6')`)
      const claim = (queue: string, limit: number) => driver.jobClaim({ queue, names: ['n'], workerId: 'w1', limit, lease: 6_000, now: T0 })

      statements.length = 0
      const plain = await claim('plain', 4)
      expect(statements).toHaveLength(1)
      expect(claimPath(statements)).toEqual(['one statement'])
      statements.length = 0
      const keyed = await claim('keyed', 5)
      // The one statement meets the key and claims nothing; the transaction claims.
      expect(claimPath(statements)).toEqual(['one statement', 'transaction'])

      const asPlain = ({ id, queue, ...rest }: JobRow) => ({ id: id.replace(`${queue}-`, ''), ...rest })
      expect(keyed[0]?.id).toBe('keyed-0')
      expect(plain.map(asPlain)).toEqual(keyed.slice(1).map(asPlain))
      expect(plain.map((r) => r.id)).toEqual(['plain-2', 'plain-6', 'plain-3', 'plain-4'])
      expect(plain[1]).toMatchObject({ state: 'running', attempt: 3, startedAt: T0, workerId: 'w1', leaseUntil: T0 + 6_000, finishedAt: null })
    })

    it('goes back to one statement once a queue has no keyed job among its candidates', async () => {
      const { driver, statements } = await observedDriver()
      const jobs = [0, 1, 2].map((n) => ({ id: `j-${n}`, queue: 'default', name: 'n', payload: '{}', priority: 0, runAt: T0 + n, maxAttempts: 1 }))
      await driver.jobInsertMany({ jobs: [{ ...(jobs[0] as JobInsert), rateKey: 'api', rateLimit: 10, ratePer: 1_000 }, ...jobs.slice(1)], now: T0 })
      const claim = async () => {
        statements.length = 0
        const ids = (await driver.jobClaim({ queue: 'default', names: ['n'], workerId: 'w1', limit: 1, lease: 6_000, now: T0 + 10 })).map((r) => r.id)
        return { ids, path: claimPath(statements) }
      }
      expect(await claim()).toEqual({ ids: ['j-0'], path: ['one statement', 'transaction'] })
      // Straight to the transaction, which finds no key left among its candidates.
      expect(await claim()).toEqual({ ids: ['j-1'], path: ['transaction'] })
      expect(await claim()).toEqual({ ids: ['j-2'], path: ['one statement'] })
    })

    it('stamps both claims with the database clock when no now is given', async () => {
      const { driver, sql } = await observedDriver()
      const job = (id: string, extra: Partial<JobInsert> = {}): JobInsert => ({ id, queue: 'default', name: 'n', payload: '{}', priority: 0, runAt: 0, maxAttempts: 1, ...extra })
      // The first claim takes `plain` in one statement, the second meets the key and takes `keyed` in the transaction.
      await driver.jobInsertMany({ jobs: [job('plain', { priority: 1 }), job('keyed', { concurrencyKey: 'tenant', concurrencyLimit: 1 })] })
      const clock = async () => Number(((await sql(`SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint AS now`)).rows[0] as { now: string }).now)
      const before = await clock()
      const claimed = [
        ...(await driver.jobClaim({ queue: 'default', names: ['n'], workerId: 'w1', limit: 1, lease: 6_000 })),
        ...(await driver.jobClaim({ queue: 'default', names: ['n'], workerId: 'w1', limit: 1, lease: 6_000 })),
      ]
      const after = await clock()
      expect(claimed.map((r) => r.id)).toEqual(['plain', 'keyed'])
      for (const row of claimed) {
        expect(row.startedAt).toBeGreaterThanOrEqual(before)
        expect(row.startedAt).toBeLessThanOrEqual(after)
        expect(row.leaseUntil).toBe((row.startedAt as number) + 6_000)
      }
    })

    it("turns synchronous_commit off for the claim's own transaction only, leaving the pool connection's setting as it was (issue 7)", async () => {
      const { driver, sql, statements } = await observedDriver()
      const job = (id: string, extra: Partial<JobInsert> = {}): JobInsert => ({ id, queue: 'default', name: 'n', payload: '{}', priority: 0, runAt: T0, maxAttempts: 1, ...extra })
      await driver.jobInsertMany({ jobs: [job('plain', { priority: 1 }), job('keyed', { concurrencyKey: 'tenant', concurrencyLimit: 1 })], now: T0 })
      const claim = () => driver.jobClaim({ queue: 'default', names: ['n'], workerId: 'w1', limit: 1, lease: 6_000, now: T0 })
      statements.length = 0
      expect((await claim()).map((r) => r.id)).toEqual(['plain'])
      // The one-statement claim sets it inside claim_unkeyed(), for its own transaction only.
      expect(((await sql('SHOW synchronous_commit')).rows[0] as { synchronous_commit: string }).synchronous_commit).toBe('on')
      expect((await claim()).map((r) => r.id)).toEqual(['keyed'])
      expect(statements.filter((s) => s.startsWith('BEGIN'))).toEqual([expect.stringContaining('SET LOCAL synchronous_commit = off')])
      expect(((await sql('SHOW synchronous_commit')).rows[0] as { synchronous_commit: string }).synchronous_commit).toBe('on')
    })
  })

  describe('jobInsertMany (postgres)', () => {
    const job = (id: string, queue: string, extra: Partial<JobInsert> = {}): JobInsert => ({ id, queue, name: 'n', payload: '{}', priority: 0, runAt: T0, maxAttempts: 1, ...extra })

    it('inserts without tx in one statement that wakes each queue once', async () => {
      const { driver, statements } = await observedDriver()
      const wakes = await listenTo(driver)
      statements.length = 0
      const results = await driver.jobInsertMany({ jobs: [job('a', 'emails'), job('b', 'emails'), job('c', 'reports')], now: T0 })
      expect(results.map((r) => r.inserted)).toEqual([true, true, true])
      expect(statements).toHaveLength(1)
      await wakes.until('emails')
      await wakes.until('reports')
      expect(wakes.seen.toSorted()).toEqual(['emails', 'reports'])
    })

    it("wakes listeners of a job enqueued in the caller's transaction only when it commits", async () => {
      const { driver, schema, sql } = await observedDriver()
      const wakes = await listenTo(driver)
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      onTestFinished(() => client.end())
      await client.query('BEGIN')
      await driver.jobInsertMany({ jobs: [job('a', 'emails')], now: T0, tx: client })
      // Committed after the insert: a wake-up for the job sent before its commit would arrive first.
      await sql('SELECT pg_notify($1, $2)', [`afterwork_${schema}`, 'marker'])
      await wakes.until('marker')
      expect(wakes.seen).toEqual(['marker'])
      await client.query('COMMIT')
      await wakes.until('emails')
      expect(wakes.seen).toEqual(['marker', 'emails'])
      expect((await driver.jobGet({ id: 'a' }))?.state).toBe('queued')
    })

    it('sends the enqueue and the claim as statements prepared once per connection (issue 7)', async () => {
      const { driver, statements, names, sql } = await observedDriver()
      const sent = () => statements.map((text, i) => ({ text, name: names[i] }))
      statements.length = 0
      names.length = 0
      await driver.jobInsertMany({ jobs: [job('a', 'emails'), job('b', 'emails')], now: T0 })
      await driver.jobClaim({ queue: 'emails', names: ['n'], workerId: 'w1', limit: 1, lease: 6_000, now: T0 })
      await driver.jobInsertMany({ jobs: [job('c', 'emails')], now: T0 })
      await driver.jobClaim({ queue: 'emails', names: ['n'], workerId: 'w1', limit: 1, lease: 6_000, now: T0 })
      await driver.jobInsertMany({ jobs: [job('d', 'emails')], now: T0 })
      await driver.jobInsertMany({ jobs: [job('e', 'emails'), job('f', 'emails')], now: T0 })
      const [batch, claim, single, claimAgain, singleAgain, batchAgain] = sent()
      // A batch and a single enqueue each have their statement.
      for (const s of [batch, claim, single]) expect(s?.name).toMatch(/^afterwork_[0-9a-f]{24}$/)
      expect(new Set([batch?.name, claim?.name, single?.name]).size).toBe(3)
      expect([claimAgain, singleAgain, batchAgain]).toEqual([claim, single, batch])
      // Prepared on the pool's one connection, where the test's own queries run too.
      const prepared = (await sql('SELECT name FROM pg_prepared_statements ORDER BY name')).rows as { name: string }[]
      expect(prepared.map((r) => r.name)).toEqual([batch?.name, claim?.name, single?.name].toSorted())
      expect(await driver.jobGet({ id: 'd' })).toMatchObject({ id: 'd', queue: 'emails', state: 'queued', createdAt: T0, runAt: T0 })
    })

    it('stores nothing of a batch with a taken id, and names that id', async () => {
      const { driver } = await observedDriver()
      await driver.jobInsertMany({ jobs: [job('a', 'emails')], now: T0 })
      await expect(driver.jobInsertMany({ jobs: [job('b', 'emails'), job('a', 'emails')], now: T0 })).rejects.toThrow(/^Job a was not inserted/)
      expect(await driver.jobGet({ id: 'b' })).toBeNull()
      // One job alone takes the single-job statement: the same answer.
      await expect(driver.jobInsertMany({ jobs: [job('a', 'emails')], now: T0 })).rejects.toThrow(/^Job a was not inserted/)
    })

    it('keeps a batch with unique keys in one transaction and reports the live holder', async () => {
      const { driver, statements } = await observedDriver()
      await driver.jobInsertMany({ jobs: [job('a', 'emails', { uniqueKey: 'digest' })], now: T0 })
      statements.length = 0
      const results = await driver.jobInsertMany({ jobs: [job('b', 'emails'), job('c', 'emails', { uniqueKey: 'digest' })], now: T0 })
      expect(results).toEqual([{ id: 'b', inserted: true }, { id: 'c', inserted: false, conflictId: 'a' }])
      expect([statements[0], statements.at(-1)]).toEqual(['BEGIN', 'COMMIT'])
    })
  })

  describe('listen (postgres)', () => {
    it("connects with the caller's pool settings when given a pool and no url", async () => {
      const schema = freshSchema()
      const applicationName = `aw_listen_${process.pid}_${next}`
      const pool = new pg.Pool({ connectionString: url, max: 1, application_name: applicationName })
      const errors: unknown[] = []
      const driver = postgres({ pool, schema, onError: (error) => errors.push(error) })
      onTestFinished(async () => {
        await driver.close()
        await pool.end()
      })
      await driver.migrate()
      const wakes = await listenTo(driver)
      const listening = await pool.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`, [applicationName])
      expect((listening.rows[0] as { n: number }).n).toBe(1)
      await driver.jobInsertMany({ jobs: [{ id: 'a', queue: 'emails', name: 'n', payload: '{}', priority: 0, runAt: T0, maxAttempts: 1 }], now: T0 })
      await wakes.until('emails')
      expect(errors).toEqual([])
    })
  })

  describe('jobCompleteMany (postgres)', () => {
    it('finds a batch of succeeded jobs through the primary key, not the lease index or the table (issue 7)', async () => {
      const { driver, plans, sql } = await observedDriver({ explain: true })
      // Statistics of an empty table, then a bulk insert: the planner thinks the table is tiny.
      await sql('ANALYZE jobs')
      await sql(`INSERT INTO jobs (id, queue, name, payload, state, priority, max_attempts, run_at, created_at)
        SELECT lpad(g::text, 6, '0'), 'default', 'noop', '{}', 'queued', 0, 3, g, 0 FROM generate_series(1, 20000) g`)
      const claim = () => driver.jobClaim({ queue: 'default', names: ['noop'], workerId: 'w1', limit: 100, lease: 60_000 })
      // Claimed and finished batches leave dead entries in jobs_lease (no vacuum runs here).
      for (let i = 0; i < 20; i++) {
        const rows = await claim()
        await driver.jobCompleteMany({ workerId: 'w1', completions: rows.map((r) => ({ id: r.id, outcome: 'succeeded' as const, result: null })) })
      }
      const rows = await claim()
      plans.length = 0
      await driver.jobCompleteMany({ workerId: 'w1', completions: rows.map((r) => ({ id: r.id, outcome: 'succeeded' as const, result: '1' })) })
      const scans = plans.flatMap(planNodes).filter((node) => node['Relation Name'] === 'jobs' && node['Node Type'].endsWith('Scan'))
      expect(scans.length).toBeGreaterThan(0)
      for (const scan of scans) expect(scan).toMatchObject({ 'Node Type': 'Index Scan', 'Index Name': 'jobs_pkey' })
      const counts = await sql(`SELECT state, count(*)::int AS n, count(result)::int AS results FROM jobs GROUP BY state ORDER BY state`)
      expect(counts.rows).toEqual([
        { state: 'queued', n: 17_900, results: 0 },
        { state: 'succeeded', n: 2_100, results: 100 },
      ])
    })

    it('clears worker_id with every change that ends a run: a row is a worker\'s only while it runs (complete_succeeded relies on it)', async () => {
      const { driver, sql } = await observedDriver()
      const ids = ['ok', 'retry', 'fail', 'cancel', 'snooze', 'release', 'expire', 'cancelling']
      await driver.jobInsertMany({ jobs: ids.map((id) => ({ id, queue: 'default', name: 'noop', payload: '{}', priority: 0, runAt: T0, maxAttempts: 3 })), now: T0 })
      expect(await driver.jobClaim({ queue: 'default', names: ['noop'], workerId: 'w1', limit: ids.length, lease: 1_000, now: T0 })).toHaveLength(ids.length)
      const error = { name: 'Error', message: 'no' }
      await driver.jobCompleteMany({
        workerId: 'w1',
        now: T0 + 10,
        completions: [
          { id: 'ok', outcome: 'succeeded', result: null },
          { id: 'retry', outcome: 'failed', error, retryAt: T0 + 60_000 },
          { id: 'fail', outcome: 'failed', error },
          { id: 'cancel', outcome: 'cancelled', error },
          { id: 'snooze', outcome: 'snoozed', runAt: T0 + 60_000 },
          { id: 'release', outcome: 'released' },
        ],
      })
      await driver.jobCancel({ id: 'cancelling', now: T0 + 20 })
      // Both leases ran out: the rescue takes back the running job and ends the cancelling one.
      expect(await driver.jobRescue({ now: T0 + 5_000 })).toBe(2)
      const rows = await sql(`SELECT id, state, worker_id FROM jobs ORDER BY id`)
      expect(Object.fromEntries(rows.rows.map((r: { id: string; state: string; worker_id: string | null }) => [r.id, [r.state, r.worker_id]]))).toEqual({
        ok: ['succeeded', null],
        retry: ['retrying', null],
        fail: ['failed', null],
        cancel: ['cancelled', null],
        snooze: ['scheduled', null],
        release: ['queued', null],
        expire: ['queued', null],
        cancelling: ['cancelled', null],
      })
    })

    it('writes an outcome only for a job the worker still holds', async () => {
      const { driver, sql } = await observedDriver()
      await driver.jobInsertMany({ jobs: ['a', 'b'].map((id) => ({ id, queue: 'default', name: 'noop', payload: '{}', priority: 0, runAt: T0, maxAttempts: 3 })), now: T0 })
      await driver.jobClaim({ queue: 'default', names: ['noop'], workerId: 'w1', limit: 2, lease: 60_000, now: T0 })
      // b's lease ran out and another worker took it.
      await sql(`UPDATE jobs SET worker_id = 'w2' WHERE id = 'b'`)
      await driver.jobCompleteMany({ workerId: 'w1', completions: ['a', 'b'].map((id) => ({ id, outcome: 'succeeded' as const, result: null })) })
      const rows = await sql(`SELECT id, state, worker_id FROM jobs ORDER BY id`)
      expect(rows.rows).toEqual([
        { id: 'a', state: 'succeeded', worker_id: null },
        { id: 'b', state: 'running', worker_id: 'w2' },
      ])
    })
  })

  describe('jobPrune (postgres)', () => {
    it('finds old finished jobs through jobs_finished and deletes them by id, without scanning the table', async () => {
      const { driver, plans, sql } = await observedDriver({ explain: true })
      await sql(`INSERT INTO jobs (id, queue, name, payload, state, priority, max_attempts, run_at, created_at, finished_at)
        SELECT lpad(g::text, 6, '0'), 'default', 'noop', '{}', CASE WHEN g <= 30000 THEN 'succeeded' ELSE 'queued' END, 0, 3, g, 0,
          CASE WHEN g <= 30000 THEN g END
        FROM generate_series(1, 40000) g`)
      await sql('ANALYZE jobs')
      plans.length = 0
      expect(await driver.jobPrune({ before: 15_000, limit: 1_000 })).toBe(1_000)
      const scans = plans.flatMap(planNodes).filter((node) => node['Relation Name'] === 'jobs' && node['Node Type'].endsWith('Scan'))
      expect(scans.map((node) => [node['Node Type'], node['Index Name']]).toSorted()).toEqual([
        ['Index Scan', 'jobs_finished'],
        ['Index Scan', 'jobs_pkey'],
      ])
      expect(((await sql(`SELECT count(*)::int AS n FROM jobs WHERE state = 'succeeded'`)).rows[0] as { n: number }).n).toBe(29_000)
    })
  })

  describe('jobCompleteMany (postgres)', () => {
    it('writes an all-succeeded batch in one statement and a mixed batch in one transaction', async () => {
      const { driver, statements } = await observedDriver()
      await driver.jobInsertMany({ jobs: [1, 2, 3].map((n) => ({ id: `j-${n}`, queue: 'default', name: 'n', payload: '{}', priority: 0, runAt: T0, maxAttempts: 1 })), now: T0 })
      await driver.jobClaim({ queue: 'default', names: ['n'], workerId: 'w1', limit: 3, lease: 6_000, now: T0 })
      statements.length = 0
      await driver.jobCompleteMany({ workerId: 'w1', completions: [{ id: 'j-1', outcome: 'succeeded', result: '1' }, { id: 'j-2', outcome: 'succeeded', result: null }], now: T0 + 1 })
      expect(statements).toHaveLength(1)
      statements.length = 0
      await driver.jobCompleteMany({ workerId: 'w1', completions: [{ id: 'j-3', outcome: 'failed', error: { name: 'Error', message: 'boom' } }], now: T0 + 2 })
      expect([statements[0], statements.at(-1)]).toEqual(['BEGIN', 'COMMIT'])
      expect((await driver.jobList({ limit: 10 })).map((r) => [r.id, r.state, r.result, r.finishedAt])).toEqual([
        ['j-3', 'failed', null, T0 + 2],
        ['j-2', 'succeeded', null, T0 + 1],
        ['j-1', 'succeeded', '1', T0 + 1],
      ])
    })
  })
}

/** How a claim ran, from the statements it sent: the one-statement claim, the claim transaction, or both. */
function claimPath(statements: readonly string[]): string[] {
  return statements.flatMap((s) => (s.includes('claim_unkeyed(') ? ['one statement'] : s.startsWith('BEGIN') ? ['transaction'] : []))
}

interface PlanNode {
  'Node Type': string
  'Relation Name'?: string
  'Index Name'?: string
  Plans?: PlanNode[]
}

function planNodes(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(planNodes)]
}

/**
 * A migrated driver on a one-connection pool of its own schema that records the text of every
 * statement it sends, a `sql` runner for that schema on the same connection, and with `explain`,
 * the plans auto_explain reports for those statements (statements inside functions too). The jobs
 * table is never analyzed behind the test's back.
 */
async function observedDriver(opts: { explain?: boolean } = {}) {
  const schema = freshSchema()
  const pool = new pg.Pool({ connectionString: url, max: 1 })
  const plans: PlanNode[] = []
  const statements: string[] = []
  /** The name each statement was prepared under, by its place in `statements` (undefined: unnamed). */
  const names: (string | undefined)[] = []
  const setup: Promise<unknown>[] = []
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown
    client.query = ((...args: unknown[]) => {
      statements.push(typeof args[0] === 'string' ? args[0] : (args[0] as { text: string }).text)
      names.push(typeof args[0] === 'string' ? undefined : (args[0] as { name?: string }).name)
      return query(...args)
    }) as typeof client.query
    if (!opts.explain) return
    client.on('notice', (notice) => {
      const at = notice.message?.indexOf('plan:\n') ?? -1
      if (at >= 0) plans.push((JSON.parse(notice.message?.slice(at + 6) as string) as { Plan: PlanNode }).Plan)
    })
    setup.push(
      query(`LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_level = notice;
        SET auto_explain.log_nested_statements = on; SET auto_explain.log_format = json`) as Promise<unknown>,
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
  return { driver, schema, plans, statements, names, sql }
}

/** Listens through the driver and records each wake-up; `until(queue)` resolves once that queue was woken. */
async function listenTo(driver: QueueDriver<unknown>) {
  const seen: string[] = []
  const waiting = new Map<string, () => void>()
  const controller = new AbortController()
  onTestFinished(() => controller.abort())
  await driver.listen?.({
    signal: controller.signal,
    onWake: (queue) => {
      seen.push(queue)
      waiting.get(queue)?.()
    },
  })
  const until = (queue: string) => (seen.includes(queue) ? Promise.resolve() : new Promise<void>((resolve) => waiting.set(queue, resolve)))
  return { seen, until }
}

describe('postgres() options', () => {
  it('gives up a connection the database never answers after connectTimeout, instead of waiting forever', async () => {
    // A server that accepts connections and never says a word: a database behind a dead network.
    const sockets: Socket[] = []
    const silent = createServer((socket) => void sockets.push(socket))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const { port } = silent.address() as AddressInfo
    const d = postgres({ url: `postgres://nobody@127.0.0.1:${port}/none`, connectTimeout: '200ms', max: 1 })
    try {
      await expect(d.migrate()).rejects.toThrow(/timeout/i)
    } finally {
      await d.close()
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => silent.close(resolve))
    }
  })

  it('refuses a schema that is not a lower-case identifier, and a missing url, as ERR_INVALID_OPTION', () => {
    expect(() => postgres({ url: 'postgres://127.0.0.1/none', schema: 'Jobs; drop' })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('postgres schema must be a lower-case SQL identifier') }),
    )
    expect(() => postgres({})).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('postgres url') }))
  })
})
