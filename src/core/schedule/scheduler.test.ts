import { describe, expect, it } from 'vitest'
import { createService } from '../../service.js'
import { ManualClock } from '../../testing/manual-clock.js'
import type { Clock } from '../clock.js'
import { deferred } from '../deferred.js'
import type { EventMap } from '../events.js'
import { silentLogger } from '../logger.js'
import { cronTrigger } from './cron.js'
import { intervalTrigger } from './interval.js'
import { Scheduler } from './scheduler.js'
import type { RunContext } from '../run-context.js'

const T0 = Date.parse('2026-03-01T00:00:00Z')

/**
 * A ManualClock whose sleeps can be held back: `lateBy` wakes every sleeper that many ms after its
 * time, and `blockUntil` wakes none before that instant, which is how a blocked event loop or a
 * stopped process looks to the scheduler.
 */
function setup(opts: { lateBy?: number } = {}) {
  const base = new ManualClock(T0)
  let blockUntil = 0
  const clock: Clock & { advance: ManualClock['advance']; blockUntil(ms: number): void } = {
    now: () => base.now(),
    monotonic: () => base.monotonic(),
    sleep: (ms, signal) => base.sleep(Math.max(ms + (opts.lateBy ?? 0), blockUntil - base.now()), signal),
    advance: (by) => base.advance(by),
    blockUntil: (ms) => void (blockUntil = ms),
  }
  const svc = createService({ logger: silentLogger, clock, random: () => 0.5 })
  const events: Partial<{ [K in keyof EventMap]: EventMap[K][] }> = {}
  for (const name of ['schedule:fired', 'schedule:missed', 'schedule:skipped', 'schedule:coalesced', 'job:failed'] as const) {
    const list: unknown[] = []
    ;(events as Record<string, unknown[]>)[name] = list
    svc.on(name, (e) => list.push(e))
  }
  return { base, clock, svc, events: events as { [K in keyof EventMap]: EventMap[K][] } }
}

describe('interval schedules', () => {
  it('do not drift: with every wake 7 ms late and each run taking 3 ms, the 1,000th slot is start + 1,000 intervals', async () => {
    const { svc, base } = setup({ lateBy: 7 })
    const slots: number[] = []
    const lates: number[] = []
    svc.every(1_000, async function tick(_: undefined, ctx: RunContext) {
      slots.push((ctx.slot as Date).getTime())
      lates.push(ctx.late as number)
      await base.sleep(3)
    })
    await svc.start()
    await base.advance(1_000 * 1_000 + 10)
    expect(slots).toHaveLength(1_000)
    expect(slots[999]).toBe(T0 + 1_000 * 1_000)
    expect(slots.every((slot, i) => slot === T0 + (i + 1) * 1_000)).toBe(true)
    expect(new Set(lates)).toEqual(new Set([7]))
    await svc.stop()
  })

  it('fire first at start + interval, or at start with runOnStart', async () => {
    const { svc, base } = setup()
    const fired: Record<string, number[]> = { plain: [], eager: [] }
    svc.every('5m', async function plain(_: undefined, ctx) { fired.plain?.push((ctx.slot as Date).getTime()) })
    svc.every('5m', async function eager(_: undefined, ctx) { fired.eager?.push((ctx.slot as Date).getTime()) }, { runOnStart: true })
    await svc.start()
    await base.advance('5m')
    expect(fired).toEqual({ plain: [T0 + 300_000], eager: [T0, T0 + 300_000] })
    await svc.stop()
  })

  it('skip and count a fire while the previous run is still going (maxInstances 1)', async () => {
    const { svc, base, events } = setup()
    let runs = 0
    svc.every(1_000, async function slow(_: undefined, ctx) {
      runs++
      await base.sleep(2_500, ctx.signal)
    })
    await svc.start()
    await base.advance(4_000)
    // Runs start at 1 s and 4 s; the fires at 2 s and 3 s find the first still running.
    expect(runs).toBe(2)
    expect(events['schedule:skipped'].map((e) => e.slot.getTime())).toEqual([T0 + 2_000, T0 + 3_000])
    expect(svc.schedules.get('slow')).toMatchObject({ runs: 2, skipped: 2 })
    // The run started at 4 s finishes at 6.5 s, before the shutdown's soft deadline.
    const stopping = svc.stop()
    await base.advance(2_500)
    await stopping
  })

  it('allow overlap up to maxInstances', async () => {
    const { svc, base, events } = setup()
    let runs = 0
    svc.every(1_000, async function slow(_: undefined, ctx) { runs++; await base.sleep(2_500, ctx.signal) }, { maxInstances: 3 })
    await svc.start()
    await base.advance(4_000)
    expect(runs).toBe(4)
    expect(events['schedule:skipped']).toEqual([])
    const stopping = svc.stop()
    await base.advance(2_500)
    await stopping
  })

  it('keep firing after a run throws, and count the failure', async () => {
    const { svc, base, events } = setup()
    let runs = 0
    svc.every(1_000, async function flaky() {
      runs++
      if (runs === 1) throw new Error('upstream 500')
    })
    await svc.start()
    await base.advance(3_000)
    expect(runs).toBe(3)
    expect(events['job:failed']).toHaveLength(1)
    expect(svc.schedules.get('flaky')).toMatchObject({ runs: 3, failures: 1, lastRun: { outcome: 'succeeded' } })
    const text = await svc.metrics.prometheus()
    expect(text).toContain('afterwork_schedule_runs_total{schedule="flaky"} 3')
    expect(text).toContain('afterwork_schedule_failures_total{schedule="flaky"} 1')
    await svc.stop()
  })
})

