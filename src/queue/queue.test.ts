import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { silentLogger } from '../core/logger.js'
import type { EventMap } from '../core/events.js'
import { memory } from '../drivers/memory/driver.js'
import { createService } from '../service.js'
import { ManualClock } from '../testing/manual-clock.js'
import { createTestService } from '../testing/test-service.js'
import { cancelJob, snooze, survivesJson } from './task.js'
import { deferred } from '../core/deferred.js'
import type { JobRow } from './driver.js'
import { toStatus } from './queue.js'

function setup(opts: { lease?: string; concurrency?: number } = {}) {
  const clock = new ManualClock(Date.parse('2026-03-01T00:00:00Z'))
  const svc = createService({
    logger: silentLogger,
    clock,
    random: () => 0.5,
    queue: memory(),
    worker: { lease: opts.lease ?? '6s', concurrency: opts.concurrency ?? 10 },
  })
  const events: { [K in keyof EventMap]?: EventMap[K][] } = {}
  for (const name of ['job:succeeded', 'job:failed', 'job:retrying', 'job:cancelled'] as const) {
    const list: unknown[] = []
    ;(events as Record<string, unknown[]>)[name] = list
    svc.on(name, (e) => list.push(e))
  }
  return { clock, svc, events }
}

const Email = z.object({ to: z.email(), subject: z.string().default('Welcome!') })

