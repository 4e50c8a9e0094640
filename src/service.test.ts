import { describe, expect, expectTypeOf, it } from 'vitest'
import { z } from 'zod'
import { silentLogger } from './core/logger.js'
import { memory } from './drivers/memory/driver.js'
import type { LifespanOption, LifespanState } from './core/lifecycle.js'
import { createService, type Service, type ServiceOptions } from './service.js'
import { createTestService } from './testing/test-service.js'
import { ManualClock } from './testing/manual-clock.js'

describe('createService', () => {
  it('types state as the intersection of the lifespans yields', async () => {
    const svc = createService({
      logger: silentLogger,
      lifespan: [
        async function* db() {
          yield { db: { query: (sql: string) => sql.length } }
        },
        { name: 'cache', run: async function* () { yield { cache: new Map<string, number>() } } },
        async function* nothing() {
          yield
        },
      ],
    })
    expectTypeOf(svc).toEqualTypeOf<Service<{ db: { query: (sql: string) => number }; cache: Map<string, number> }>>()
    await svc.start()
    expect(svc.state.db.query('abc')).toBe(3)
    expect(svc.state.cache).toBeInstanceOf(Map)
    await svc.stop()
  })

  it('types a service without lifespans as empty state', () => {
    expectTypeOf(createService({ logger: silentLogger })).toEqualTypeOf<Service<{}>>()
    const one = createService({ logger: silentLogger, lifespan: async function* http() { yield { http: 1 } } })
    expectTypeOf(one).toEqualTypeOf<Service<{ http: number }>>()
  })

  it('types state from lifespans that take their context unannotated', async () => {
    const seen: string[] = []
    const svc = createService({
      logger: silentLogger,
      lifespan: [
        async function* db({ signal }) {
          seen.push(`db ${signal.aborted}`)
          yield { db: 'pool' }
        },
        { name: 'clock', run: async function* ({ clock }) { yield { startedAt: clock.now() } } },
      ],
    })
    expectTypeOf(svc).toEqualTypeOf<Service<{ db: string; startedAt: number }>>()
    const one = createService({ logger: silentLogger, lifespan: async function* cache({ log }) { log.debug({}, 'opening'); yield { cache: new Set<string>() } } })
    expectTypeOf(one).toEqualTypeOf<Service<{ cache: Set<string> }>>()
    await svc.start()
    expect(seen).toEqual(['db false'])
    expect(typeof svc.state.startedAt).toBe('number')
    await svc.stop()
  })

  it('types state from lifespans typed beforehand as a whole, as before the per-lifespan overloads', async () => {
    const built: LifespanOption = async function* pool() { yield { pool: 1 } }
    expectTypeOf(createService({ logger: silentLogger, lifespan: built })).toEqualTypeOf<Service<LifespanState<LifespanOption>>>()
    const options: ServiceOptions<LifespanOption> = { logger: silentLogger, lifespan: [built] }
    createService(options)
    const wrap = <L extends LifespanOption>(lifespan: L) => createService({ logger: silentLogger, lifespan })
    const wrapped = wrap([async function* db() { yield { db: 'x' } }] as const)
    await wrapped.start()
    expect(wrapped.state).toEqual({ db: 'x' })
    await wrapped.stop()
    const maybe = Math.random() > 2 ? [built] : built
    expect(createTestService({ lifespan: maybe }).readiness).toBe('idle')
  })

  it('validates its options, naming the one that is wrong', () => {
    expect(() => createService({ logger: silentLogger, background: { maxPending: 0 } })).toThrow(/background.maxPending must be an integer >= 1; got 0/)
    expect(() => createService({ logger: silentLogger, shutdown: { http: '10 seconds' } })).toThrow(/shutdown.http/)
    expect(() => createService({ logger: silentLogger, startupTimeout: -5 })).toThrow(/startupTimeout/)
  })
})

