import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { ManualClock } from '../testing/manual-clock.js'
import { deferred } from './deferred.js'
import { Events, type EventMap } from './events.js'
import { Jobs } from './jobs.js'
import { silentLogger } from './logger.js'
import type { RunContext } from './run-context.js'

function setup(opts: { retention?: string; maxFinished?: number } = {}) {
  const clock = new ManualClock(Date.parse('2026-03-01T00:00:00Z'))
  const events = new Events((error) => {
    throw error
  })
  const abandoned: EventMap['shutdown:abandoned'][] = []
  events.on('shutdown:abandoned', (e) => abandoned.push(e))
  const jobs = new Jobs({ clock, log: silentLogger, events, ...opts })
  return { clock, events, jobs, abandoned }
}

/** A handler the test drives: each run waits for the test to finish it. */
function controlled<R>() {
  const runs: { input: unknown; ctx: RunContext; finish: (value: R) => void; fail: (error: unknown) => void }[] = []
  async function controlledJob(input: unknown, ctx: RunContext): Promise<R> {
    const gate = deferred<R>()
    runs.push({ input, ctx, finish: gate.resolve, fail: gate.reject })
    return gate.promise
  }
  return { runs, handler: controlledJob }
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

describe('Jobs.start', () => {
  it('returns a UUIDv7 id at once; the job runs, reports progress and keeps its result', async () => {
    const { jobs, clock } = setup()
    const { runs, handler } = controlled<{ rows: number }>()
    const report = jobs.define(handler, { name: 'report' })
    const id = await report.start({ from: 'jan' })
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    await turn()
    expect(report.get(id)).toMatchObject({ id, name: 'report', state: 'running', attempt: 1, progress: { fraction: 0 } })
    runs[0]?.ctx.progress(0.5, 'half way')
    expect(report.get(id)?.progress).toEqual({ fraction: 0.5, message: 'half way' })
    await clock.advance(1_500)
    runs[0]?.finish({ rows: 10 })
    const done = await report.wait(id)
    expect(done).toMatchObject({ state: 'succeeded', result: { rows: 10 }, durationMs: 1_500, progress: { fraction: 1, message: 'half way' } })
    expect(done.finishedAt).toBe('2026-03-01T00:00:01.500Z')
    expect(runs[0]?.input).toEqual({ from: 'jan' })
  })

  it('keeps a failure with its error', async () => {
    const { jobs } = setup()
    const failing = jobs.define(async function failing() {
      throw new TypeError('bad row 7')
    })
    const id = await failing.start(undefined)
    expect(await failing.wait(id)).toMatchObject({ state: 'failed', error: { name: 'TypeError', message: 'bad row 7' } })
  })

  it('validates the input against its schema and stores nothing when it is wrong', async () => {
    const { jobs } = setup()
    const kind = jobs.define(async function typed(input: { n: number }) { return input.n }, { schema: z.object({ n: z.number() }) })
    await expect(kind.start({ n: 'x' } as never)).rejects.toMatchObject({ code: 'ERR_VALIDATION', issues: [{ path: 'n' }] })
    expect(jobs.list()).toEqual([])
  })

  it('runs at most `concurrency` at once and starts waiting jobs in order', async () => {
    const { jobs } = setup()
    const { runs, handler } = controlled<number>()
    const kind = jobs.define(handler, { name: 'limited', concurrency: 2, maxQueued: 1 })
    const ids = [await kind.start(1), await kind.start(2), await kind.start(3)]
    await turn()
    expect(ids.map((id) => kind.get(id)?.state)).toEqual(['running', 'running', 'queued'])
    await expect(kind.start(4)).rejects.toMatchObject({ code: 'ERR_JOB_FULL' })
    runs[0]?.finish(1)
    await turn()
    expect(kind.get(ids[2] as string)?.state).toBe('running')
    expect(runs.map((r) => r.input)).toEqual([1, 2, 3])
  })

  it('refuses duplicate and anonymous kinds', () => {
    const { jobs } = setup()
    jobs.define(async function same() {})
    expect(() => jobs.define(async function same() {})).toThrow(expect.objectContaining({ code: 'ERR_NAME_DUPLICATE' }))
    expect(() => jobs.define(async () => {})).toThrow(expect.objectContaining({ code: 'ERR_NAME_REQUIRED' }))
    expect(() => jobs.define(async function c() {}, { concurrency: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
  })
})

describe('Jobs.cancel', () => {
  it('reads cancelling until the handler stops, then cancelled; a second cancel says finished', async () => {
    const { jobs } = setup()
    const kind = jobs.define(async function cooperative(_: undefined, ctx: RunContext) {
      await new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)))
    })
    const id = await kind.start(undefined)
    await turn()
    expect(kind.cancel(id)).toBe('cancelling')
    expect(kind.cancel(id)).toBe('cancelling')
    const final = await kind.wait(id)
    expect(final).toMatchObject({ state: 'cancelled', error: { code: 'ERR_JOB_CANCELLED' } })
    expect(kind.cancel(id)).toBe('finished')
  })

  it('stays cancelling while a handler ignores its signal', async () => {
    const { jobs } = setup()
    const { runs, handler } = controlled<string>()
    const kind = jobs.define(handler, { name: 'stubborn' })
    const id = await kind.start(undefined)
    await turn()
    kind.cancel(id)
    await turn()
    expect(kind.get(id)?.state).toBe('cancelling')
    expect(runs[0]?.ctx.signal.aborted).toBe(true)
    runs[0]?.finish('done anyway')
    expect((await kind.wait(id)).state).toBe('succeeded')
  })

  it('cancels a queued job at once', async () => {
    const { jobs } = setup()
    const { handler } = controlled<void>()
    const kind = jobs.define(handler, { name: 'one', concurrency: 1 })
    await kind.start(undefined)
    const queued = await kind.start(undefined)
    expect(kind.cancel(queued)).toBe('cancelled')
    expect(kind.get(queued)?.state).toBe('cancelled')
  })

  it('answers not_found for an unknown id, and a kind only finds its own jobs', async () => {
    const { jobs } = setup()
    const a = jobs.define(async function a() {})
    const b = jobs.define(async function b() {})
    const id = await a.start(undefined)
    expect(jobs.cancel('nope')).toBe('not_found')
    expect(b.get(id)).toBeUndefined()
    expect(b.cancel(id)).toBe('not_found')
    await expect(jobs.wait('nope')).rejects.toMatchObject({ code: 'ERR_JOB_NOT_FOUND' })
  })
})

describe('Jobs timeout and retention', () => {
  it('fails a job that outlives its timeout with ERR_TIMEOUT', async () => {
    const { jobs, clock } = setup()
    const kind = jobs.define(
      async function slow(_: undefined, ctx: RunContext) {
        await clock.sleep(60_000, ctx.signal)
      },
      { timeout: '5s' },
    )
    const id = await kind.start(undefined)
    await clock.advance(5_000)
    expect(await kind.wait(id)).toMatchObject({ state: 'failed', error: { code: 'ERR_TIMEOUT' } })
  })

  it('forgets a finished job after the retention time, and never calls it complete', async () => {
    const { jobs, clock } = setup({ retention: '1h' })
    const kind = jobs.define(async function quick() { return 1 })
    const id = await kind.start(undefined)
    await kind.wait(id)
    await clock.advance(3_599_999)
    expect(kind.get(id)?.state).toBe('succeeded')
    await clock.advance(1)
    expect(kind.get(id)).toBeUndefined()
    expect(jobs.list()).toEqual([])
  })

  it('keeps at most maxFinished finished jobs, dropping the oldest', async () => {
    const { jobs } = setup({ maxFinished: 2 })
    const kind = jobs.define(async function quick(n: number) { return n })
    const ids: string[] = []
    for (let i = 0; i < 3; i++) {
      const id = await kind.start(i)
      ids.push(id)
      await kind.wait(id)
    }
    expect(kind.get(ids[0] as string)).toBeUndefined()
    expect(kind.list().map((s) => s.result)).toEqual([2, 1])
    expect(jobs.counts()).toMatchObject({ succeeded: 2 })
  })
})

describe('Jobs.stop', () => {
  it('cancels waiting jobs, lets running ones finish, and refuses new ones', async () => {
    const { jobs } = setup()
    const { runs, handler } = controlled<number>()
    const kind = jobs.define(handler, { name: 'work', concurrency: 1 })
    const running = await kind.start(1)
    const waiting = await kind.start(2)
    await turn()
    const stopping = jobs.stop(10_000)
    expect(kind.get(waiting)?.state).toBe('cancelled')
    await expect(kind.start(3)).rejects.toMatchObject({ code: 'ERR_SERVICE_STOPPED' })
    runs[0]?.finish(1)
    await stopping
    expect(kind.get(running)?.state).toBe('succeeded')
  })

  it('aborts running jobs at the deadline and reports the ones that ignore it', async () => {
    const { jobs, clock, abandoned } = setup()
    const cooperative = jobs.define(async function cooperative(_: undefined, ctx: RunContext) {
      await clock.sleep(3_600_000, ctx.signal)
    })
    const { handler } = controlled<void>()
    const stubborn = jobs.define(handler, { name: 'stubborn' })
    const a = await cooperative.start(undefined)
    const b = await stubborn.start(undefined)
    await turn()
    const stopping = jobs.stop(5_000, 1_000)
    await clock.advance(5_000)
    expect(cooperative.get(a)).toMatchObject({ state: 'cancelled', error: { code: 'ERR_SHUTDOWN' } })
    await clock.advance(1_000)
    await stopping
    expect(stubborn.get(b)?.state).toBe('cancelling')
    expect(abandoned.map((e) => e.step)).toEqual(['jobs'])
  })
})
