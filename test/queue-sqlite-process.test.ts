import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createService, silentLogger } from 'afterwork'
import { sqlite } from 'afterwork/sqlite'
import { afterAll, describe, expect, it } from 'vitest'
import { waitTask } from './fixtures/cancel-service.js'
import { repoRoot } from './process.js'

const dir = mkdtempSync(join(tmpdir(), 'afterwork-cancel-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Real time, by necessity (another process): polls a file with a bounded loop. */
async function waitForLine(file: string, pattern: RegExp): Promise<string> {
  for (let i = 0; i < 1_000; i++) {
    const line = existsSync(file) ? readFileSync(file, 'utf8').split('\n').find((l) => pattern.test(l)) : undefined
    if (line) return line
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`no line matching ${pattern} in ${file}`)
}

describe('durable queue across processes (SQLite)', () => {
  it('carries a cancel from this process to the handler signal in the worker process', async () => {
    const db = join(dir, 'queue.db')
    const log = join(dir, 'cancel.log')
    writeFileSync(log, '')
    const producer = createService({ logger: silentLogger, queue: sqlite({ path: db }), worker: false })
    const task = producer.task('wait-for-cancel', waitTask, async () => {})
    await producer.start()
    const { id } = await task.enqueue({})
    const worker = spawn(process.execPath, ['--conditions=afterwork-source', '--import', 'tsx', 'src/cli.ts', 'worker', 'test/fixtures/cancel-service.ts'], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '', CANCEL_DB: db, CANCEL_LOG: log },
      stdio: ['ignore', 'ignore', 'inherit'],
    })
    await waitForLine(log, new RegExp(`^started ${id}`))
    expect((await task.get(id))?.state).toBe('running')
    expect(await task.cancel(id)).toBe('cancelling')
    expect(await waitForLine(log, new RegExp(`^aborted ${id}`))).toBe(`aborted ${id} ERR_JOB_CANCELLED`)
    for (let i = 0; i < 200 && (await task.get(id))?.state !== 'cancelled'; i++) await new Promise((resolve) => setTimeout(resolve, 20))
    expect((await task.get(id))?.state).toBe('cancelled')
    worker.kill('SIGTERM')
    expect(await new Promise((resolve) => worker.once('exit', resolve))).toBe(0)
    await producer.stop()
  }, 30_000)
})
