import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { freePort, spawnServer } from './process.js'

const dir = mkdtempSync(join(tmpdir(), 'afterwork-seed-durable-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

async function start(db: string) {
  const port = await freePort()
  return spawnServer('npm', ['start', '--silent'], { PORT: String(port), AFTERWORK_DB: db, REPORT_SECONDS: '1' })
}

describe('reference service: a durable report survives a crash', () => {
  it('is rescued after the lease and completed by the next process on the same SQLite file', async () => {
    const db = join(dir, 'afterwork.db')
    const first = await start(db)
    // A report that would take 1 s; the process is killed before it can finish.
    const res = await fetch(`${first.url}/reports/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ durable: true, region: 'emea' }),
    })
    expect(res.status).toBe(202)
    const { job_id: id } = (await res.json()) as { job_id: string }
    for (let i = 0; i < 100; i++) {
      const state = ((await (await fetch(`${first.url}/reports/${id}/status`)).json()) as { state: string }).state
      if (state === 'running') break
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const killedAt = performance.now()
    process.kill(first.pid, 'SIGKILL')
    await first.exited

    const second = await start(db)
    // Real time: the dead worker's lease (6 s) must run out before the job is taken back.
    let body: { status: string; result?: { params: object } } = { status: '' }
    for (let i = 0; i < 100 && body.status !== 'complete'; i++) {
      body = (await (await fetch(`${second.url}/reports/${id}/status`)).json()) as typeof body
      if (body.status !== 'complete') await new Promise((resolve) => setTimeout(resolve, 200))
    }
    expect(body).toMatchObject({ status: 'complete', state: 'succeeded', result: { params: { region: 'emea' } } })
    // It was running when the first process died, so it came back only through the lease.
    expect(performance.now() - killedAt).toBeGreaterThan(5_000)
    second.child.kill('SIGTERM')
    expect(await second.exited).toBe(0)
  }, 60_000)
})