describe('Service state and readiness', () => {
  it('throws ERR_SERVICE_NOT_STARTED before start and ERR_SERVICE_STOPPED after stop', async () => {
    const svc = createService({ logger: silentLogger, lifespan: async function* s() { yield { x: 1 } } })
    expect(() => svc.state).toThrow(expect.objectContaining({ code: 'ERR_SERVICE_NOT_STARTED' }))
    await svc.start()
    expect(svc.state.x).toBe(1)
    await svc.stop()
    expect(() => svc.state).toThrow(expect.objectContaining({ code: 'ERR_SERVICE_STOPPED' }))
    expect(svc.readiness).toBe('stopped')
  })

  it('reports readiness changes in order', async () => {
    const svc = createService({ logger: silentLogger })
    const seen: string[] = []
    svc.on('service:readiness', ({ readiness }) => seen.push(readiness))
    await svc.start()
    await svc.stop()
    expect(seen).toEqual(['starting', 'ready', 'draining', 'stopped'])
  })

  it('returns the same promise from start() and from stop(), and cannot start again after stop', async () => {
    let starts = 0
    const svc = createService({ logger: silentLogger, lifespan: async function* counted() { starts++; yield } })
    expect(svc.start()).toBe(svc.start())
    await svc.start()
    expect(starts).toBe(1)
    expect(svc.stop()).toBe(svc.stop())
    await svc.stop()
    await expect(svc.start()).rejects.toMatchObject({ code: 'ERR_SERVICE_STOPPED' })
  })

  it('is safe to stop before start, and then refuses to start', async () => {
    const svc = createService({ logger: silentLogger })
    await svc.stop()
    expect(svc.readiness).toBe('stopped')
    await expect(svc.start()).rejects.toMatchObject({ code: 'ERR_SERVICE_STOPPED' })
  })

  it('ends stopped, not ready, when startup fails, and rethrows the lifespan error', async () => {
    const svc = createService({ logger: silentLogger, lifespan: async function* broken() { throw new Error('nope') } })
    await expect(svc.start()).rejects.toMatchObject({ code: 'ERR_LIFESPAN_STARTUP', lifespan: 'broken' })
    expect(svc.readiness).toBe('stopped')
    await svc.stop()
  })

  it('stops what had started when startup fails after the lifespans, and leaves the live holder its worker id', async () => {
    const driver = memory()
    const holder = createService({ logger: silentLogger, queue: driver, worker: { workerId: 'w1' } })
    await holder.start()
    const log: string[] = []
    const svc = createService({
      logger: silentLogger,
      queue: driver,
      worker: { workerId: 'w1' },
      lifespan: async function* resource() {
        try { yield } finally { log.push('teardown') }
      },
    })
    await expect(svc.start()).rejects.toMatchObject({ code: 'ERR_QUEUE_WORKER_ID_IN_USE' })
    expect(svc.readiness).toBe('stopped')
    expect(log).toEqual(['teardown'])
    // The refused identity is still the holder's: a third service cannot take it either.
    const third = createService({ logger: silentLogger, queue: driver, worker: { workerId: 'w1' } })
    await expect(third.start()).rejects.toMatchObject({ code: 'ERR_QUEUE_WORKER_ID_IN_USE' })
    await holder.stop()
  })

  it('stops its supervised children and lifespans when a durable schedule cannot start', async () => {
    const driver = memory()
    driver.scheduleLastSlot = () => Promise.reject(new Error('database unreachable'))
    const log: string[] = []
    const svc = createService({
      logger: silentLogger,
      queue: driver,
      lifespan: async function* resource() {
        try { yield } finally { log.push('teardown') }
      },
    })
    const tick = svc.task('tick', { schema: z.object({}) }, () => {})
    svc.every('1m', tick, { input: {} })
    svc.supervise('child', async function child(_: undefined, ctx) {
      log.push('child started')
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))
      log.push('child stopped')
    })
    await expect(svc.start()).rejects.toThrow('database unreachable')
    expect(svc.readiness).toBe('stopped')
    expect(log).toEqual(['child started', 'child stopped', 'teardown'])
  })

  it('drains background tasks before tearing down lifespans', async () => {
    const log: string[] = []
    const svc = createService({
      logger: silentLogger,
      lifespan: async function* resource() {
        try { yield } finally { log.push('teardown') }
      },
    })
    await svc.start()
    const tasks = svc.createBackgroundTasks('r1')
    tasks.add(async () => {
      await Promise.resolve()
      log.push('task')
    })
    // Never started by an adapter: stop() still runs it before teardown.
    await svc.stop()
    expect(log).toEqual(['task', 'teardown'])
  })

  it('stops within its deadlines when a background task hangs', async () => {
    const clock = new ManualClock()
    const log: string[] = []
    const svc = createService({
      logger: silentLogger,
      clock,
      shutdown: { background: '2s' },
      lifespan: async function* resource() {
        try { yield } finally { log.push('teardown') }
      },
    })
    await svc.start()
    svc.createBackgroundTasks('r').add(() => new Promise(() => {}))
    const stopping = svc.stop()
    await clock.advance(2_000)
    await stopping
    expect(log).toEqual(['teardown'])
    expect(svc.readiness).toBe('stopped')
  })
})

describe('Service.health', () => {
  it('is ok when ready and every check passes; names the check that fails', async () => {
    const svc = createService({ logger: silentLogger, lifespan: async function* deps() { yield { up: true } } })
    svc.healthCheck('db', ({ state }) => state.up)
    svc.healthCheck('cache', () => {
      throw new Error('ECONNREFUSED')
    })
    svc.healthCheck('queue', () => false)
    expect(await svc.health()).toMatchObject({ status: 'unavailable', readiness: 'idle', checks: {} })
    await svc.start()
    const report = await svc.health()
    expect(report.status).toBe('unavailable')
    expect(report.checks.db).toMatchObject({ status: 'ok' })
    expect(report.checks.cache).toMatchObject({ status: 'error', error: 'ECONNREFUSED' })
    expect(report.checks.queue).toMatchObject({ status: 'error', error: 'check returned false' })
    await svc.stop()
  })

  it('fails a check that does not answer within 2 s and aborts its signal', async () => {
    const clock = new ManualClock()
    const svc = createService({ logger: silentLogger, clock })
    let aborted = false
    svc.healthCheck('slow', ({ signal }) => new Promise(() => signal.addEventListener('abort', () => (aborted = true))))
    await svc.start()
    const report = svc.health()
    await clock.advance(2_000)
    expect((await report).checks.slow).toMatchObject({ status: 'error', error: 'no answer within 2000 ms' })
    expect(aborted).toBe(true)
    await svc.stop()
  })

  it('refuses a duplicate check name', () => {
    const svc = createService({ logger: silentLogger })
    svc.healthCheck('db', () => true)
    expect(() => svc.healthCheck('db', () => true)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
  })
})
