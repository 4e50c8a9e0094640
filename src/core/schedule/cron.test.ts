import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { CRON_CACHE_LIMIT, cronTrigger, zoneOffset } from './cron.js'
import type { Trigger } from './trigger.js'

const at = (iso: string) => Date.parse(iso)

/** A full garbage collection, without running the test process with --expose-gc. */
function forcedGc(): () => void {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

/** The next `count` slots strictly after `from`. */
function nextSlots(trigger: Trigger, from: string, count: number): (string | null)[] {
  const out: (string | null)[] = []
  let after = at(from)
  for (let i = 0; i < count; i++) {
    const slot = trigger.next(after)
    out.push(iso(slot))
    if (slot === null) break
    after = slot
  }
  return out
}

describe('cronTrigger', () => {
  it('reads the expression in UTC by default', () => {
    const trigger = cronTrigger('0 9 * * *')
    expect(trigger.kind).toBe('cron')
    expect(trigger.timezone).toBe('UTC')
    expect(trigger.describe()).toBe('cron 0 9 * * * (UTC)')
    expect(iso(trigger.next(at('2026-01-15T12:00:00Z')))).toBe('2026-01-16T09:00:00.000Z')
  })

  it('describes the expression with its time zone and bounds', () => {
    expect(cronTrigger(' 0 9 * * * ', { timezone: 'Asia/Kolkata' }).describe()).toBe('cron 0 9 * * * (Asia/Kolkata)')
    const bounded = cronTrigger('0 9 * * *', { startDate: at('2026-01-01T00:00:00Z'), endDate: new Date('2026-02-01T00:00:00Z') })
    expect(bounded.describe()).toBe('cron 0 9 * * * (UTC), from 2026-01-01T00:00:00.000Z, until 2026-02-01T00:00:00.000Z')
  })

  it('returns the slot strictly after the reference, to the millisecond', () => {
    const trigger = cronTrigger('0 9 * * *')
    expect(iso(trigger.next(at('2026-01-15T09:00:00Z') - 1))).toBe('2026-01-15T09:00:00.000Z')
    expect(iso(trigger.next(at('2026-01-15T09:00:00Z')))).toBe('2026-01-16T09:00:00.000Z')
    expect(iso(trigger.next(at('2026-01-15T09:00:00Z') + 0.5))).toBe('2026-01-16T09:00:00.000Z')
    expect(iso(trigger.next(at('2026-01-15T08:59:59.999Z')))).toBe('2026-01-15T09:00:00.000Z')
  })

  it('reads 6 fields with seconds first', () => {
    expect(nextSlots(cronTrigger('*/20 * * * * *'), '2026-01-15T00:00:00Z', 3)).toEqual([
      '2026-01-15T00:00:20.000Z',
      '2026-01-15T00:00:40.000Z',
      '2026-01-15T00:01:00.000Z',
    ])
    expect(nextSlots(cronTrigger('30 0 9 * * *', { timezone: 'Europe/Berlin' }), '2026-01-15T00:00:00Z', 2)).toEqual([
      '2026-01-15T08:00:30.000Z', // 09:00:30 CET
      '2026-01-16T08:00:30.000Z',
    ])
  })

  it('supports L for the last day of the month, leap years included', () => {
    expect(nextSlots(cronTrigger('0 0 L * *'), '2026-01-15T00:00:00Z', 3)).toEqual([
      '2026-01-31T00:00:00.000Z',
      '2026-02-28T00:00:00.000Z',
      '2026-03-31T00:00:00.000Z',
    ])
    expect(iso(cronTrigger('0 12 L 2 *').next(at('2027-03-01T00:00:00Z')))).toBe('2028-02-29T12:00:00.000Z')
  })

  it('supports # (nth weekday), W (nearest weekday) and the last weekday of a month', () => {
    // February 2026 starts on a Sunday: its Fridays are the 6th, 13th, 20th and 27th.
    expect(iso(cronTrigger('0 9 * * 5#2').next(at('2026-02-01T00:00:00Z')))).toBe('2026-02-13T09:00:00.000Z')
    expect(iso(cronTrigger('0 9 * * 5L').next(at('2026-02-01T00:00:00Z')))).toBe('2026-02-27T09:00:00.000Z')
    // 2026-02-15 is a Sunday: the nearest weekday is Monday the 16th.
    expect(iso(cronTrigger('0 12 15W * *').next(at('2026-02-01T00:00:00Z')))).toBe('2026-02-16T12:00:00.000Z')
  })

  it('combines day-of-month and day-of-week with OR, as Vixie cron', () => {
    // 2026-06-01 is a Monday, 2026-07-01 a Wednesday.
    expect(nextSlots(cronTrigger('0 12 1 * MON'), '2026-06-25T00:00:00Z', 3)).toEqual([
      '2026-06-29T12:00:00.000Z', // Monday
      '2026-07-01T12:00:00.000Z', // the 1st
      '2026-07-06T12:00:00.000Z', // Monday
    ])
  })

  it('reads nicknames, @hourly following the clock and @daily as a fixed time', () => {
    const hourly = cronTrigger('@hourly', { timezone: 'America/New_York' })
    // 2026-11-01 01:00 happens twice in New York: @hourly fires at both.
    expect(nextSlots(hourly, '2026-11-01T04:30:00Z', 3)).toEqual(['2026-11-01T05:00:00.000Z', '2026-11-01T06:00:00.000Z', '2026-11-01T07:00:00.000Z'])
    const daily = cronTrigger('@daily', { timezone: 'Asia/Kolkata' })
    expect(iso(daily.next(at('2026-01-15T00:00:00Z')))).toBe('2026-01-15T18:30:00.000Z')
  })

  it('returns null when the expression has no slot left (croner stops at year 9999)', () => {
    expect(cronTrigger('0 0 1 1 *').next(at('9999-06-01T00:00:00Z'))).toBeNull()
    expect(cronTrigger('0 * * * *').next(at('9999-12-31T23:30:00Z'))).toBeNull()
  })

  it('keeps under 3 KB per distinct expression (croner 11 alone: an 80 KB year table, then 4 KB)', () => {
    const collect = forcedGc()
    collect()
    const before = process.memoryUsage().heapUsed
    // 600 distinct yearly expressions, each parsed and kept.
    const triggers = Array.from({ length: 600 }, (_, i) => cronTrigger(`${i % 60} ${Math.floor(i / 60)} 1 1 *`))
    collect()
    const grown = process.memoryUsage().heapUsed - before
    // 1.7 KB here. With the year tables: 600 × 80 KB = 48 MB; with croner's own field tables and
    // options objects that each got their own hidden class: 4.2 KB.
    expect(grown).toBeLessThan(600 * 3_000)
    // The year still advances across the boundary once the table is gone.
    expect(iso(triggers[61]!.next(at('2026-06-01T00:00:00Z')))).toBe('2027-01-01T01:01:00.000Z')
    expect(nextSlots(triggers[0]!, '2026-12-31T23:59:59Z', 2)).toEqual(['2027-01-01T00:00:00.000Z', '2028-01-01T00:00:00.000Z'])
    // Expressions share their field tables by content: each still keeps its own timetable.
    expect(triggers.slice(0, 3).map((t) => iso(t.next(at('2026-06-01T00:00:00Z'))))).toEqual([
      '2027-01-01T00:00:00.000Z',
      '2027-01-01T00:01:00.000Z',
      '2027-01-01T00:02:00.000Z',
    ])
  })

  it('shares one trigger between unbounded schedules of the same expression and zone, not bounded ones', () => {
    expect(cronTrigger('7 3 * * *')).toBe(cronTrigger('7 3 * * *'))
    expect(cronTrigger('7 3 * * *', { timezone: 'Europe/Paris' })).not.toBe(cronTrigger('7 3 * * *'))
    const bounded = cronTrigger('7 3 * * *', { endDate: at('2030-01-01T00:00:00Z') })
    expect(bounded).not.toBe(cronTrigger('7 3 * * *'))
    expect(bounded.next(at('2030-01-01T00:00:00Z'))).toBeNull()
    expect(iso(cronTrigger('7 3 * * *').next(at('2030-01-01T00:00:00Z')))).toBe('2030-01-01T03:07:00.000Z')
  })

  it('answers a repeated question from its last answer, and a new one afresh', () => {
    const trigger = cronTrigger('7 3 * * *')
    const asked = ['2030-01-01T00:00:00Z', '2030-01-01T00:00:00Z', '2030-01-02T12:00:00Z', '2030-01-01T00:00:00Z']
    expect(asked.map((t) => iso(trigger.next(at(t))))).toEqual([
      '2030-01-01T03:07:00.000Z',
      '2030-01-01T03:07:00.000Z',
      '2030-01-03T03:07:00.000Z',
      '2030-01-01T03:07:00.000Z',
    ])
    expect(() => trigger.next(Number.NaN)).toThrow()
  })

  it(`keeps at most ${CRON_CACHE_LIMIT} shared triggers, dropping the oldest, and a dropped one still works`, () => {
    const first = cronTrigger('0 0 1 1 *', { timezone: 'Asia/Tokyo' })
    // Distinct expressions until the first has been pushed out: seconds x minutes x hours.
    for (let i = 0; i < CRON_CACHE_LIMIT; i++) cronTrigger(`${i % 60} ${Math.floor(i / 60) % 60} ${Math.floor(i / 3600)} * * *`, { timezone: 'Asia/Tokyo' })
    const last = `${(CRON_CACHE_LIMIT - 1) % 60} ${Math.floor((CRON_CACHE_LIMIT - 1) / 60) % 60} ${Math.floor((CRON_CACHE_LIMIT - 1) / 3600)} * * *`
    expect(cronTrigger(last, { timezone: 'Asia/Tokyo' })).toBe(cronTrigger(last, { timezone: 'Asia/Tokyo' }))
    expect(cronTrigger('0 0 1 1 *', { timezone: 'Asia/Tokyo' })).not.toBe(first)
    expect(iso(first.next(at('2026-06-01T00:00:00Z')))).toBe('2026-12-31T15:00:00.000Z')
  })

  it('computes a far slot without stepping through the days in between', () => {
    // 29 February falling on a Monday: once in 28 years; 2044-02-29 is a Monday.
    const trigger = cronTrigger('0 0 29 2 +MON')
    expect(iso(trigger.next(at('2026-01-01T00:00:00Z')))).toBe('2044-02-29T00:00:00.000Z')
  })

  it.each([
    ['61 * * * *', 'minute'],
    ['@bogus', '@bogus'],
    ['x y z a b', 'illegal characters'],
  ])('refuses %j with ERR_SCHEDULE_INVALID_CRON quoting it and croner’s reason', (expression, reason) => {
    let caught: unknown
    try {
      cronTrigger(expression)
    } catch (error) {
      caught = error
    }
    expect(caught).toMatchObject({ code: 'ERR_SCHEDULE_INVALID_CRON', message: expect.stringContaining(JSON.stringify(expression)) })
    expect((caught as Error).message).toContain(reason)
    expect((caught as Error).cause).toBeInstanceOf(Error)
  })

  it.each([
    ['* * * *', 'got 4'],
    ['* * * * * * *', 'got 7'],
    ['', 'got 1'],
    ['2026-05-01T09:00:00', 'got 1'],
    ['0 0 30 2 *', 'matches no date'],
  ])('refuses %j with ERR_SCHEDULE_INVALID_CRON (%s)', (expression, reason) => {
    expect(() => cronTrigger(expression)).toThrow(
      expect.objectContaining({ code: 'ERR_SCHEDULE_INVALID_CRON', message: expect.stringContaining(`Invalid cron expression ${JSON.stringify(expression)}: `) }),
    )
    expect(() => cronTrigger(expression)).toThrow(reason)
  })

  it('refuses an expression that is not a string', () => {
    expect(() => cronTrigger(42 as unknown as string)).toThrow(expect.objectContaining({ code: 'ERR_SCHEDULE_INVALID_CRON', message: expect.stringContaining('42') }))
  })

  it.each(['Mars/Olympus', 'Europe/Berln', ''])('refuses the time zone %j with ERR_SCHEDULE_INVALID_TIMEZONE naming it', (timezone) => {
    expect(() => cronTrigger('0 9 * * *', { timezone })).toThrow(
      expect.objectContaining({ code: 'ERR_SCHEDULE_INVALID_TIMEZONE', message: expect.stringContaining(JSON.stringify(timezone)) }),
    )
  })

  it('refuses a time zone that is not a string', () => {
    expect(() => cronTrigger('0 9 * * *', { timezone: 5 as unknown as string })).toThrow(
      expect.objectContaining({ code: 'ERR_SCHEDULE_INVALID_TIMEZONE', message: expect.stringContaining('timezone') }),
    )
  })

  it('refuses a reference time that is not a finite number', () => {
    expect(() => cronTrigger('0 9 * * *').next(Number.NaN)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('afterMs') }))
  })
})