describe('durable tasks on the memory driver', () => {
  it('enqueue validates, stores and runs; get returns the JobStatus shape with the result', async () => {
    const { svc } = setup()
    const sent: string[] = []
    const email = svc.task('send-email', { schema: Email }, async (msg, ctx) => {
      sent.push(`${msg.to} ${msg.subject} attempt ${ctx.attempt}`)
      return { delivered: true }
    })
    await svc.start()
    const { id, duplicate } = await email.enqueue({ to: 'ada@example.com' })
    expect(duplicate).toBe(false)
    await svc.queue.drain()
    expect(sent).toEqual(['ada@example.com Welcome! attempt 1'])
    expect(await email.get(id)).toMatchObject({ id, name: 'send-email', state: 'succeeded', result: { delivered: true }, attempt: 1 })
    await svc.stop()
  })

  it("retention { succeeded: 0 } deletes a succeeded job as its outcome is written; failed ones stay for the failed retention", async () => {
    const clock = new ManualClock(Date.parse('2026-03-01T00:00:00Z'))
    const svc = createService({ logger: silentLogger, clock, queue: memory(), worker: { retention: { succeeded: 0, failed: '1d' } } })
    const succeeded: string[] = []
    svc.on('job:succeeded', (e) => succeeded.push(e.id))
    const ok = svc.task('ok', { schema: z.object({}) }, async () => 'done')
    const bad = svc.task('bad', { schema: z.object({}), retry: { attempts: 1 } }, async () => {
      throw new Error('no')
    })
    await svc.start()
    const a = await ok.enqueue({})
    const b = await bad.enqueue({})
    await svc.queue.drain()
    expect(succeeded).toEqual([a.id])
    expect(await ok.get(a.id)).toBeUndefined()
    expect(await bad.get(b.id)).toMatchObject({ state: 'failed' })
    await svc.stop()
  })

  it('refuses a retention that is not a duration, naming the option', () => {
    expect(() => createService({ logger: silentLogger, queue: memory(), worker: { retention: { succeeded: 'soon' } } })).toThrow(/worker\.retention\.succeeded/)
  })

  it('refuses an invalid payload naming the field, and stores nothing', async () => {
    const { svc } = setup()
    const email = svc.task('send-email', { schema: Email }, async () => {})
    await svc.start()
    await expect(email.enqueue({ to: 'nope' })).rejects.toMatchObject({ code: 'ERR_VALIDATION', issues: [{ path: 'to' }] })
    await expect(email.enqueue({ to: 'ada@example.com', subject: (() => 1) as never })).rejects.toMatchObject({ code: 'ERR_VALIDATION' })
    expect(await svc.queue.counts()).toEqual([])
    await svc.stop()
  })

  it('refuses unknown task names and payloads that are not JSON or too large', async () => {
    const { svc } = setup()
    svc.task('blob', { schema: z.any() }, async () => {})
    await svc.start()
    await expect(svc.queue.enqueue('nope', {})).rejects.toMatchObject({ code: 'ERR_QUEUE_UNKNOWN_TASK', message: expect.stringContaining('"nope"') })
    await expect(svc.queue.enqueue('blob', { n: 1n })).rejects.toMatchObject({ code: 'ERR_QUEUE_PAYLOAD' })
    await expect(svc.queue.enqueue('blob', 'x'.repeat(300 * 1024))).rejects.toMatchObject({ code: 'ERR_QUEUE_PAYLOAD', message: expect.stringContaining('256 KiB') })
    expect(await svc.queue.counts()).toEqual([])
    await svc.stop()
  })

  it('refuses a payload that passes its schema only before JSON, which would fail every attempt', async () => {
    const { svc } = setup()
    const remind = svc.task('remind', { schema: z.object({ at: z.date() }) }, async () => {})
    const coerced = svc.task('remind-coerced', { schema: z.object({ at: z.coerce.date() }) }, async (p) => p.at.toISOString())
    await svc.start()
    await expect(remind.enqueue({ at: new Date(0) })).rejects.toMatchObject({
      code: 'ERR_QUEUE_PAYLOAD',
      message: expect.stringContaining('changes when stored as JSON'),
    })
    // The same through a schema that validates asynchronously.
    const asyncDate = {
      '~standard': {
        version: 1 as const,
        vendor: 'test',
        validate: async (value: unknown) =>
          (value as { at?: unknown }).at instanceof Date ? { value: value as { at: Date } } : { issues: [{ message: 'not a Date', path: ['at'] }] },
      },
    }
    const remindLater = svc.task('remind-async', { schema: asyncDate }, async () => {})
    await expect(remindLater.enqueue({ at: new Date(0) })).rejects.toMatchObject({ code: 'ERR_QUEUE_PAYLOAD' })
    expect(await svc.queue.counts()).toEqual([])
    const { id } = await coerced.enqueue({ at: new Date(0) })
    await svc.queue.drain()
    expect(await coerced.get(id)).toMatchObject({ state: 'succeeded', result: '1970-01-01T00:00:00.000Z' })
    await svc.stop()
  })

  it('knows which payloads come back from JSON unchanged, and checks the others twice', () => {
    for (const same of [{}, { a: 'x', n: 1.5, ok: false, none: null, list: [1, 'two', { deep: [] }] }, [], 'text', 0, Object.create(null)]) {
      expect(survivesJson(same)).toBe(true)
    }
    class Point { x = 1 }
    for (const changed of [new Date(0), { at: new Date(0) }, new Map(), [new Set()], { f: () => 1 }, { u: undefined }, [undefined], { n: Number.NaN }, Infinity, new Point(), { big: 1n }, new Array<number>(2)]) {
      expect(survivesJson(changed)).toBe(false)
    }
  })

  it('retries with exponential backoff, then fails with the last error', async () => {
    const { svc, clock, events } = setup()
    let attempts = 0
    const flaky = svc.task('flaky', { schema: z.object({}), retry: { attempts: 3, backoff: { initial: '1s', jitter: 0 } } }, async () => {
      attempts++
      throw new Error(`boom ${attempts}`)
    })
    await svc.start()
    const { id } = await flaky.enqueue({})
    await svc.queue.drain()
    expect(await flaky.get(id)).toMatchObject({ state: 'retrying', attempt: 1, error: { message: 'boom 1' } })
    await clock.advance('1s')
    await svc.queue.drain()
    expect((await flaky.get(id))?.state).toBe('retrying')
    await clock.advance('2s')
    await svc.queue.drain()
    expect(await flaky.get(id)).toMatchObject({ state: 'failed', attempt: 3, error: { message: 'boom 3' } })
    expect(events['job:retrying']?.map((e) => e.retryAt.getTime() - Date.parse('2026-03-01T00:00:00Z'))).toEqual([1_000, 3_000])
    expect(events['job:failed']).toHaveLength(1)
    const text = await svc.metrics.prometheus()
    expect(text).toContain('afterwork_queue_attempts_total{queue="default",task="flaky",outcome="retrying"} 2')
    expect(text).toContain('afterwork_queue_attempts_total{queue="default",task="flaky",outcome="failed"} 1')
    expect(text).toContain('afterwork_queue_jobs{queue="default",task="flaky",state="failed"} 1')
    expect(text).toContain('afterwork_queue_lag_seconds_count{queue="default"} 3')
    expect((await flaky.retry(id))?.state).toBe('queued')
    await svc.stop()
  })

  it('runs higher priority first, and delayed jobs only when due', async () => {
    const { svc, clock } = setup({ concurrency: 1 })
    const order: string[] = []
    const t = svc.task('t', { schema: z.string() }, async (s) => void order.push(s))
    // Enqueued before the worker starts, so the first claim sees them all.
    await t.enqueueMany(['low-1', 'low-2'])
    await t.enqueue('high', { priority: 10 })
    await t.enqueue('later', { delay: '1m' })
    await svc.start()
    await svc.queue.drain()
    expect(order).toEqual(['high', 'low-1', 'low-2'])
    expect(order).not.toContain('later')
    await clock.advance('1m')
    await svc.queue.drain()
    expect(order).toContain('later')
    await svc.stop()
  })

  it('refuses a second live job with the same unique key, and accepts one after it finished', async () => {
    const { svc } = setup()
    const t = svc.task('report', { schema: z.object({ day: z.string() }), unique: (p) => p.day }, async () => {})
    await svc.start()
    const first = await t.enqueue({ day: '2026-03-01' })
    const again = await t.enqueue({ day: '2026-03-01' })
    expect(again).toEqual({ id: first.id, duplicate: true })
    await svc.queue.drain()
    expect((await t.enqueue({ day: '2026-03-01' })).duplicate).toBe(false)
    await svc.stop()
  })

  it('snooze runs the job later without counting an attempt; cancelJob ends it cancelled', async () => {
    const { svc, clock } = setup()
    let runs = 0
    const t = svc.task('poll', { schema: z.object({}) }, async () => (++runs === 1 ? snooze('30s') : cancelJob('nothing to do')))
    await svc.start()
    const { id } = await t.enqueue({})
    await svc.queue.drain()
    expect(await t.get(id)).toMatchObject({ state: 'scheduled', attempt: 0 })
    await clock.advance('30s')
    await svc.queue.drain()
    expect(await t.get(id)).toMatchObject({ state: 'cancelled', attempt: 1, error: { message: 'nothing to do' } })
    await svc.stop()
  })

  it('cancels a queued job at once and a running one through its signal', async () => {
    const { svc, clock } = setup()
    let aborted: unknown
    const t = svc.task('long', { schema: z.object({}) }, async (_p, ctx) => {
      await clock.sleep(3_600_000, ctx.signal).catch((e: unknown) => { aborted = e; throw e })
    })
    await svc.start()
    const running = await t.enqueue({})
    await clock.advance(0)
    expect((await t.get(running.id))?.state).toBe('running')
    const queued = await t.enqueue({}, { delay: '1h' })
    expect(await t.cancel(queued.id)).toBe('cancelled')
    expect(await t.cancel(running.id)).toBe('cancelling')
    await clock.advance('2s') // the heartbeat (lease/3) carries the cancel to the worker
    await svc.queue.drain()
    expect(aborted).toMatchObject({ code: 'ERR_JOB_CANCELLED' })
    expect((await t.get(running.id))?.state).toBe('cancelled')
    expect(await t.cancel(running.id)).toBe('finished')
    expect(await t.cancel('nope')).toBe('not_found')
    await svc.stop()
  })

  it('gives a handler that reads ctx.signal only after its cancel arrived an aborted signal', async () => {
    const { svc, clock } = setup()
    const gate = deferred()
    let seen: { aborted: boolean; reason: unknown } | undefined
    const t = svc.task('late-reader', { schema: z.object({}) }, async (_p, ctx) => {
      await gate.promise
      seen = { aborted: ctx.signal.aborted, reason: ctx.signal.reason }
      ctx.signal.throwIfAborted()
    })
    await svc.start()
    const job = await t.enqueue({})
    await clock.advance(0)
    expect(await t.cancel(job.id)).toBe('cancelling')
    await clock.advance('2s') // the heartbeat carries the cancel; the handler has not looked yet
    gate.resolve()
    await svc.queue.drain()
    expect(seen).toMatchObject({ aborted: true, reason: { code: 'ERR_JOB_CANCELLED' } })
    expect(await t.get(job.id)).toMatchObject({ state: 'cancelled', error: { code: 'ERR_JOB_CANCELLED' } })
    await svc.stop()
  })

  it('fails a job whose stored payload no longer fits the schema, without retrying', async () => {
    const driver = memory()
    const clock = new ManualClock()
    const producer = createService({ logger: silentLogger, clock, queue: driver, worker: false })
    producer.task('v', { schema: z.object({ n: z.number() }) }, async () => {})
    const consumer = createService({ logger: silentLogger, clock, queue: driver })
    const t = consumer.task('v', { schema: z.object({ n: z.string() }), retry: { attempts: 5 } }, async () => {})
    await producer.start()
    await consumer.start()
    const { id } = await producer.queue.enqueue('v', { n: 1 })
    await consumer.queue.drain()
    expect(await t.get(id)).toMatchObject({ state: 'failed', attempt: 1, error: { code: 'ERR_VALIDATION' } })
    await producer.stop()
    await consumer.stop()
  })

  it('refuses tasks without a queue driver', () => {
    const svc = createService({ logger: silentLogger })
    expect(() => svc.task('x', { schema: z.any() }, async () => {})).toThrow(expect.objectContaining({ code: 'ERR_QUEUE_NOT_CONFIGURED' }))
  })
})

