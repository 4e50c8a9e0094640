import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { silentLogger } from '../core/logger.js'
import { memory } from '../drivers/memory/driver.js'
import { createService } from '../service.js'
import { ManualClock } from '../testing/manual-clock.js'

const T0 = Date.parse('2026-03-01T00:00:00Z')

function replica(clock: ManualClock, driver: ReturnType<typeof memory>, ran: string[], who: string) {
  const svc = createService({ logger: silentLogger, clock, queue: driver, random: () => 0.5 })
  const digest = svc.task('digest', { schema: z.object({}) }, async (_p, ctx) => void ran.push(`${who} ${ctx.id}`))
  svc.every('1m', digest, { name: 'digest-every-minute', misfireGrace: '5m' })
  return svc
}

describe('schedules of durable tasks', () => {
  it('fire each slot once across processes sharing the store', async () => {
    const clock = new ManualClock(T0)
    const driver = memory()
    const ran: string[] = []
    const a = replica(clock, driver, ran, 'a')
    const b = replica(clock, driver, ran, 'b')
    await a.start()
    await b.start()
    await clock.advance('3m')
    await a.queue.drain()
    await b.queue.drain()
    expect(ran).toHaveLength(3)
    const slots = (await a.queue.list({ name: 'digest' })).map((j) => j.id)
    expect(new Set(slots).size).toBe(3)
    expect(a.schedules.get('digest-every-minute').runs + b.schedules.get('digest-every-minute').runs).toBe(3)
    await a.stop()
    await b.stop()
  })

  it('resume after the last slot fired: slots missed while down fire under the misfire rules', async () => {
    const clock = new ManualClock(T0)
    const driver = memory()
    const ran: string[] = []
    const first = replica(clock, driver, ran, 'first')
    await first.start()
    await clock.advance('2m')
    await first.stop()
    expect(await driver.scheduleLastSlot({ schedule: 'digest-every-minute' })).toBe(T0 + 120_000)
    // Down for 10 minutes: of slots 3..12 min, the four more than 5 minutes late are missed, and
    // the six within the grace coalesce into one fire, for the latest slot.
    await clock.advance('10m')
    const second = replica(clock, driver, ran, 'second')
    const fired: number[] = []
    second.on('schedule:fired', (e) => fired.push(e.slot.getTime()))
    const missed: number[] = []
    second.on('schedule:missed', (e) => missed.push(e.count))
    await second.start()
    await clock.advance(0)
    expect(fired).toEqual([T0 + 720_000])
    expect(missed).toEqual([4])
    await second.stop()
  })
})