describe('misfires', () => {
  it('run once a fire that is late within the grace', async () => {
    const { svc, clock, base, events } = setup()
    const lates: number[] = []
    svc.every('1h', async function hourly(_: undefined, ctx) { lates.push(ctx.late as number) }, { misfireGrace: '60s' })
    await svc.start()
    clock.blockUntil(T0 + 3_600_000 + 30_000)
    await base.advance('2h')
    expect(lates).toEqual([30_000, 0])
    expect(events['schedule:missed']).toEqual([])
    await svc.stop()
  })

  it('skip a fire that is later than the grace, and count it as missed', async () => {
    const { svc, clock, base, events } = setup()
    let runs = 0
    svc.every('1h', async function hourly() { runs++ }, { misfireGrace: '60s' })
    await svc.start()
    clock.blockUntil(T0 + 3_600_000 + 90_000)
    await base.advance(3_600_000 + 90_000)
    expect(runs).toBe(0)
    expect(events['schedule:missed']).toEqual([{ name: 'hourly', count: 1 }])
    await base.advance('1h')
    expect(runs).toBe(1)
    await svc.stop()
  })

  it('coalesce five missed fires into one run for the latest slot', async () => {
    const { svc, clock, base, events } = setup()
    const slots: number[] = []
    svc.every(1_000, async function tick(_: undefined, ctx) { slots.push((ctx.slot as Date).getTime()) })
    clock.blockUntil(T0 + 5_500)
    await svc.start()
    await base.advance(5_500)
    expect(slots).toEqual([T0 + 5_000])
    expect(events['schedule:coalesced']).toEqual([{ name: 'tick', count: 5 }])
    await svc.stop()
  })

  it('run every missed fire within the grace when coalesce is off', async () => {
    const { svc, clock, base } = setup()
    const slots: number[] = []
    svc.every(1_000, async function tick(_: undefined, ctx) { slots.push((ctx.slot as Date).getTime()) }, { coalesce: false, maxInstances: 5, misfireGrace: '2500ms' })
    clock.blockUntil(T0 + 5_500)
    await svc.start()
    await base.advance(5_500)
    // Slots 1-2 s are more than 2.5 s late at 5.5 s: missed. Slots 3-5 s run.
    expect(slots).toEqual([T0 + 3_000, T0 + 4_000, T0 + 5_000])
    expect(svc.schedules.get('tick').missed).toBe(2)
    await svc.stop()
  })
})