describe('createTestService and background.add(task, input)', () => {
  it('drains durable jobs in process, and runs a task inline after a response without storing a job', async () => {
    const svc = createTestService()
    const seen: string[] = []
    const email = svc.task('send-email', { schema: Email }, async (msg, ctx) => void seen.push(`${msg.to} ${ctx.id}`))
    await svc.start()
    await email.enqueue({ to: 'queued@example.com' })
    await svc.queue.drain()
    const tasks = svc.createBackgroundTasks('req-9')
    tasks.add(email, { to: 'inline@example.com' })
    tasks.start()
    await svc.background.idle()
    expect(seen).toEqual([expect.stringMatching(/^queued@example.com /), 'inline@example.com send-email@req-9'])
    expect((await svc.queue.counts()).map((c) => [c.state, c.count])).toEqual([['succeeded', 1]])
    await svc.stop()
  })

  it('validates the input of an inline task and reports a failure like any background task', async () => {
    const svc = createTestService()
    const failures: string[] = []
    svc.on('background:failed', (e) => failures.push(`${e.task} ${(e.error as { code?: string }).code}`))
    const email = svc.task('send-email', { schema: Email }, async () => {})
    await svc.start()
    const tasks = svc.createBackgroundTasks('req-1')
    tasks.add(email, { to: 'not an email' } as never)
    tasks.start()
    await svc.background.idle()
    expect(failures).toEqual(['send-email ERR_VALIDATION'])
    await svc.stop()
  })
})

