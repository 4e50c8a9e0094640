import { spawn, type ChildProcess } from 'node:child_process'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { exitOf, repoRoot } from '../process.js'

const url = process.env.AFTERWORK_TEST_PG_URL
const schema = `aw_cron_${process.pid}_${Date.now().toString(36)}`
/** Real time, by necessity: the test is about processes and the wall clock. */
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function replica(): ChildProcess {
  return spawn(process.execPath, ['--conditions=afterwork-source', '--import', 'tsx', 'src/cli.ts', 'worker', 'test/fixtures/cron-service.ts'], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', PG_URL: url as string, PG_SCHEMA: schema },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
}

describe.skipIf(!url)('cluster cron on PostgreSQL', () => {
  const client = new pg.Client({ connectionString: url })
  afterAll(async () => {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {})
    await client.end()
  })

  it('fires every second exactly once across replicas while one is killed and another joins', async () => {
    await client.connect()
    const started = Date.now()
    const replicas = [replica(), replica(), replica()]
    let ended: number
    try {
      await pause(10_000)
      replicas[0]?.kill('SIGKILL')
      await pause(5_000)
      replicas.push(replica())
      await pause(15_000)
      ended = Date.now()
      for (const r of replicas.slice(1)) r.kill('SIGTERM')
      await Promise.all(replicas.slice(1).map(exitOf))
    } finally {
      // Also when something above failed: a live replica would keep vitest from exiting and hide the error.
      for (const r of replicas) r.kill('SIGKILL')
    }

    const slots = (await client.query(`SELECT slot::float8 AS slot FROM "${schema}".schedule_slots WHERE schedule = 'every-second' ORDER BY slot`))
      .rows as { slot: number }[]
    const fired = slots.map((r) => r.slot)
    expect(new Set(fired).size).toBe(fired.length)
    const from = Math.ceil((started + 3_000) / 1_000) * 1_000
    const to = Math.floor((ended - 3_000) / 1_000) * 1_000
    const missing: number[] = []
    for (let slot = from; slot <= to; slot += 1_000) if (!fired.includes(slot)) missing.push(slot)
    expect(missing).toEqual([])
    const jobs = (await client.query(`SELECT state, count(*)::int AS n FROM "${schema}".jobs GROUP BY state`)).rows as { state: string; n: number }[]
    expect(jobs.find((j) => j.state === 'failed')).toBeUndefined()
    console.log(`cluster cron: ${fired.length} slots fired, ${(to - from) / 1_000 + 1} checked, none missing, none twice`)
  }, 90_000)
})
