import { describe, expect, it, onTestFinished } from 'vitest'
import { z } from 'zod'
import { deferred, type Deferred } from '../core/deferred.js'
import { silentLogger } from '../core/logger.js'
import { memory } from '../drivers/memory/driver.js'
import { createService } from '../service.js'
import { ManualClock } from '../testing/manual-clock.js'
import type { QueueDriver } from './driver.js'
import type { WorkerOptions } from './worker.js'

const T0 = Date.parse('2026-03-01T00:00:00Z')
const N = z.object({ n: z.number() })

/** Handlers that wait until the test lets job `n` finish; `openAll` lets every one through, later ones too. */
function gates() {
  const waiting = new Map<number, Deferred<void>>()
  let allOpen = false
  const gate = (n: number) => {
    let d = waiting.get(n)
    if (!d) {
      d = deferred()
      waiting.set(n, d)
      if (allOpen) d.resolve()
    }
    return d
  }
  return {
    wait: (n: number) => gate(n).promise,
    open: (n: number) => gate(n).resolve(),
    openAll: () => {
      allOpen = true
      for (const d of waiting.values()) d.resolve()
    },
  }
}

/**
 * A memory store seen through a spy: records each claim's limit, can hold claims after they have
 * read the store (a claim in flight), and can deliver notifications as a driver with `listen` would.
 */
function spiedStore(store: QueueDriver) {
  const claims: number[] = []
  const completions: number[] = []
  let hold: Deferred<void> | undefined
  let notify: ((queue: string) => void) | undefined
  const driver = new Proxy(store, {
    get(target, key) {
      if (key === 'jobClaim') {
        return async (params: Parameters<QueueDriver['jobClaim']>[0]) => {
          claims.push(params.limit)
          const rows = await target.jobClaim(params)
          if (hold) await hold.promise
          return rows
        }
      }
      if (key === 'jobCompleteMany') {
        return async (params: Parameters<QueueDriver['jobCompleteMany']>[0]) => {
          completions.push(params.completions.length)
          await target.jobCompleteMany(params)
        }
      }
      if (key === 'listen') {
        return async (params: { onWake: (queue: string) => void }) => {
          notify = params.onWake
        }
      }
      const value: unknown = Reflect.get(target, key)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    },
  })
  return {
    driver,
    claims,
    /** The size of each jobCompleteMany call. */
    completions,
    /** Claims from now on wait after reading the store until `release()`. */
    holdClaims: () => (hold = deferred()),
    release: () => {
      hold?.resolve()
      hold = undefined
    },
    notify: (queue: string) => notify?.(queue),
  }
}

function setup(worker: WorkerOptions, opts: { store?: QueueDriver; clock?: ManualClock } = {}) {
  const clock = opts.clock ?? new ManualClock(T0)
  const store = opts.store ?? memory()
  const spy = spiedStore(store)
  const svc = createService({ logger: silentLogger, clock, random: () => 0.5, queue: spy.driver, worker })
  const gate = gates()
  const ran: number[] = []
  const task = svc.task('t', { schema: N }, async ({ n }) => {
    ran.push(n)
    await gate.wait(n)
  })
  onTestFinished(async () => {
    gate.openAll()
    spy.release()
    await svc.stop()
  })
  /** Lets claims, handlers and completion flushes (setImmediate) run, without moving the clock. */
  const settle = async () => {
    for (let i = 0; i < 5; i++) await clock.advance(0)
  }
  const enqueue = async (...ns: number[]) => (await task.enqueueMany(ns.map((n) => ({ n })))).map((r) => r.id)
  const state = async (id: string) => store.jobGet({ id })
  return { clock, store, svc, spy, gate, ran, task, settle, enqueue, state, worker: () => svc.worker as NonNullable<typeof svc.worker> }
}

