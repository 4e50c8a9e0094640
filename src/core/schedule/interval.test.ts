import { describe, expect, it } from 'vitest'
import { formatMs, intervalTrigger } from './interval.js'

const anchor = Date.parse('2026-01-01T00:00:00Z')
const MINUTE = 60_000

describe('intervalTrigger', () => {
  it('has the anchor as first slot and every later slot at anchor + k * every', () => {
    const trigger = intervalTrigger('5m', { anchor })
    expect(trigger.kind).toBe('interval')
    expect(trigger.next(anchor - 1_000_000)).toBe(anchor)
    expect(trigger.next(anchor - 1)).toBe(anchor)
    expect(trigger.next(anchor)).toBe(anchor + 5 * MINUTE)
    expect(trigger.next(anchor + 1)).toBe(anchor + 5 * MINUTE)
    expect(trigger.next(anchor + 5 * MINUTE - 0.5)).toBe(anchor + 5 * MINUTE)
    expect(trigger.next(anchor + 5 * MINUTE)).toBe(anchor + 10 * MINUTE)
  })

  it('does not drift: slots stay on the grid whenever next() is asked', () => {
    const trigger = intervalTrigger(7_000, { anchor })
    // Asked late (a run took 3.2 s, a timer woke 900 ms late): the slot is still anchor + k * 7 s.
    expect(trigger.next(anchor + 7_000 + 3_200)).toBe(anchor + 14_000)
    expect(trigger.next(anchor + 14_000 + 900)).toBe(anchor + 21_000)
  })

  it('finds the slot after a week-long gap exactly, without stepping through the missed ones', () => {
    const trigger = intervalTrigger('5m', { anchor })
    const week = 7 * 24 * 60 * MINUTE
    // 2016 slots fit in a week of 5 minutes; 1234 ms past the last one the next is number 2017.
    expect(trigger.next(anchor + week + 1234)).toBe(anchor + 2017 * 5 * MINUTE)
  })

  it('is O(1): every millisecond for a hundred years is one step', () => {
    const trigger = intervalTrigger(1, { anchor })
    const century = 100 * 365.25 * 24 * 60 * MINUTE
    // Stepping slot by slot would take 3e12 iterations; arithmetic answers at once.
    for (let i = 0; i < 1_000; i++) expect(trigger.next(anchor + century + i + 0.5)).toBe(anchor + century + i + 1)
  })

  it('shows times in UTC unless told otherwise, and describes the interval', () => {
    expect(intervalTrigger('5m', { anchor }).timezone).toBe('UTC')
    expect(intervalTrigger('5m', { anchor, timezone: 'Asia/Kolkata' }).timezone).toBe('Asia/Kolkata')
    expect(intervalTrigger('5m', { anchor }).describe()).toBe('every 5m')
    expect(intervalTrigger(' 1h30m ', { anchor }).describe()).toBe('every 1h30m')
    expect(intervalTrigger(90_000, { anchor }).describe()).toBe('every 1m30s')
    expect(intervalTrigger(86_400_000, { anchor }).describe()).toBe('every 1d')
    expect(intervalTrigger(1_500, { anchor }).describe()).toBe('every 1s500ms')
    expect(intervalTrigger('1m', { anchor, startDate: anchor, endDate: new Date(anchor + 10 * MINUTE) }).describe()).toBe(
      'every 1m, from 2026-01-01T00:00:00.000Z, until 2026-01-01T00:10:00.000Z',
    )
  })

  it.each([[0], ['0s'], [0.5], [1.5]])('refuses every = %j with ERR_INVALID_OPTION naming every', (every) => {
    expect(() => intervalTrigger(every, { anchor })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('every') }))
  })

  it.each([[-1], ['soon'], [Number.NaN]])('refuses every = %j with ERR_INVALID_DURATION naming every', (every) => {
    expect(() => intervalTrigger(every, { anchor })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_DURATION', message: expect.stringContaining('every') }))
  })

  it.each([[Number.NaN], [1.5], [undefined]])('refuses anchor = %j with ERR_INVALID_OPTION naming anchor', (bad) => {
    expect(() => intervalTrigger('1m', { anchor: bad as number })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('anchor') }))
  })

  it('refuses an unknown time zone', () => {
    expect(() => intervalTrigger('1m', { anchor, timezone: 'Nowhere/Land' })).toThrow(
      expect.objectContaining({ code: 'ERR_SCHEDULE_INVALID_TIMEZONE', message: expect.stringContaining('"Nowhere/Land"') }),
    )
  })

  it('refuses a reference time that is not a finite number', () => {
    expect(() => intervalTrigger('1m', { anchor }).next(Number.POSITIVE_INFINITY)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
  })
})

describe('intervalTrigger bounds', () => {
  it('starts at the first slot on the grid at or after startDate', () => {
    const trigger = intervalTrigger('5m', { anchor, startDate: anchor + 12 * MINUTE })
    expect(trigger.next(anchor)).toBe(anchor + 15 * MINUTE)
    expect(trigger.next(anchor + 15 * MINUTE)).toBe(anchor + 20 * MINUTE)
  })

  it('includes a slot exactly at startDate, and keeps the anchor when startDate is before it', () => {
    expect(intervalTrigger('5m', { anchor, startDate: new Date(anchor + 10 * MINUTE) }).next(anchor)).toBe(anchor + 10 * MINUTE)
    expect(intervalTrigger('5m', { anchor, startDate: anchor - 60 * MINUTE }).next(anchor - 30 * MINUTE)).toBe(anchor)
  })

  it('includes a slot exactly at endDate, then returns null', () => {
    const trigger = intervalTrigger('5m', { anchor, endDate: anchor + 10 * MINUTE })
    expect(trigger.next(anchor + 5 * MINUTE)).toBe(anchor + 10 * MINUTE)
    expect(trigger.next(anchor + 10 * MINUTE)).toBeNull()
    expect(trigger.next(anchor + 1_000 * MINUTE)).toBeNull()
  })

  it('refuses an endDate before the startDate', () => {
    expect(() => intervalTrigger('5m', { anchor, startDate: anchor + 1, endDate: anchor })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('endDate') }),
    )
  })
})

describe('formatMs', () => {
  it.each([
    [0, '0ms'],
    [1, '1ms'],
    [60_000, '1m'],
    [3_723_004, '1h2m3s4ms'],
    [90_061_000, '1d1h1m1s'],
  ])('writes %d ms as %s', (ms, text) => {
    expect(formatMs(ms)).toBe(text)
  })
})
