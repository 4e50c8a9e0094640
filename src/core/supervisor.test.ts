import { describe, expect, it } from 'vitest'
import { createService } from '../service.js'
import { ManualClock } from '../testing/manual-clock.js'
import { deferred } from './deferred.js'
import type { EventMap } from './events.js'
import { silentLogger } from './logger.js'
import type { RunContext } from './run-context.js'
import { backoffDelay } from './supervisor.js'

const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

function setup(opts: { restarts?: number; within?: string } = {}) {
  const clock = new ManualClock()
  const svc = createService({
    logger: silentLogger,
    clock,
    random: () => 0.5, // jitter spread of exactly 1: delays are the bare backoff
    supervision: { intensity: { restarts: opts.restarts ?? 100, within: opts.within ?? '1h' } },
  })
  const restarts: EventMap['supervisor:child:restarting'][] = []
  const gaveUp: EventMap['supervisor:child:gave-up'][] = []
  svc.on('supervisor:child:restarting', (e) => restarts.push(e))
  svc.on('supervisor:child:gave-up', (e) => gaveUp.push(e))
  return { clock, svc, restarts, gaveUp }
}

/** A child that throws on every run and counts its runs. */
function crasher() {
  const state = { runs: 0 }
  return {
    state,
    fn: async function crasher() {
      state.runs++
      throw new Error(`crash ${state.runs}`)
    },
  }
}

describe('backoffDelay', () => {
  it('grows by the factor, caps at max, and spreads by the jitter', () => {
    const b = { initialMs: 1_000, maxMs: 10_000, factor: 2, jitter: 0.2 }
    expect([0, 1, 2, 3, 4, 5].map((n) => backoffDelay(b, n, () => 0.5))).toEqual([1_000, 2_000, 4_000, 8_000, 10_000, 10_000])
    expect(backoffDelay(b, 0, () => 0)).toBe(800)
    expect(backoffDelay(b, 0, () => 1)).toBe(1_200)
    expect(backoffDelay(b, 10, () => 1)).toBe(10_000)
  })
})

describe('Service.supervise', () => {
  it('restarts a crashing child with growing delays up to the cap', async () => {
    const { svc, clock, restarts } = setup()
    const child = crasher()
    svc.supervise('crasher', child.fn, { backoff: { initial: '1s', max: '5s' } })
    await svc.start()
    await clock.advance(0)
    for (const ms of [1_000, 2_000, 4_000, 5_000, 5_000]) await clock.advance(ms)
    expect(restarts.map((r) => r.delayMs)).toEqual([1_000, 2_000, 4_000, 5_000, 5_000, 5_000])
    expect(child.state.runs).toBe(6)
    const status = svc.supervision()[0]?.children[0]
    expect(status).toMatchObject({ name: 'crasher', state: 'restarting', restarts: 5, lastError: { message: 'crash 6' } })
    await svc.stop()
  })

  it('with restarts: 3, restarts 3 times inside the window and gives up on the 4th failure', async () => {
    const { svc, clock, gaveUp } = setup({ restarts: 3, within: '1m' })
    const child = crasher()
    let siblingAborted = false
    svc.supervise('crasher', child.fn, { backoff: { initial: '1s', max: '1s' } })
    svc.supervise('sibling', async function sibling(_: undefined, ctx: RunContext) {
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => ((siblingAborted = true), resolve())))
    })
    await svc.start()
    for (let i = 0; i < 5; i++) await clock.advance(1_000)
    expect(child.state.runs).toBe(4)
    expect(gaveUp).toHaveLength(1)
    expect(gaveUp[0]).toMatchObject({ supervisor: 'root', child: 'crasher', error: { code: 'ERR_SUPERVISOR_GAVE_UP' } })
    expect(siblingAborted).toBe(true)
    const health = await svc.health()
    expect(health.status).toBe('unavailable')
    expect(health.supervisors?.[0]?.state).toBe('gave-up')
    await svc.stop()
  })

  it('forgets restarts older than the window', async () => {
    const { svc, clock, gaveUp } = setup({ restarts: 2, within: '10s' })
    const child = crasher()
    svc.supervise('crasher', child.fn, { backoff: { initial: '6s', max: '6s' } })
    await svc.start()
    // Failures every 6 s: never more than 2 restarts inside any 10 s window.
    for (let i = 0; i < 6; i++) await clock.advance(6_000)
    expect(child.state.runs).toBe(7)
    expect(gaveUp).toEqual([])
    await svc.stop()
  })

  it('does not restart a transient child that returns, and restarts one that throws', async () => {
    const { svc, clock } = setup()
    let cleanRuns = 0
    let failingRuns = 0
    svc.supervise('clean', async function clean() { cleanRuns++ }, { restart: 'transient' })
    svc.supervise('failing', async function failing() { failingRuns++; throw new Error('x') }, { restart: 'transient', backoff: { initial: '1s' } })
    await svc.start()
    await clock.advance(10_000)
    expect(cleanRuns).toBe(1)
    expect(failingRuns).toBeGreaterThan(1)
    expect(svc.supervision()[0]?.children.find((c) => c.name === 'clean')?.state).toBe('done')
    await svc.stop()
  })

  it('never restarts a temporary child', async () => {
    const { svc, clock } = setup()
    const child = crasher()
    svc.supervise('once', child.fn, { restart: 'temporary' })
    await svc.start()
    await clock.advance(60_000)
    expect(child.state.runs).toBe(1)
    expect(svc.supervision()[0]?.children[0]?.state).toBe('failed')
    await svc.stop()
  })

  it('restarts a permanent child that returns only after its backoff, never in a hot loop', async () => {
    const { svc, clock } = setup()
    let runs = 0
    svc.supervise('returns', function returns() { runs++ }, { backoff: { initial: '1s' } })
    await svc.start()
    for (let i = 0; i < 20; i++) await turn()
    expect(runs).toBe(1)
    await clock.advance(1_000)
    expect(runs).toBe(2)
    await svc.stop()
  })

  it('starts a child added after start, and passes its input and attempt', async () => {
    const { svc } = setup()
    await svc.start()
    const seen = deferred<[string, number]>()
    svc.supervise('late', async function late(input: string, ctx) { seen.resolve([input, ctx.attempt]) }, { input: 'hello', restart: 'transient' })
    expect(await seen.promise).toEqual(['hello', 1])
    await svc.stop()
  })

  it('aborts each child with a ShutdownError at stop and abandons one that ignores it after its shutdown time', async () => {
    const { svc, clock } = setup()
    let reason: unknown
    svc.supervise('polite', async function polite(_: undefined, ctx: RunContext) {
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => ((reason = ctx.signal.reason), resolve())))
    })
    svc.supervise('deaf', async function deaf() { await new Promise(() => {}) }, { shutdown: '2s' })
    const abandoned: string[] = []
    svc.on('shutdown:abandoned', (e) => abandoned.push(e.step))
    await svc.start()
    await turn()
    const stopping = svc.stop()
    await clock.advance(2_000)
    await stopping
    expect(reason).toMatchObject({ code: 'ERR_SHUTDOWN' })
    expect(abandoned).toEqual(['supervisor'])
    expect(svc.supervision()[0]?.children.find((c) => c.name === 'polite')?.state).toBe('stopped')
  })

  it('reports uptime while a child runs', async () => {
    const { svc, clock } = setup()
    svc.supervise('steady', async function steady(_: undefined, ctx: RunContext) { await clock.sleep(3_600_000, ctx.signal) })
    await svc.start()
    await clock.advance(90_000)
    expect(svc.supervision()[0]?.children[0]).toMatchObject({ state: 'running', restarts: 0, uptimeMs: 90_000 })
    await svc.stop()
  })

  it('refuses a duplicate child name and an anonymous function without a name', () => {
    const { svc } = setup()
    svc.supervise('a', async function a() {})
    expect(() => svc.supervise('a', async function b() {})).toThrow(expect.objectContaining({ code: 'ERR_NAME_DUPLICATE' }))
    expect(() => svc.supervise(undefined as never, async () => {})).toThrow(expect.objectContaining({ code: 'ERR_NAME_REQUIRED' }))
  })
})