describe('schedule control', () => {
  it('pause stops fires; resume skips the slots missed while paused', async () => {
    const { svc, base } = setup()
    const slots: number[] = []
    svc.every(1_000, async function tick(_: undefined, ctx) { slots.push((ctx.slot as Date).getTime()) })
    await svc.start()
    await base.advance(1_000)
    expect(svc.schedules.pause('tick')).toMatchObject({ paused: true, nextRun: null })
    await base.advance(5_000)
    svc.schedules.resume('tick')
    await base.advance(1_000)
    expect(slots).toEqual([T0 + 1_000, T0 + 7_000])
    await svc.stop()
  })

  it('runNow runs at once with a slot of now, and respects maxInstances', async () => {
    const { svc, base } = setup()
    const gate = deferred()
    const slots: number[] = []
    svc.every('1h', async function report(_: undefined, ctx) { slots.push((ctx.slot as Date).getTime()); await gate.promise })
    await svc.start()
    await base.advance(10_000)
    expect(svc.schedules.runNow('report')).toBe(true)
    expect(svc.schedules.runNow('report')).toBe(false)
    gate.resolve()
    await base.advance(0)
    expect(slots).toEqual([T0 + 10_000])
    await svc.stop()
  })

  it('remove stops a schedule; unknown names fail with ERR_SCHEDULE_NOT_FOUND', async () => {
    const { svc, base } = setup()
    let runs = 0
    svc.every(1_000, async function tick() { runs++ })
    await svc.start()
    await base.advance(1_000)
    svc.schedules.remove('tick')
    await base.advance(5_000)
    expect(runs).toBe(1)
    expect(() => svc.schedules.pause('tick')).toThrow(expect.objectContaining({ code: 'ERR_SCHEDULE_NOT_FOUND' }))
    await svc.stop()
  })

  it('aborts a run that outlives its timeout', async () => {
    const { svc, base } = setup()
    let reason: unknown
    svc.every('1m', async function stuck(_: undefined, ctx) {
      await base.sleep(3_600_000, ctx.signal).catch((e: unknown) => { reason = e; throw e })
    }, { timeout: '10s' })
    await svc.start()
    await base.advance('1m')
    await base.advance('10s')
    expect(reason).toMatchObject({ code: 'ERR_TIMEOUT' })
    expect(svc.schedules.get('stuck')).toMatchObject({ failures: 1, lastRun: { outcome: 'failed' } })
    await svc.stop()
  })

  it('keeps counters per schedule when schedules are defined alike (same function and options)', async () => {
    const { svc, base } = setup()
    const gate = deferred()
    async function shared(input: string) {
      if (input === 'fails') throw new Error('no')
      if (input === 'slow') await gate.promise
    }
    for (const input of ['fails', 'slow', 'fine']) svc.every('1m', shared, { name: input, input })
    await svc.start()
    await base.advance('2m')
    expect(svc.schedules.list().map(({ name, runs, failures, skipped, running }) => ({ name, runs, failures, skipped, running }))).toEqual([
      { name: 'fails', runs: 2, failures: 2, skipped: 0, running: 0 },
      { name: 'fine', runs: 2, failures: 0, skipped: 0, running: 0 },
      { name: 'slow', runs: 1, failures: 0, skipped: 1, running: 1 },
    ])
    gate.resolve()
    await svc.stop()
  })

  it('keeps a removed durable schedule out even when its store answers after remove()', async () => {
    const clock = new ManualClock(T0)
    const scheduler = new Scheduler({ clock, log: silentLogger, events: createService({ logger: silentLogger }).events, random: () => 0 })
    const lastSlot = deferred<number | null>()
    const fired: number[] = []
    const producer = { fire: async (slot: number) => (fired.push(slot), true), lastSlot: () => lastSlot.promise }
    scheduler.add(cronTrigger('* * * * *'), () => {}, { name: 'durable' }, producer)
    const started = scheduler.start()
    scheduler.remove('durable')
    lastSlot.resolve(null)
    await started
    await clock.advance('5m')
    expect(fired).toEqual([])
    await scheduler.stop(1_000)
  })

  it('reschedule takes a trigger, or a function that anchors one at now', async () => {
    const { svc, base } = setup()
    const slots: number[] = []
    svc.every('1h', async function report(_: undefined, ctx) { slots.push((ctx.slot as Date).getTime()) })
    await svc.start()
    await base.advance('10s')
    expect(svc.schedules.reschedule('report', cronTrigger('0 * * * *'))).toMatchObject({ kind: 'cron', nextRun: { utc: '2026-03-01T01:00:00.000Z' } })
    svc.schedules.reschedule('report', (anchor) => intervalTrigger('1m', { anchor }))
    await base.advance('1m')
    expect(slots).toEqual([T0 + 70_000])
    await svc.stop()
  })

  it('adds jitter to the run time but not to the slot', async () => {
    const { svc, base } = setup()
    const seen: { slot: number; late: number }[] = []
    svc.every('1m', async function jittery(_: undefined, ctx) { seen.push({ slot: (ctx.slot as Date).getTime(), late: ctx.late as number }) }, { jitter: '10s' })
    await svc.start()
    await base.advance('64s')
    expect(seen).toEqual([])
    await base.advance('1s')
    // random() is 0.5 in this setup: half of the 10 s jitter.
    expect(seen).toEqual([{ slot: T0 + 60_000, late: 5_000 }])
    await svc.stop()
  })
})

