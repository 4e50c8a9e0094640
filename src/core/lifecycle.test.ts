import { describe, expect, it } from 'vitest'
import { ManualClock } from '../testing/manual-clock.js'
import { Events } from './events.js'
import { Lifecycle, type LifespanOption } from './lifecycle.js'
import { silentLogger } from './logger.js'

function setup(option: LifespanOption) {
  const clock = new ManualClock()
  const events = new Events((error) => {
    throw error
  })
  const stopped: string[] = []
  events.on('lifespan:stopped', ({ name }) => stopped.push(name))
  const lifecycle = new Lifecycle(option, { clock, log: silentLogger, events })
  return { clock, events, lifecycle, stopped }
}

describe('Lifecycle.start', () => {
  it('merges the yields of every lifespan in order', async () => {
    const order: string[] = []
    const { lifecycle } = setup([
      async function* db() {
        order.push('db')
        yield { db: 1 }
      },
      { name: 'cache', run: async function* () { order.push('cache'); yield { cache: 2 } } },
      async function* nothing() {
        order.push('nothing')
        yield
      },
    ])
    expect(await lifecycle.start(1_000)).toEqual({ db: 1, cache: 2 })
    expect(order).toEqual(['db', 'cache', 'nothing'])
    expect(lifecycle.names).toEqual(['db', 'cache', 'nothing'])
  })

  it('names an anonymous lifespan by its index', () => {
    const { lifecycle } = setup([async function* () { yield }])
    expect(lifecycle.names).toEqual(['lifespan[0]'])
  })

  it('tears down the started lifespans in reverse and names the one that failed', async () => {
    const log: string[] = []
    const { lifecycle } = setup([
      async function* first() {
        log.push('first up')
        try { yield { a: 1 } } finally { log.push('first down') }
      },
      async function* second() {
        log.push('second up')
        throw new Error('connection refused')
      },
      async function* third() {
        log.push('third up')
        yield
      },
    ])
    const error = await lifecycle.start(1_000).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'ERR_LIFESPAN_STARTUP', lifespan: 'second' })
    expect((error as Error).message).toBe('Lifespan "second" failed to start: connection refused')
    expect(((error as Error).cause as Error).message).toBe('connection refused')
    expect(log).toEqual(['first up', 'second up', 'first down'])
  })

  it('fails with ERR_LIFESPAN_TIMEOUT, aborts the slow lifespan and tears it down once it yields', async () => {
    const log: string[] = []
    let release!: () => void
    let aborted: unknown
    const { lifecycle, clock } = setup([
      async function* fast() {
        try { yield } finally { log.push('fast down') }
      },
      async function* slow({ signal }) {
        signal.addEventListener('abort', () => (aborted = signal.reason))
        await new Promise<void>((r) => (release = r))
        try { yield } finally { log.push('slow down') }
      },
    ])
    const started = lifecycle.start(5_000).catch((e: unknown) => e)
    await clock.advance(5_000)
    const error = await started
    expect(error).toMatchObject({ code: 'ERR_LIFESPAN_TIMEOUT', lifespan: 'slow' })
    expect(aborted).toMatchObject({ code: 'ERR_LIFESPAN_TIMEOUT' })
    expect(log).toEqual(['fast down'])
    release()
    await clock.advance(0)
    expect(log).toEqual(['fast down', 'slow down'])
  })

  it('refuses a lifespan that returns without yielding', async () => {
    const { lifecycle } = setup(async function* noYield() {})
    await expect(lifecycle.start(1_000)).rejects.toMatchObject({ code: 'ERR_LIFESPAN_NO_YIELD', lifespan: 'noYield' })
  })

  it('refuses a yield that is not an object, and still tears that lifespan down', async () => {
    const log: string[] = []
    const { lifecycle } = setup(async function* bad() {
      try { yield 42 as never } finally { log.push('bad down') }
    })
    await expect(lifecycle.start(1_000)).rejects.toMatchObject({ code: 'ERR_LIFESPAN_INVALID_STATE', lifespan: 'bad' })
    expect(log).toEqual(['bad down'])
  })

  it('refuses two lifespans yielding the same key', async () => {
    const { lifecycle } = setup([async function* a() { yield { db: 1 } }, async function* b() { yield { db: 2 } }])
    await expect(lifecycle.start(1_000)).rejects.toMatchObject({ code: 'ERR_LIFESPAN_DUPLICATE', lifespan: 'b' })
  })

  it('refuses two lifespans with one name, and a lifespan that is not a generator function', () => {
    expect(() => setup([async function* a() { yield }, { name: 'a', run: async function* () { yield } }])).toThrow(
      expect.objectContaining({ code: 'ERR_LIFESPAN_DUPLICATE' }),
    )
    expect(() => setup([42 as never])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('lifespan[0]') }))
  })
})

describe('Lifecycle.stop', () => {
  it('resumes each lifespan in reverse; one that throws does not stop the others', async () => {
    const log: string[] = []
    const { lifecycle, stopped } = setup([
      async function* a() { try { yield } finally { log.push('a') } },
      async function* b() { try { yield } finally { throw new Error('close failed') } },
      async function* c() { try { yield } finally { log.push('c') } },
    ])
    await lifecycle.start(1_000)
    await lifecycle.stop(1_000)
    expect(log).toEqual(['c', 'a'])
    expect(stopped).toEqual(['c', 'b', 'a'])
  })

  it('aborts the lifespan signal with a ShutdownError when its teardown begins', async () => {
    let reason: unknown
    const { lifecycle } = setup(async function* watcher({ signal }) {
      try { yield } finally { reason = signal.reason }
    })
    await lifecycle.start(1_000)
    await lifecycle.stop(1_000)
    expect(reason).toMatchObject({ code: 'ERR_SHUTDOWN' })
  })

  it('abandons a teardown that outlives the deadline, reports it, and still tears down the rest', async () => {
    const log: string[] = []
    const { lifecycle, clock, events } = setup([
      async function* first() { try { yield } finally { log.push('first') } },
      async function* hangs() { try { yield } finally { await new Promise(() => {}) } },
    ])
    const abandoned: string[] = []
    events.on('shutdown:abandoned', ({ detail }) => abandoned.push(detail))
    await lifecycle.start(1_000)
    const stopping = lifecycle.stop(2_000)
    await clock.advance(2_000)
    await stopping
    expect(abandoned).toEqual(['lifespan "hangs" teardown still running at the shutdown deadline'])
    expect(log).toEqual(['first'])
  })

  it('closes a lifespan that yields twice instead of hanging', async () => {
    const log: string[] = []
    const { lifecycle } = setup(async function* twice() {
      try {
        yield
        yield
        log.push('never')
      } finally {
        log.push('closed')
      }
    })
    await lifecycle.start(1_000)
    await lifecycle.stop(1_000)
    expect(log).toEqual(['closed'])
  })

  it('is a no-op before start and when called twice', async () => {
    const log: string[] = []
    const { lifecycle } = setup(async function* once() { try { yield } finally { log.push('down') } })
    await lifecycle.stop(1_000)
    await lifecycle.start(1_000)
    await lifecycle.stop(1_000)
    await lifecycle.stop(1_000)
    expect(log).toEqual(['down'])
  })
})
