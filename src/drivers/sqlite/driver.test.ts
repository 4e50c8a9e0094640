import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import { uuidv7 } from '../../core/ids.js'
import { runDriverConformance } from '../conformance/suite.js'
import { sqlite } from './driver.js'

const dir = mkdtempSync(join(tmpdir(), 'afterwork-sqlite-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const pathOf = (key: string) => join(dir, `${key}.db`)

runDriverConformance('sqlite', {
  async open(key = uuidv7(Date.now())) {
    const driver = sqlite({ path: pathOf(key) })
    await driver.migrate()
    return driver
  },
  thread: (key) => ({ module: new URL('./driver.ts', import.meta.url).href, factory: 'sqlite', options: { path: pathOf(key) } }),
})

describe('sqlite write lock held by another process', () => {
  const job = (id: string) => ({ id, queue: 'default', name: 'mail', payload: '{}', priority: 0, runAt: 0, maxAttempts: 1 })

  it('waits for the lock without blocking the event loop, and enqueues once it is free', async () => {
    const path = pathOf(`locked-${uuidv7(Date.now())}`)
    const driver = sqlite({ path })
    await driver.migrate()
    const other = new Database(path)
    other.pragma('busy_timeout = 0')
    other.prepare('BEGIN IMMEDIATE').run()
    let settled = false
    const enqueue = driver.jobInsertMany({ jobs: [job('a')], now: 1 }).finally(() => (settled = true))
    // SQLite's busy handler would have slept this thread here; the event loop still turns instead.
    for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve))
    expect(settled).toBe(false)
    other.prepare('COMMIT').run()
    expect(await enqueue).toEqual([{ id: 'a', inserted: true }])
    other.close()
    await driver.close()
  })

  it('gives up with SQLITE_BUSY after busyTimeout, storing nothing', async () => {
    const path = pathOf(`busy-${uuidv7(Date.now())}`)
    const driver = sqlite({ path, busyTimeout: 20 })
    await driver.migrate()
    const other = new Database(path)
    other.prepare('BEGIN IMMEDIATE').run()
    await expect(driver.jobInsertMany({ jobs: [job('b')], now: 1 })).rejects.toMatchObject({ code: 'SQLITE_BUSY' })
    other.prepare('ROLLBACK').run()
    expect(await driver.jobGet({ id: 'b' })).toBeNull()
    other.close()
    await driver.close()
  })
})
