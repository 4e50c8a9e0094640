import { describe, expect, it } from 'vitest'
import { cronTrigger } from './cron.js'
import type { Trigger } from './trigger.js'

// Every expected instant below is written by hand from the calendar, not computed:
// - America/New_York is EST (UTC-5) and EDT (UTC-4). On Sunday 2026-03-08 at 02:00 EST (07:00Z)
//   clocks jump to 03:00 EDT, so 02:00-02:59 does not exist. On Sunday 2026-11-01 at 02:00 EDT
//   (06:00Z) they go back to 01:00 EST, so 01:00-01:59 happens twice (05:00Z-05:59Z, 06:00Z-06:59Z).
// - Europe/Berlin is CET (UTC+1) and CEST (UTC+2). On Sunday 2026-03-29 at 02:00 CET (01:00Z)
//   clocks jump to 03:00 CEST; on Sunday 2026-10-25 at 03:00 CEST (01:00Z) they go back to 02:00
//   CET, so 02:00-02:59 happens twice (00:00Z-00:59Z, 01:00Z-01:59Z).
// - Australia/Lord_Howe is +10:30 and +11:00 in summer, a 30-minute shift: on Sunday 2026-10-04
//   02:00 jumps to 02:30 (15:30Z the day before); on Sunday 2026-04-05 02:00 goes back to 01:30,
//   so 01:30-01:59 happens twice.
// Each window runs from the local midnight starting the day before the change to the local
// midnight ending the day after it.

/** Every slot of `trigger` in [from, to), by calling next() from the previous slot. */
function fires(trigger: Trigger, from: string, to: string): string[] {
  const out: string[] = []
  const end = Date.parse(to)
  let after = Date.parse(from) - 1
  for (let slot = trigger.next(after); slot !== null && slot < end; slot = trigger.next(after)) {
    out.push(new Date(slot).toISOString().replace('.000Z', 'Z'))
    after = slot
  }
  return out
}

const newYork = (expression: string) => cronTrigger(expression, { timezone: 'America/New_York' })
const berlin = (expression: string) => cronTrigger(expression, { timezone: 'Europe/Berlin' })

describe('cronTrigger DST in America/New_York, spring forward 2026-03-08', () => {
  // 2026-03-07 00:00 EST = 05:00Z; 2026-03-10 00:00 EDT = 04:00Z.
  const from = '2026-03-07T05:00:00Z'
  const to = '2026-03-10T04:00:00Z'

  it('fires a 02:30 daily once at the end of the gap, 03:00 EDT', () => {
    expect(fires(newYork('30 2 * * *'), from, to)).toEqual([
      '2026-03-07T07:30:00Z', // 02:30 EST
      '2026-03-08T07:00:00Z', // 02:30 does not exist: 03:00 EDT
      '2026-03-09T06:30:00Z', // 02:30 EDT
    ])
  })

  it('fires a 01:30 daily as usual, before the change', () => {
    expect(fires(newYork('30 1 * * *'), from, to)).toEqual([
      '2026-03-07T06:30:00Z', // 01:30 EST
      '2026-03-08T06:30:00Z', // 01:30 EST
      '2026-03-09T05:30:00Z', // 01:30 EDT
    ])
  })

  it('fires two fixed times inside the gap once, at its end', () => {
    expect(fires(newYork('15,45 2 * * *'), from, to)).toEqual([
      '2026-03-07T07:15:00Z',
      '2026-03-07T07:45:00Z',
      '2026-03-08T07:00:00Z', // 02:15 and 02:45 do not exist: one fire at 03:00 EDT
      '2026-03-09T06:15:00Z',
      '2026-03-09T06:45:00Z',
    ])
  })

  it('fires a 6-field fixed time in the gap at the gap end too', () => {
    expect(fires(newYork('10 30 2 * * *'), '2026-03-08T05:00:00Z', '2026-03-09T04:00:00Z')).toEqual(['2026-03-08T07:00:00Z'])
  })

  it('fires an hourly on the 23 hours that exist on the day', () => {
    expect(fires(newYork('0 * * * *'), '2026-03-08T05:00:00Z', '2026-03-09T04:00:00Z')).toEqual([
      '2026-03-08T05:00:00Z', // 00:00 EST
      '2026-03-08T06:00:00Z', // 01:00 EST
      '2026-03-08T07:00:00Z', // 03:00 EDT (02:00 does not exist)
      '2026-03-08T08:00:00Z', // 04:00 EDT
      '2026-03-08T09:00:00Z',
      '2026-03-08T10:00:00Z',
      '2026-03-08T11:00:00Z',
      '2026-03-08T12:00:00Z', // 08:00 EDT
      '2026-03-08T13:00:00Z',
      '2026-03-08T14:00:00Z',
      '2026-03-08T15:00:00Z',
      '2026-03-08T16:00:00Z', // 12:00 EDT
      '2026-03-08T17:00:00Z',
      '2026-03-08T18:00:00Z',
      '2026-03-08T19:00:00Z',
      '2026-03-08T20:00:00Z', // 16:00 EDT
      '2026-03-08T21:00:00Z',
      '2026-03-08T22:00:00Z',
      '2026-03-08T23:00:00Z',
      '2026-03-09T00:00:00Z', // 20:00 EDT
      '2026-03-09T01:00:00Z',
      '2026-03-09T02:00:00Z',
      '2026-03-09T03:00:00Z', // 23:00 EDT
    ])
  })

  it('treats a step without * as a fixed time, as ISC cron does: 02:00 fires at 03:00 EDT', () => {
    expect(fires(newYork('0 0-23/2 * * *'), '2026-03-08T05:00:00Z', '2026-03-08T09:00:00Z')).toEqual([
      '2026-03-08T05:00:00Z', // 00:00 EST
      '2026-03-08T07:00:00Z', // 02:00 does not exist: 03:00 EDT
      '2026-03-08T08:00:00Z', // 04:00 EDT
    ])
  })

  it('does not fire a wildcard-minute expression in the skipped hour', () => {
    expect(fires(newYork('*/30 2 * * *'), '2026-03-08T05:00:00Z', '2026-03-10T04:00:00Z')).toEqual([
      '2026-03-09T06:00:00Z', // 2026-03-09 02:00 EDT; nothing on the 8th
      '2026-03-09T06:30:00Z',
    ])
  })
})

