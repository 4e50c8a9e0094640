import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createService, silentLogger } from 'afterwork'
import { sqlite } from 'afterwork/sqlite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { emailTask, reportTask } from './fixtures/cli-service.js'
import { execute, repoRoot, type Executed } from './process.js'

const dir = mkdtempSync(join(tmpdir(), 'afterwork-cli-'))
const db = join(dir, 'queue.db')

/** Runs `afterwork <args>` from the source, as `npm run afterwork` does, in its own process. */
function cli(...args: string[]): Promise<Executed> {
  const env = { PATH: process.env.PATH ?? '', CLI_DB: db }
  return execute(process.execPath, ['--conditions=afterwork-source', '--import', 'tsx', 'src/cli.ts', ...args], { cwd: repoRoot, env, timeoutMs: 60_000 })
}

describe('the afterwork command', () => {
  beforeAll(async () => {
    const producer = createService({ logger: silentLogger, queue: sqlite({ path: db }), worker: false })
    const email = producer.task('email', emailTask, async () => {})
    const report = producer.task('report', reportTask, async () => {})
    await producer.start()
    await email.enqueueMany([{ to: 'ada@example.com' }, { to: 'grace@example.com' }, { to: 'alan@example.com' }])
    await report.enqueue({ month: '2026-11' }, { delay: '1h' })
    await producer.stop()
  }, 30_000)
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('queues: counts jobs by queue, task and state, as JSON and as a table', async () => {
    const [json, table] = await Promise.all([cli('queues', 'test/fixtures/cli-service.ts', '--json'), cli('queues', 'test/fixtures/cli-service.ts')])
    expect(json.stderr).toBe('')
    expect(json.code).toBe(0)
    expect(JSON.parse(json.stdout)).toEqual(
      expect.arrayContaining([
        { queue: 'default', name: 'email', state: 'queued', count: 3 },
        { queue: 'reports', name: 'report', state: 'scheduled', count: 1 },
      ]),
    )
    expect(table.code).toBe(0)
    const lines = table.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^queue\s+task\s+scheduled\s+queued\s+running/)
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 4))).toEqual(
      expect.arrayContaining([
        ['default', 'email', '0', '3'],
        ['reports', 'report', '1', '0'],
      ]),
    )
  })

  it('jobs: lists jobs, filtered by state, task and limit, as JSON and as a table', async () => {
    const [queued, limited, reports] = await Promise.all([
      cli('jobs', 'test/fixtures/cli-service.ts', '--state', 'queued', '--json'),
      cli('jobs', 'test/fixtures/cli-service.ts', '--limit', '2', '--json'),
      cli('jobs', 'test/fixtures/cli-service.ts', '--name', 'report'),
    ])
    expect(queued.code).toBe(0)
    const jobs = JSON.parse(queued.stdout) as { name: string; state: string; createdAt: string }[]
    expect(jobs.map((j) => [j.name, j.state])).toEqual([['email', 'queued'], ['email', 'queued'], ['email', 'queued']])
    expect((JSON.parse(limited.stdout) as unknown[]).length).toBe(2)
    expect(reports.code).toBe(0)
    expect(reports.stdout).toMatch(/^id\s+task\s+state\s+attempt\s+created\s+error\n\S+\s+report\s+scheduled\s+/)
  })

  it('migrate: brings the schema up to date', async () => {
    const r = await cli('migrate', 'test/fixtures/cli-service.ts')
    expect(r).toMatchObject({ code: 0, stdout: 'afterwork: the sqlite queue schema is up to date\n' })
  })

  it('refuses what it cannot run, with exit code 2 (usage) or 1 (the module), and says why', async () => {
    const [none, unknown, noModule, notService, help] = await Promise.all([
      cli(),
      cli('launch', 'x.ts'),
      cli('jobs'),
      cli('jobs', 'test/fixtures/not-a-service.ts'),
      cli('--help'),
    ])
    expect(none).toMatchObject({ code: 2, stdout: expect.stringMatching(/^Usage: afterwork/) })
    expect(unknown).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown command "launch"') })
    expect(noModule).toMatchObject({ code: 2, stderr: expect.stringContaining('name the module whose default export is the Service') })
    expect(notService).toMatchObject({ code: 1, stderr: expect.stringContaining('has no Service as its default export') })
    expect(help).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Usage: afterwork/) })
  })
})