describe('schedule definitions', () => {
  it('fail at definition for a bad cron expression, time zone or a duplicate name, naming it', () => {
    const { svc } = setup()
    expect(() => svc.cron('61 * * * *', async function bad() {})).toThrow(expect.objectContaining({ code: 'ERR_SCHEDULE_INVALID_CRON', message: expect.stringContaining('61 * * * *') }))
    expect(() => svc.cron('0 9 * * *', async function tz() {}, { timezone: 'Mars/Olympus' })).toThrow(
      expect.objectContaining({ code: 'ERR_SCHEDULE_INVALID_TIMEZONE', message: expect.stringContaining('Mars/Olympus') }),
    )
    svc.every('5m', async function cleanup() {})
    expect(() => svc.every('1h', async function cleanup() {})).toThrow(expect.objectContaining({ code: 'ERR_NAME_DUPLICATE', message: expect.stringContaining('cleanup') }))
    expect(() => svc.every('1h', async () => {})).toThrow(expect.objectContaining({ code: 'ERR_NAME_REQUIRED' }))
  })

  it('list each schedule with its trigger and next run in its time zone and in UTC', async () => {
    const { svc } = setup()
    svc.cron('0 9 * * *', async function dailyDigest() {}, { timezone: 'Asia/Kolkata' })
    svc.every('5m', async function sessionCleanup() {})
    await svc.start()
    const list = svc.schedules.list()
    expect(list.map((s) => s.name)).toEqual(['dailyDigest', 'sessionCleanup'])
    expect(list[0]).toMatchObject({
      kind: 'cron',
      timezone: 'Asia/Kolkata',
      nextRun: { local: '2026-03-01T09:00:00+05:30', utc: '2026-03-01T03:30:00.000Z' },
      lastRun: null,
      runs: 0,
    })
    expect(list[1]).toMatchObject({ kind: 'interval', trigger: 'every 5m', nextRun: { utc: '2026-03-01T00:05:00.000Z' } })
    await svc.stop()
  })

  it('runs a one-off schedule once', async () => {
    const { svc, base } = setup()
    let runs = 0
    svc.at(T0 + 30_000, async function once() { runs++ })
    await svc.start()
    await base.advance('1h')
    expect(runs).toBe(1)
    expect(svc.schedules.get('once').nextRun).toBeNull()
    await svc.stop()
  })

  it('aborts a run still going 1 s before the shutdown deadline, not before', async () => {
    const { svc, base } = setup()
    let reason: unknown
    svc.every('1m', async function long(_: undefined, ctx) {
      await base.sleep(3_600_000, ctx.signal).catch((e: unknown) => { reason = e })
    })
    await svc.start()
    await base.advance('1m')
    const stopping = svc.stop()
    // shutdown.work is 8 s: the signal aborts at 7 s.
    await base.advance(6_999)
    expect(reason).toBeUndefined()
    await base.advance(1)
    await stopping
    expect(reason).toMatchObject({ code: 'ERR_SHUTDOWN' })
  })

  it('gives a run that reads ctx.signal only after its timeout an aborted signal, and counts it failed', async () => {
    const { svc, base } = setup()
    let seen: { aborted: boolean; reason: unknown } | undefined
    svc.every('1m', async function late(_: undefined, ctx) {
      await base.sleep(15_000)
      seen = { aborted: ctx.signal.aborted, reason: ctx.signal.reason }
      ctx.signal.throwIfAborted()
    }, { timeout: '10s' })
    await svc.start()
    await base.advance('1m')
    await base.advance('15s')
    expect(seen).toMatchObject({ aborted: true, reason: { code: 'ERR_TIMEOUT' } })
    expect(svc.schedules.get('late')).toMatchObject({ failures: 1, lastRun: { outcome: 'failed' } })
    await svc.stop()
  })

  it('aborts at shutdown the run of a schedule removed while it ran', async () => {
    const { svc, base } = setup()
    let reason: unknown
    svc.every('1m', async function orphan(_: undefined, ctx) {
      await base.sleep(3_600_000, ctx.signal).catch((e: unknown) => { reason = e })
    })
    await svc.start()
    await base.advance('1m')
    svc.schedules.remove('orphan')
    const stopping = svc.stop()
    await base.advance(7_000)
    await stopping
    expect(reason).toMatchObject({ code: 'ERR_SHUTDOWN' })
  })

  it('lets a run that ends within the shutdown time finish with its signal untouched', async () => {
    const { svc, base } = setup()
    let finished: { aborted: boolean } | undefined
    svc.every('1m', async function report(_: undefined, ctx) {
      await base.sleep(3_000, ctx.signal)
      finished = { aborted: ctx.signal.aborted }
    })
    await svc.start()
    await base.advance('1m')
    const stopping = svc.stop()
    await base.advance(3_000)
    await stopping
    expect(finished).toEqual({ aborted: false })
  })
})
