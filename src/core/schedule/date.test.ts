import { describe, expect, it } from 'vitest'
import { dateTrigger } from './date.js'

const when = Date.parse('2026-05-01T09:00:00Z')

describe('dateTrigger', () => {
  it('has one slot: the instant while it is ahead, then null', () => {
    const trigger = dateTrigger(new Date(when))
    expect(trigger.kind).toBe('date')
    expect(trigger.next(0)).toBe(when)
    expect(trigger.next(when - 1)).toBe(when)
    expect(trigger.next(when)).toBeNull()
    expect(trigger.next(when + 1)).toBeNull()
  })

  it('takes epoch milliseconds as well as a Date', () => {
    expect(dateTrigger(when).next(when - 0.5)).toBe(when)
  })

  it('describes itself and shows times in UTC unless told otherwise', () => {
    expect(dateTrigger(when).describe()).toBe('once at 2026-05-01T09:00:00.000Z')
    expect(dateTrigger(when).timezone).toBe('UTC')
    expect(dateTrigger(when, { timezone: 'Europe/Berlin' }).timezone).toBe('Europe/Berlin')
    expect(dateTrigger(when, { endDate: when }).describe()).toBe('once at 2026-05-01T09:00:00.000Z, until 2026-05-01T09:00:00.000Z')
  })

  it('never fires when the instant is outside startDate/endDate, and does at either edge', () => {
    expect(dateTrigger(when, { startDate: when + 1 }).next(0)).toBeNull()
    expect(dateTrigger(when, { endDate: when - 1 }).next(0)).toBeNull()
    expect(dateTrigger(when, { startDate: when, endDate: new Date(when) }).next(0)).toBe(when)
  })

  it.each([[Number.NaN], [new Date('not a date')], [undefined], ['2026-05-01']])('refuses at = %j with ERR_INVALID_OPTION naming at', (at) => {
    expect(() => dateTrigger(at as Date)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('at must be') }))
  })

  it('refuses an unknown time zone and a reference time that is not a number', () => {
    expect(() => dateTrigger(when, { timezone: 'Atlantis/Capital' })).toThrow(expect.objectContaining({ code: 'ERR_SCHEDULE_INVALID_TIMEZONE' }))
    expect(() => dateTrigger(when).next('now' as unknown as number)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('afterMs') }))
  })
})
