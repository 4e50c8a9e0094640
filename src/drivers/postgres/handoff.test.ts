import pg from 'pg'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { z } from 'zod'
import { deferred } from '../../core/deferred.js'
import { silentLogger } from '../../core/logger.js'
import type { JobRow, QueueDriver } from '../../queue/driver.js'
import type { WorkerOptions } from '../../queue/worker.js'
import { createService } from '../../service.js'
import { waitForEvent } from '../../testing/wait-for-event.js'
import { postgres } from './driver.js'

const url = process.env.AFTERWORK_TEST_PG_URL
const prefix = `aw_handoff_${process.pid}_${Date.now().toString(36)}`
const schemas: string[] = []

/** A job's row as stored, read on a connection of its own (the service's pool may be closed). */
async function stored(schema: string, id: string): Promise<{ state: string; attempt: number; worker_id: string | null }> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query(`SELECT state, attempt, worker_id FROM "${schema}".jobs WHERE id = $1`, [id])).rows[0]
  } finally {
    await client.end()
  }
}

/**
 * Holds calls of an async function at a gate: `called` resolves at the first call, and every call
 * goes on once `open()` is called.
 */
function held<P, R>(fn: (params: P) => Promise<R>) {
  const called = deferred<void>()
  const gate = deferred<void>()
  const wrapped = async (params: P): Promise<R> => {
    called.resolve()
    await gate.promise
    return fn(params)
  }
  return { wrapped, called: called.promise, open: () => gate.resolve() }
}