describe('Worker prefetch buffer (issues 6 and 7)', () => {
  it('claims up to prefetch jobs ahead of the free slots, starts them as slots free, and refills below half', async () => {
    const { svc, spy, gate, ran, settle, enqueue, worker, store } = setup({ concurrency: 2, prefetch: 4 })
    await enqueue(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
    await svc.start()
    await settle()
    expect(spy.claims).toEqual([6])
    expect(worker().running).toBe(2)
    expect(worker().buffered).toBe(4)
    expect(ran).toEqual([0, 1])
    const byState = async () => Object.fromEntries((await store.jobCounts()).map((c) => [c.state, c.count]))
    expect(await byState()).toEqual({ running: 6, queued: 4 })
    // Each freed slot takes the next buffered job at once, without a claim...
    gate.open(0)
    gate.open(1)
    await settle()
    expect(ran).toEqual([0, 1, 2, 3])
    expect(spy.claims).toEqual([6])
    expect(worker().buffered).toBe(2)
    // ...until the buffer falls below half: then one claim refills it.
    gate.open(2)
    await settle()
    expect(spy.claims).toEqual([6, 3])
    expect(worker().buffered).toBe(4)
    expect(await byState()).toEqual({ running: 6, succeeded: 3, queued: 1 })
  })

  it('prefetch 0 claims only for free slots, as before the buffer', async () => {
    const { svc, spy, gate, settle, enqueue, worker, store } = setup({ concurrency: 2, prefetch: 0 })
    await enqueue(0, 1, 2, 3, 4)
    await svc.start()
    await settle()
    expect(spy.claims).toEqual([2])
    expect(worker().buffered).toBe(0)
    expect(Object.fromEntries((await store.jobCounts()).map((c) => [c.state, c.count]))).toEqual({ running: 2, queued: 3 })
    gate.open(0)
    await settle()
    gate.open(1)
    await settle()
    expect(spy.claims).toEqual([2, 1, 1])
    expect(worker().buffered).toBe(0)
  })

  it('renews the leases of buffered jobs while they wait for a slot', async () => {
    const { svc, clock, gate, ran, settle, enqueue, state, worker, store } = setup({ concurrency: 1, prefetch: 3, lease: '3s' })
    const rescued: number[] = []
    svc.on('job:rescued', (e) => rescued.push(e.count))
    const ids = await enqueue(0, 1, 2, 3)
    await svc.start()
    await settle()
    expect(worker().buffered).toBe(3)
    await clock.advance('30s') // ten leases; the worker's own rescue runs every lease
    for (const id of ids.slice(1)) expect((await state(id))?.leaseUntil).toBeGreaterThan(clock.now())
    expect(await store.jobRescue({ now: clock.now() })).toBe(0)
    expect(rescued).toEqual([])
    gate.openAll()
    await settle()
    expect(ran).toEqual([0, 1, 2, 3])
    for (const id of ids) expect(await state(id)).toMatchObject({ state: 'succeeded', attempt: 1 })
  })

  it('stop hands buffered jobs back at once, before the running ones finish, and another worker claims them', async () => {
    const a = setup({ concurrency: 1, prefetch: 5 })
    const ids = await a.enqueue(0, 1, 2, 3)
    await a.svc.start()
    await a.settle()
    expect(a.worker().buffered).toBe(3)
    const stopping = a.svc.stop()
    await a.settle()
    expect(a.worker().buffered).toBe(0)
    for (const id of ids.slice(1)) expect(await a.state(id)).toMatchObject({ state: 'queued', attempt: 0, workerId: null })
    // Another worker on the same store, same instant: the clock has not moved.
    const b = setup({ concurrency: 5 }, { store: a.store, clock: a.clock })
    b.gate.openAll()
    await b.svc.start()
    await b.svc.queue.drain()
    expect(b.ran).toEqual([1, 2, 3])
    expect(a.ran).toEqual([0])
    expect(await a.state(ids[0] as string)).toMatchObject({ state: 'running' })
    a.gate.open(0)
    await stopping
    for (const id of ids) expect(await a.state(id)).toMatchObject({ state: 'succeeded', attempt: 1 })
  })

  it('hands back the jobs of a claim still in flight when stop begins', async () => {
    const { svc, spy, ran, settle, enqueue, state } = setup({ concurrency: 2 })
    await svc.start()
    await settle()
    spy.holdClaims()
    const ids = await enqueue(0, 1, 2) // the enqueue wakes the worker: its claim takes all three, then waits
    await settle()
    expect(spy.claims).toHaveLength(2)
    const stopping = svc.stop()
    await settle()
    spy.release()
    await stopping
    expect(ran).toEqual([])
    for (const id of ids) expect(await state(id)).toMatchObject({ state: 'queued', attempt: 0 })
  })

  it('keeps renewing the leases of running jobs while stop waits for them', async () => {
    const { svc, clock, gate, ran, settle, enqueue, state, store } = setup({ concurrency: 1, lease: '3s' })
    const [id] = await enqueue(0)
    await svc.start()
    await settle()
    const stopping = svc.stop() // shutdown.work 8 s: running jobs get 7 s
    await clock.advance('6s')
    expect(await store.jobRescue({ now: clock.now() })).toBe(0)
    expect((await state(id as string))?.state).toBe('running')
    gate.open(0)
    await stopping
    expect(ran).toEqual([0])
    expect(await state(id as string)).toMatchObject({ state: 'succeeded', attempt: 1 })
  })

  it('ends a buffered job cancelled without running it when its cancel arrives', async () => {
    const { svc, clock, gate, ran, settle, enqueue, task, worker } = setup({ concurrency: 1, prefetch: 2 })
    const cancelled: string[] = []
    svc.on('job:cancelled', (e) => cancelled.push(e.id))
    const [, second] = await enqueue(0, 1)
    await svc.start()
    await settle()
    expect(worker().buffered).toBe(1)
    expect(await task.cancel(second as string)).toBe('cancelling')
    await clock.advance('2s') // the heartbeat carries the cancel
    await settle()
    expect(worker().buffered).toBe(0)
    expect(await task.get(second as string)).toMatchObject({ state: 'cancelled', error: { code: 'ERR_JOB_CANCELLED' } })
    expect(cancelled).toEqual([second])
    gate.open(0)
    await settle()
    expect(ran).toEqual([0])
  })

  it('drops a buffered job whose lease another worker took, without running it', async () => {
    const { svc, clock, gate, ran, settle, enqueue, worker, store } = setup({ concurrency: 1, prefetch: 2 })
    const [, second] = await enqueue(0, 1)
    await svc.start()
    await settle()
    // As if the lease ran out and another worker rescued and claimed the job.
    await store.jobCompleteMany({ workerId: worker().workerId, completions: [{ id: second as string, outcome: 'released' }], now: clock.now() })
    expect(await store.jobClaim({ queue: 'default', names: ['t'], workerId: 'other', limit: 1, lease: 60_000, now: clock.now() })).toHaveLength(1)
    await clock.advance('2s')
    expect(worker().buffered).toBe(0)
    gate.openAll()
    await settle()
    expect(ran).toEqual([0])
    expect((await store.jobGet({ id: second as string }))?.workerId).toBe('other')
  })

  it('starts a higher-priority job claimed later ahead of the buffered ones, once the buffer falls below half', async () => {
    const { svc, gate, ran, settle, enqueue, task } = setup({ concurrency: 1, prefetch: 4 })
    await enqueue(0, 1, 2, 3, 4)
    await svc.start()
    await settle()
    await task.enqueue({ n: 99 }, { priority: 10 })
    // Buffered: 1-4. The claim that takes 99 comes when the buffer falls below half (to job 4 alone).
    for (const n of [0, 1, 2, 3, 99, 4]) {
      gate.open(n)
      await settle()
    }
    expect(ran).toEqual([0, 1, 2, 3, 99, 4])
  })
})

describe('Worker prefetch option', () => {
  it('takes one number or one per queue, defaulting to the concurrency (at least 10)', async () => {
    const { svc, settle, enqueue, worker } = setup({ concurrency: 1, prefetch: { default: 2, other: 0 } })
    await enqueue(0, 1, 2, 3, 4)
    await svc.start()
    await settle()
    expect(worker().buffered).toBe(2)
    const byDefault = setup({ concurrency: 1 })
    await byDefault.enqueue(...Array.from({ length: 150 }, (_, n) => n))
    await byDefault.svc.start()
    await byDefault.settle()
    expect(byDefault.spy.claims[0]).toBe(11) // room: 1 free slot + 10 ahead
    expect(byDefault.worker().buffered).toBe(10)
  })

  it('claims again at once after a full batch while the buffer is below half', async () => {
    const { svc, spy, settle, enqueue, worker } = setup({ concurrency: 1, prefetch: 4, claimBatch: 2 })
    await enqueue(0, 1, 2, 3, 4, 5, 6, 7)
    await svc.start()
    await settle()
    expect(spy.claims).toEqual([2, 2])
    expect(worker().buffered).toBe(3)
  })

  it('refuses a prefetch that is not an integer >= 0, naming it', () => {
    const make = (prefetch: WorkerOptions['prefetch']) => () => createService({ logger: silentLogger, queue: memory(), worker: { prefetch } })
    expect(make(-1)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('worker.prefetch must be an integer >= 0') }))
    expect(make({ mail: 1.5 })).toThrow(expect.objectContaining({ message: expect.stringContaining('worker.prefetch.mail') }))
  })
})