describe('toStatus', () => {
  const row: JobRow = {
    id: 'j1', queue: 'default', name: 'report', payload: '{}', state: 'running', priority: 0, attempt: 1, maxAttempts: 3,
    runAt: 0, createdAt: 0, startedAt: 1_000, finishedAt: null, workerId: 'w', leaseUntil: 7_000, cancelRequested: false,
    uniqueKey: null, result: null, error: null, progress: { fraction: 0.83, message: 'rendering' }, timeoutMs: null,
  }

  it('reports the last fraction while the job runs, and 1 with the last message once it succeeded', () => {
    expect(toStatus(row).progress).toEqual({ fraction: 0.83, message: 'rendering' })
    const done = toStatus({ ...row, state: 'succeeded', finishedAt: 2_000, result: '{"ok":true}' })
    expect(done.progress).toEqual({ fraction: 1, message: 'rendering' })
    expect(done).toMatchObject({ result: { ok: true }, durationMs: 1_000 })
  })

  it('keeps the last fraction of a job that failed', () => {
    expect(toStatus({ ...row, state: 'failed', finishedAt: 2_000 }).progress).toEqual({ fraction: 0.83, message: 'rendering' })
  })
})

describe('a worker stopping while its store does not answer', () => {
  it('stops within its deadline, says what it could not write, and leaves the job to run again after its lease', async () => {
    const clock = new ManualClock(Date.parse('2026-03-01T00:00:00Z'))
    const driver = memory()
    const svc = createService({ logger: silentLogger, clock, random: () => 0.5, queue: driver, shutdown: { work: '3s' } })
    const abandoned: string[] = []
    svc.on('shutdown:abandoned', (e) => abandoned.push(`${e.step}: ${e.detail}`))
    const started = deferred<void>()
    const finish = deferred<void>()
    const task = svc.task('t', { schema: z.object({}) }, async () => {
      started.resolve()
      await finish.promise
    })
    await svc.start()
    const { id } = await task.enqueue({})
    await started.promise
    // The database goes away: every write fails, and the worker identity cannot be removed.
    const down = () => Promise.reject(new Error('connection refused'))
    driver.jobCompleteMany = down
    driver.workerRemove = down
    // ...and closing it never ends (a pool waiting for clients stuck on a dead network).
    driver.close = () => new Promise(() => {})
    finish.resolve()
    let stopped = false
    const stopping = svc.stop().then(() => (stopped = true))
    // Its write is retried every second until the deadline (work 3 s: 2 s to settle, then 1 s to
    // write), then the driver gets 2 s to close.
    for (let s = 0; s < 6 && !stopped; s++) await clock.advance(1_000)
    await stopping
    expect(svc.readiness).toBe('stopped')
    expect(abandoned).toEqual(['worker: 1 job outcome(s) not written', 'queue: the driver did not close within 2000 ms'])
    // Not lost: the job is still running in the store, so it is taken back once its lease expires.
    expect((await driver.jobGet({ id }))?.state).toBe('running')
  })
})