describe('cronTrigger DST in America/New_York, fall back 2026-11-01', () => {
  // 2026-10-31 00:00 EDT = 04:00Z; 2026-11-03 00:00 EST = 05:00Z.
  const from = '2026-10-31T04:00:00Z'
  const to = '2026-11-03T05:00:00Z'

  it('fires a 01:30 daily once, at its first occurrence (EDT)', () => {
    expect(fires(newYork('30 1 * * *'), from, to)).toEqual([
      '2026-10-31T05:30:00Z', // 01:30 EDT
      '2026-11-01T05:30:00Z', // 01:30 EDT; not again at 01:30 EST (06:30Z)
      '2026-11-02T06:30:00Z', // 01:30 EST
    ])
  })

  it('fires a 02:30 daily once, after the change', () => {
    expect(fires(newYork('30 2 * * *'), from, to)).toEqual([
      '2026-10-31T06:30:00Z', // 02:30 EDT
      '2026-11-01T07:30:00Z', // 02:30 EST
      '2026-11-02T07:30:00Z', // 02:30 EST
    ])
  })

  it('fires an hourly on all 25 hours of the day, the repeated one twice', () => {
    expect(fires(newYork('0 * * * *'), '2026-11-01T04:00:00Z', '2026-11-02T05:00:00Z')).toEqual([
      '2026-11-01T04:00:00Z', // 00:00 EDT
      '2026-11-01T05:00:00Z', // 01:00 EDT
      '2026-11-01T06:00:00Z', // 01:00 EST
      '2026-11-01T07:00:00Z', // 02:00 EST
      '2026-11-01T08:00:00Z',
      '2026-11-01T09:00:00Z',
      '2026-11-01T10:00:00Z',
      '2026-11-01T11:00:00Z', // 06:00 EST
      '2026-11-01T12:00:00Z',
      '2026-11-01T13:00:00Z',
      '2026-11-01T14:00:00Z',
      '2026-11-01T15:00:00Z', // 10:00 EST
      '2026-11-01T16:00:00Z',
      '2026-11-01T17:00:00Z',
      '2026-11-01T18:00:00Z',
      '2026-11-01T19:00:00Z', // 14:00 EST
      '2026-11-01T20:00:00Z',
      '2026-11-01T21:00:00Z',
      '2026-11-01T22:00:00Z',
      '2026-11-01T23:00:00Z', // 18:00 EST
      '2026-11-02T00:00:00Z',
      '2026-11-02T01:00:00Z',
      '2026-11-02T02:00:00Z',
      '2026-11-02T03:00:00Z',
      '2026-11-02T04:00:00Z', // 23:00 EST
    ])
  })

  it('fires a wildcard-minute expression in both passes of the repeated hour', () => {
    expect(fires(newYork('*/15 1 * * *'), '2026-11-01T04:00:00Z', '2026-11-02T05:00:00Z')).toEqual([
      '2026-11-01T05:00:00Z', // 01:00 EDT
      '2026-11-01T05:15:00Z',
      '2026-11-01T05:30:00Z',
      '2026-11-01T05:45:00Z',
      '2026-11-01T06:00:00Z', // 01:00 EST
      '2026-11-01T06:15:00Z',
      '2026-11-01T06:30:00Z',
      '2026-11-01T06:45:00Z',
    ])
  })

  it('gives the next day when asked from inside the second pass', () => {
    // 06:10Z is 01:10 EST: 01:30 already fired at 05:30Z (01:30 EDT).
    expect(newYork('30 1 * * *').next(Date.parse('2026-11-01T06:10:00Z'))).toBe(Date.parse('2026-11-02T06:30:00Z'))
    // 05:50Z is 01:50 EDT, after the first 01:30.
    expect(newYork('30 1 * * *').next(Date.parse('2026-11-01T05:50:00Z'))).toBe(Date.parse('2026-11-02T06:30:00Z'))
    // 05:10Z is 01:10 EDT: the first 01:30 is still ahead.
    expect(newYork('30 1 * * *').next(Date.parse('2026-11-01T05:10:00Z'))).toBe(Date.parse('2026-11-01T05:30:00Z'))
    // Every second of hour 1, as a list: from 01:10 EST the rest of the repeat is done.
    expect(newYork('0-59 0-59 1 * * *').next(Date.parse('2026-11-01T06:10:00Z'))).toBe(Date.parse('2026-11-02T06:00:00Z'))
  })
})