describe('Worker wake-ups', () => {
  it('a wake-up during an in-flight claim is not lost: one more claim right after it, without waiting for the poll', async () => {
    const { svc, clock, spy, ran, settle, enqueue, gate } = setup({ concurrency: 5, pollInterval: '1m' })
    gate.openAll()
    await svc.start()
    await settle()
    expect(spy.claims).toHaveLength(1) // the start's claim found nothing; the next poll is a minute away
    spy.holdClaims()
    spy.notify('default') // a notification with nothing new: this claim reads an empty queue, then waits
    await settle()
    expect(spy.claims).toHaveLength(2)
    await enqueue(7) // committed after that claim read the queue; its wake-up comes during the claim
    spy.notify('default') // and the enqueue's own notification, a duplicate
    await settle()
    expect(spy.claims).toHaveLength(2)
    spy.release()
    await settle()
    expect(ran).toEqual([7])
    expect(spy.claims).toHaveLength(3) // two wake-ups during the claim cost one claim after it
    expect(clock.now()).toBe(T0)
  })

  it('a notification for every queue wakes each of them', async () => {
    const { svc, spy, ran, settle, gate, task } = setup({ concurrency: 1, pollInterval: '1m' })
    gate.openAll()
    await svc.start()
    await settle()
    await spy.driver.jobInsertMany({ jobs: [{ id: 'other-process', queue: 'default', name: task.name, payload: '{"n":5}', priority: 0, runAt: T0, maxAttempts: 1 }], now: T0 })
    spy.notify('*')
    await settle()
    expect(ran).toEqual([5])
  })

  it('claims the tasks registered after start too, in a queue it already serves or a new one, without drain()', async () => {
    const { svc, settle, ran, gate, store } = setup({ concurrency: 1 })
    gate.openAll()
    // Stored before the tasks exist here, as another process would: no in-process wake-up for them.
    await store.jobInsertMany({
      jobs: [
        { id: 'late-1', queue: 'default', name: 'late', payload: '{"n":1}', priority: 0, runAt: T0, maxAttempts: 1 },
        { id: 'other-1', queue: 'other', name: 'elsewhere', payload: '{"n":2}', priority: 0, runAt: T0, maxAttempts: 1 },
      ],
      now: T0,
    })
    await svc.start()
    const late: number[] = []
    svc.task('late', { schema: N }, ({ n }) => void late.push(n))
    svc.task('elsewhere', { schema: N, queue: 'other' }, ({ n }) => void late.push(n))
    await settle()
    expect(late.toSorted()).toEqual([1, 2])
    expect(ran).toEqual([])
  })
})