describe('cronTrigger bounds', () => {
  const start = at('2026-01-10T09:00:00Z')
  const end = at('2026-01-12T09:00:00Z')
  const setup = () => cronTrigger('0 9 * * *', { startDate: new Date(start), endDate: end })

  it('gives no slot before startDate, and the slot at startDate itself', () => {
    expect(iso(setup().next(at('2026-01-01T00:00:00Z')))).toBe('2026-01-10T09:00:00.000Z')
    expect(iso(setup().next(start - 1))).toBe('2026-01-10T09:00:00.000Z')
    expect(iso(cronTrigger('0 9 * * *', { startDate: start + 1 }).next(0))).toBe('2026-01-11T09:00:00.000Z')
  })

  it('gives the slot at endDate itself, then null', () => {
    expect(iso(setup().next(at('2026-01-11T09:00:00Z')))).toBe('2026-01-12T09:00:00.000Z')
    expect(setup().next(end)).toBeNull()
    expect(setup().next(at('2027-01-01T00:00:00Z'))).toBeNull()
  })

  it('applies bounds to the clock-following path too', () => {
    const trigger = cronTrigger('0 * * * *', { timezone: 'Europe/Berlin', startDate: at('2026-01-10T09:30:00Z'), endDate: at('2026-01-10T11:00:00Z') })
    expect(nextSlots(trigger, '2026-01-01T00:00:00Z', 4)).toEqual(['2026-01-10T10:00:00.000Z', '2026-01-10T11:00:00.000Z', null])
  })

  it('refuses an endDate before startDate, or a date that is not valid', () => {
    expect(() => cronTrigger('0 9 * * *', { startDate: end, endDate: start })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('endDate') }),
    )
    expect(() => cronTrigger('0 9 * * *', { startDate: new Date('nope') })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('startDate') }),
    )
    expect(() => cronTrigger('0 9 * * *', { endDate: Number.POSITIVE_INFINITY })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('endDate') }),
    )
  })
})

describe('zoneOffset', () => {
  it('gives the offset on each side of a transition, to the second', () => {
    // New York springs forward at 2026-03-08 07:00:00Z.
    expect(zoneOffset('America/New_York', at('2026-03-08T06:59:59.999Z'))).toBe(-5 * 3_600_000)
    expect(zoneOffset('America/New_York', at('2026-03-08T07:00:00Z'))).toBe(-4 * 3_600_000)
    expect(zoneOffset('Asia/Kolkata', at('2026-03-08T07:00:00Z'))).toBe(5.5 * 3_600_000)
    expect(zoneOffset('UTC', at('2026-03-08T07:00:00Z'))).toBe(0)
  })

  it('keeps seconds in historical offsets (New York local mean time, -4:56:02)', () => {
    expect(zoneOffset('America/New_York', at('1850-01-01T00:00:00Z'))).toBe(-(4 * 3600 + 56 * 60 + 2) * 1000)
  })
})