describe('Service.supervisor (groups)', () => {
  it('one-for-all restarts every sibling when one crashes', async () => {
    const { svc, clock } = setup()
    const runs = { a: 0, b: 0 }
    const crashA = deferred()
    const group = svc.supervisor({ name: 'pipeline', strategy: 'one-for-all', intensity: { restarts: 10, within: '1h' } })
    group.supervise('a', async function a(_: undefined, ctx: RunContext) {
      runs.a++
      if (runs.a === 1) await crashA.promise.then(() => { throw new Error('a broke') })
      else await clock.sleep(3_600_000, ctx.signal)
    }, { backoff: { initial: '1s' } })
    group.supervise('b', async function b(_: undefined, ctx: RunContext) {
      runs.b++
      await clock.sleep(3_600_000, ctx.signal)
    })
    await svc.start()
    await turn()
    expect(runs).toEqual({ a: 1, b: 1 })
    crashA.resolve()
    await clock.advance(0)
    expect(group.status().children.map((c) => c.state)).toEqual(['restarting', 'restarting'])
    await clock.advance(1_000)
    expect(runs).toEqual({ a: 2, b: 2 })
    expect(group.status().children.map((c) => c.restarts)).toEqual([1, 1])
    await svc.stop()
  })

  it('one-for-one restarts only the child that crashed', async () => {
    const { svc, clock } = setup()
    const runs = { a: 0, b: 0 }
    const group = svc.supervisor({ name: 'independent', intensity: { restarts: 10 } })
    group.supervise('a', async function a() { runs.a++; throw new Error('x') }, { backoff: { initial: '1s', max: '1s' } })
    group.supervise('b', async function b(_: undefined, ctx: RunContext) { runs.b++; await clock.sleep(3_600_000, ctx.signal) })
    await svc.start()
    await clock.advance(3_000)
    expect(runs).toEqual({ a: 4, b: 1 })
    await svc.stop()
  })

  it("asks the service to stop when a group with onGiveUp: 'stop-service' gives up", async () => {
    const { svc, clock } = setup()
    const requested: Error[] = []
    svc.on('service:stop-requested', ({ reason }) => requested.push(reason))
    svc.supervisor({ name: 'critical', intensity: { restarts: 0 }, onGiveUp: 'stop-service' }).supervise('c', crasher().fn)
    await svc.start()
    await clock.advance(0)
    expect(requested).toHaveLength(1)
    expect(requested[0]).toMatchObject({ code: 'ERR_SUPERVISOR_GAVE_UP' })
    await svc.stop()
  })

  it('refuses a bad strategy and a duplicate group name', () => {
    const { svc } = setup()
    expect(() => svc.supervisor({ name: 'x', strategy: 'rest-for-one' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
    svc.supervisor({ name: 'g' })
    expect(() => svc.supervisor({ name: 'g' })).toThrow(expect.objectContaining({ code: 'ERR_NAME_DUPLICATE' }))
  })
})