describe('Worker limits with a prefetch buffer', () => {
  it('does not prefetch a queue with a rate-limited task: starts stay within the rate', async () => {
    const clock = new ManualClock(T0)
    const spy = spiedStore(memory())
    const svc = createService({ logger: silentLogger, clock, random: () => 0.5, queue: spy.driver, worker: { concurrency: 1, prefetch: 10 } })
    onTestFinished(() => svc.stop())
    const starts: number[] = []
    const t = svc.task('limited', { schema: N, rateLimit: { limit: 2, per: '1s' } }, async ({ n }) => {
      starts.push(clock.now() - T0)
      // The first job holds the only slot for 0.9 s: a job buffered behind it would start at 0.9 s,
      // though the store counted its start at the claim (0 s), and two more start at 1 s.
      if (n === 0) await clock.sleep(900)
    })
    await t.enqueueMany([0, 1, 2, 3].map((n) => ({ n })))
    await svc.start()
    await clock.advance('5s')
    expect(starts).toHaveLength(4)
    for (const at of starts) expect(starts.filter((s) => s > at - 1_000 && s <= at).length).toBeLessThanOrEqual(2)
    expect(spy.claims.every((limit) => limit === 1)).toBe(true)
    expect(svc.worker?.buffered).toBe(0)
  })

  it('buffers jobs of a concurrency key, counted against the key, so no other worker runs past the limit', async () => {
    const clock = new ManualClock(T0)
    const store = memory()
    const gate = gates()
    let active = 0
    let maxActive = 0
    const runs: string[] = []
    const replica = (who: string, concurrency: number) => {
      const svc = createService({ logger: silentLogger, clock, random: () => 0.5, queue: store, worker: { concurrency, prefetch: 10 } })
      const task = svc.task('keyed', { schema: N, concurrencyKey: () => 'tenant-1', concurrency: 2, unique: ({ n }) => String(n) }, async ({ n }) => {
        runs.push(`${who} ${n}`)
        maxActive = Math.max(maxActive, ++active)
        await gate.wait(n)
        active--
      })
      return { svc, task }
    }
    // Three slots in all, for a key limited to two.
    const a = replica('a', 1)
    const b = replica('b', 2)
    onTestFinished(async () => {
      gate.openAll()
      await a.svc.stop()
      await b.svc.stop()
    })
    await a.task.enqueueMany([0, 1, 2, 3, 4, 5].map((n) => ({ n })))
    await a.svc.start()
    await clock.advance(0)
    await b.svc.start()
    await clock.advance('3s')
    // a holds the key's two places: one job running, one buffered; b, with two free slots, gets none.
    expect(a.svc.worker?.running).toBe(1)
    expect(a.svc.worker?.buffered).toBe(1)
    expect(b.svc.worker?.running).toBe(0)
    expect(runs).toEqual(['a 0'])
    // A buffered job is live: its unique key still refuses a duplicate.
    expect((await a.task.enqueue({ n: 1 })).duplicate).toBe(true)
    gate.openAll()
    await clock.advance('10s')
    expect(runs).toHaveLength(6)
    expect(maxActive).toBeLessThanOrEqual(2)
    expect((await store.jobCounts()).map((c) => [c.state, c.count])).toEqual([['succeeded', 6]])
  })
})