describe.skipIf(!url)('worker.handoff on PostgreSQL: a job enqueued here starts without a claim', () => {
  afterAll(async () => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await client.end()
  })

  /**
   * A started service with one slot, whose claim loop has finished its first claim (drain() waits
   * for it): from here only a wake-up or the hand-off starts a job, the poll being far away.
   */
  async function idleService(worker: WorkerOptions = {}, handler: (text: string) => Promise<void> = async () => {}) {
    const schema = `${prefix}_${schemas.length}`
    schemas.push(schema)
    const driver = postgres({ url: url as string, schema, max: 2 }) as QueueDriver<unknown> & Required<Pick<QueueDriver, 'jobInsertClaimed'>>
    const svc = createService({ logger: silentLogger, queue: driver, worker: { concurrency: 1, pollInterval: '10m', ...worker } })
    const task = svc.task('note', { schema: z.object({ text: z.string() }) }, async ({ text }) => handler(text))
    await svc.start()
    await svc.queue.drain()
    return { svc, task, driver, schema }
  }

  it('inserts the job already claimed by the idle worker and starts it, with no claim statement', async () => {
    const { svc, task, driver } = await idleService()
    const claims = vi.spyOn(driver, 'jobClaim')
    const inserts = vi.spyOn(driver, 'jobInsertClaimed')
    try {
      const running = waitForEvent(svc, 'job:running')
      const succeeded = waitForEvent(svc, 'job:succeeded')
      const { id } = await task.enqueue({ text: 'now' })
      expect((await running).id).toBe(id)
      expect((await succeeded).id).toBe(id)
      expect(inserts).toHaveBeenCalledTimes(1)
      expect(claims).not.toHaveBeenCalled()
      const row = inserts.mock.results[0]?.value as Promise<JobRow>
      expect(await row).toMatchObject({ id, state: 'running', attempt: 1, workerId: svc.worker?.workerId })
      expect((await task.get(id))?.state).toBe('succeeded')
    } finally {
      await svc.stop()
    }
  })

  it('takes the claim path while a claim is in flight, so the job it brings is not overtaken', async () => {
    const { svc, task, driver, schema } = await idleService()
    const producer = createService({ logger: silentLogger, queue: postgres({ url: url as string, schema, max: 1 }), worker: false })
    producer.task('note', { schema: z.object({ text: z.string() }) }, async () => {})
    await producer.start()
    const claim = held(driver.jobClaim.bind(driver))
    driver.jobClaim = claim.wrapped
    const inserts = vi.spyOn(driver, 'jobInsertClaimed')
    const started: string[] = []
    svc.on('job:running', (e) => started.push(e.id))
    try {
      // Another process's job wakes the worker through NOTIFY; its claim is held at the gate.
      const x = await producer.queue.enqueue('note', { text: 'x' })
      await claim.called
      const y = await task.enqueue({ text: 'y' })
      expect(inserts).not.toHaveBeenCalled()
      const yDone = waitForEvent(svc, 'job:succeeded', (e) => e.id === y.id)
      claim.open()
      await yDone
      expect(started).toEqual([x.id, y.id])
    } finally {
      claim.open()
      await producer.stop()
      await svc.stop()
    }
  })

  it('takes the claim path while the slot is busy, so the jobs queued behind it keep their order', async () => {
    const gate = deferred<void>()
    const started: string[] = []
    const { svc, task, driver } = await idleService({}, async (text) => {
      started.push(text)
      if (text === 'a') await gate.promise
    })
    const inserts = vi.spyOn(driver, 'jobInsertClaimed')
    try {
      const aRunning = waitForEvent(svc, 'job:running')
      await task.enqueue({ text: 'a' })
      await aRunning
      // The one slot is busy: b is claimed into the buffer, and c must queue behind it.
      const bClaimed = vi.spyOn(driver, 'jobClaim')
      await task.enqueue({ text: 'b' })
      await vi.waitFor(() => expect(svc.worker?.buffered).toBe(1))
      await task.enqueue({ text: 'c' })
      const cDone = waitForEvent(svc, 'job:succeeded', (e) => e.name === 'note' && started.length === 3)
      gate.resolve()
      await cDone
      expect(started).toEqual(['a', 'b', 'c'])
      expect(inserts).toHaveBeenCalledTimes(1)
      expect(bClaimed).toHaveBeenCalled()
    } finally {
      gate.resolve()
      await svc.stop()
    }
  })

  it('hands back a job whose insert was in flight when the worker stopped, its attempt not counted', async () => {
    const { svc, task, driver, schema } = await idleService()
    const insert = held(driver.jobInsertClaimed.bind(driver))
    driver.jobInsertClaimed = insert.wrapped
    const ran = vi.fn()
    svc.on('job:running', ran)
    const enqueued = task.enqueue({ text: 'late' })
    await insert.called
    let stopped = false
    const stopping = svc.stop().then(() => {
      stopped = true
    })
    // stop() waits for the hand-off: give it every chance to run ahead first.
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
    expect(stopped).toBe(false)
    insert.open()
    const { id } = await enqueued
    await stopping
    expect(ran).not.toHaveBeenCalled()
    expect(await stored(schema, id)).toEqual({ state: 'queued', attempt: 0, worker_id: null })
  })

  it('gives the slot back when the insert fails, and the next enqueue is handed off again', async () => {
    const { svc, task, driver } = await idleService()
    const insertClaimed = driver.jobInsertClaimed.bind(driver)
    const inserts = vi.fn(insertClaimed)
    inserts.mockRejectedValueOnce(new Error('connection lost'))
    driver.jobInsertClaimed = inserts
    try {
      await expect(task.enqueue({ text: 'lost' })).rejects.toThrow('connection lost')
      expect(svc.worker?.running).toBe(0)
      const succeeded = waitForEvent(svc, 'job:succeeded')
      const { id } = await task.enqueue({ text: 'kept' })
      expect((await succeeded).id).toBe(id)
      expect(inserts).toHaveBeenCalledTimes(2)
    } finally {
      await svc.stop()
    }
  })

  it('is off with handoff: false, and for delayed jobs, batches and jobs in a caller\'s transaction', async () => {
    const off = await idleService({ handoff: false })
    const offInserts = vi.spyOn(off.driver, 'jobInsertClaimed')
    try {
      const succeeded = waitForEvent(off.svc, 'job:succeeded')
      await off.task.enqueue({ text: 'claimed' })
      await succeeded
      expect(offInserts).not.toHaveBeenCalled()
    } finally {
      await off.svc.stop()
    }
    const { svc, task, driver } = await idleService()
    const inserts = vi.spyOn(driver, 'jobInsertClaimed')
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      await task.enqueue({ text: 'later' }, { delay: '1h' })
      await task.enqueueMany([{ text: 'one' }, { text: 'two' }])
      await client.query('BEGIN')
      await task.enqueue({ text: 'in tx' }, { tx: client })
      await client.query('COMMIT')
      await svc.queue.drain()
      expect(inserts).not.toHaveBeenCalled()
    } finally {
      await client.end()
      await svc.stop()
    }
  })
})