describe('cronTrigger DST in Europe/Berlin, spring forward 2026-03-29', () => {
  // 2026-03-28 00:00 CET = 2026-03-27 23:00Z; 2026-03-31 00:00 CEST = 2026-03-30 22:00Z.
  const from = '2026-03-27T23:00:00Z'
  const to = '2026-03-30T22:00:00Z'

  it('fires a 02:30 daily once at the end of the gap, 03:00 CEST', () => {
    expect(fires(berlin('30 2 * * *'), from, to)).toEqual([
      '2026-03-28T01:30:00Z', // 02:30 CET
      '2026-03-29T01:00:00Z', // 02:30 does not exist: 03:00 CEST
      '2026-03-30T00:30:00Z', // 02:30 CEST
    ])
  })

  it('fires 02:15 and 02:45 once, at the end of the gap', () => {
    expect(fires(berlin('15,45 2 * * *'), from, to)).toEqual([
      '2026-03-28T01:15:00Z',
      '2026-03-28T01:45:00Z',
      '2026-03-29T01:00:00Z', // 03:00 CEST, once
      '2026-03-30T00:15:00Z',
      '2026-03-30T00:45:00Z',
    ])
  })
})

describe('cronTrigger DST in Europe/Berlin, fall back 2026-10-25', () => {
  // 2026-10-24 00:00 CEST = 2026-10-23 22:00Z; 2026-10-27 00:00 CET = 2026-10-26 23:00Z.
  const from = '2026-10-23T22:00:00Z'
  const to = '2026-10-26T23:00:00Z'

  it('fires a 02:30 daily once, at the first occurrence (CEST)', () => {
    expect(fires(berlin('30 2 * * *'), from, to)).toEqual([
      '2026-10-24T00:30:00Z', // 02:30 CEST
      '2026-10-25T00:30:00Z', // 02:30 CEST; not again at 02:30 CET (01:30Z)
      '2026-10-26T01:30:00Z', // 02:30 CET
    ])
  })

  it('fires 02:15 and 02:45 once each, in the first pass', () => {
    expect(fires(berlin('15,45 2 * * *'), from, to)).toEqual([
      '2026-10-24T00:15:00Z',
      '2026-10-24T00:45:00Z',
      '2026-10-25T00:15:00Z', // 02:15 CEST; not 01:15Z
      '2026-10-25T00:45:00Z', // 02:45 CEST; not 01:45Z
      '2026-10-26T01:15:00Z', // 02:15 CET
      '2026-10-26T01:45:00Z',
    ])
  })
})

describe('cronTrigger DST with a 30-minute shift (Australia/Lord_Howe)', () => {
  const lordHowe = (expression: string) => cronTrigger(expression, { timezone: 'Australia/Lord_Howe' })

  it('fires 02:15 at 02:30 on the day of the half-hour gap', () => {
    // 2026-10-03 00:00 +10:30 = 10-02 13:30Z; 2026-10-06 00:00 +11:00 = 10-05 13:00Z.
    expect(fires(lordHowe('15 2 * * *'), '2026-10-02T13:30:00Z', '2026-10-05T13:00:00Z')).toEqual([
      '2026-10-02T15:45:00Z', // 10-03 02:15 +10:30
      '2026-10-03T15:30:00Z', // 10-04 02:15 does not exist: 02:30 +11:00
      '2026-10-04T15:15:00Z', // 10-05 02:15 +11:00
    ])
  })

  it('fires 01:45 once on the day the half hour repeats', () => {
    // 2026-04-04 00:00 +11:00 = 04-03 13:00Z; 2026-04-07 00:00 +10:30 = 04-06 13:30Z.
    expect(fires(lordHowe('45 1 * * *'), '2026-04-03T13:00:00Z', '2026-04-06T13:30:00Z')).toEqual([
      '2026-04-03T14:45:00Z', // 04-04 01:45 +11:00
      '2026-04-04T14:45:00Z', // 04-05 01:45 +11:00; not again at +10:30 (15:15Z)
      '2026-04-05T15:15:00Z', // 04-06 01:45 +10:30
    ])
  })
})

describe('cronTrigger in a zone without DST (Asia/Kolkata, +05:30)', () => {
  it('fires 09:00 local at 03:30Z every day', () => {
    const trigger = cronTrigger('0 9 * * *', { timezone: 'Asia/Kolkata' })
    expect(fires(trigger, '2026-03-07T18:30:00Z', '2026-03-09T18:30:00Z')).toEqual(['2026-03-08T03:30:00Z', '2026-03-09T03:30:00Z'])
  })
})