describe('Worker adaptive prefetch (issue 7)', () => {
  /** Rounds in which every claim stays in flight until the next round, while jobs run. */
  async function rounds(spy: ReturnType<typeof spiedStore>, settle: () => Promise<void>, n: number, eachRound = () => {}) {
    for (let i = 0; i < n; i++) {
      eachRound()
      await settle()
      spy.release()
      spy.holdClaims()
      await settle()
    }
    spy.release()
  }

  it('by default, grows the buffer while short jobs leave slots idle during full claims, up to the claim size', async () => {
    const { svc, spy, gate, ran, settle, enqueue, store } = setup({ concurrency: 2 })
    gate.openAll()
    await enqueue(...Array.from({ length: 600 }, (_, n) => n))
    spy.holdClaims()
    await svc.start()
    await rounds(spy, settle, 12)
    expect(ran).toHaveLength(600)
    // Two slots plus the default buffer of 10, then larger claims as the slots ran dry before or
    // while each claim was out, up to claimBatch (100).
    expect(spy.claims[0]).toBe(12)
    expect(spy.claims).toContain(100)
    expect(Math.max(...spy.claims)).toBe(100)
    expect(spy.claims.filter((limit) => limit === 100).length).toBeGreaterThanOrEqual(4)
    expect(await store.jobCounts()).toEqual([{ queue: 'default', name: 't', state: 'succeeded', count: 600 }])
  })

  it('keeps the default buffer when claims come back before the buffer runs dry', async () => {
    // The memory store answers a claim within the turn: the refill at half the buffer always
    // arrives in time, and a larger buffer would only hold jobs.
    const { svc, spy, gate, ran, settle, enqueue } = setup({ concurrency: 2 })
    gate.openAll()
    await enqueue(...Array.from({ length: 600 }, (_, n) => n))
    await svc.start()
    for (let i = 0; i < 20 && ran.length < 600; i++) await settle()
    expect(ran).toHaveLength(600)
    expect(Math.max(...spy.claims)).toBe(12)
  })

  it('keeps the default buffer for jobs that outlast a claim', async () => {
    const { svc, spy, gate, ran, settle, enqueue, worker } = setup({ concurrency: 2 })
    await enqueue(...Array.from({ length: 60 }, (_, n) => n))
    spy.holdClaims()
    await svc.start()
    let next = 0
    const buffered: number[] = []
    // Two jobs end per round, while no claim is out: the slots never wait on one.
    await rounds(spy, settle, 20, () => {
      buffered.push(worker().buffered)
      gate.open(next++)
      gate.open(next++)
    })
    expect(ran.length).toBeGreaterThanOrEqual(40)
    expect(Math.max(...spy.claims)).toBeLessThanOrEqual(12)
    expect(Math.max(...buffered)).toBeLessThanOrEqual(10)
  })

  it("claims and completes in the store's batch sizes (PostgreSQL's are larger), unless the worker sets its own", async () => {
    const big = () => Object.assign(memory(), { batchDefaults: { claimBatch: 300, completionBatch: 250 } })
    /** Drains `count` jobs from a store with larger batch defaults; the largest claim and completion. */
    const drained = async (worker: WorkerOptions, count: number) => {
      const { svc, spy, gate, ran, settle, enqueue } = setup(worker, { store: big() })
      gate.openAll()
      await enqueue(...Array.from({ length: count }, (_, n) => n))
      spy.holdClaims()
      await svc.start()
      await rounds(spy, settle, 16)
      expect(ran).toHaveLength(count)
      return { claim: Math.max(...spy.claims), completion: Math.max(...spy.completions) }
    }
    expect(await drained({ concurrency: 2 }, 1_500)).toEqual({ claim: 300, completion: 250 })
    expect(await drained({ concurrency: 2, claimBatch: 40, completionBatch: 30 }, 300)).toEqual({ claim: 40, completion: 30 })
  })

  it('a prefetch the user set stays as set', async () => {
    const { svc, spy, gate, ran, settle, enqueue } = setup({ concurrency: 2, prefetch: 4 })
    gate.openAll()
    await enqueue(...Array.from({ length: 200 }, (_, n) => n))
    spy.holdClaims()
    await svc.start()
    await rounds(spy, settle, 12)
    expect(ran.length).toBeGreaterThan(30)
    expect(Math.max(...spy.claims)).toBe(6)
  })
})
