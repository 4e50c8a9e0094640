import { describe, expect, it } from 'vitest'
import { withDeadline } from '../core/clock.js'
import { Events } from '../core/events.js'
import { ManualClock } from './manual-clock.js'
import { waitForEvent } from './wait-for-event.js'

describe('ManualClock', () => {
  it('wakes sleepers in time order, letting each one settle before the next', async () => {
    const clock = new ManualClock(1_000)
    const log: string[] = []
    void clock.sleep(300).then(() => log.push(`b@${clock.now()}`))
    void clock.sleep(100).then(async () => {
      log.push(`a@${clock.now()}`)
      await clock.sleep(50)
      log.push(`a2@${clock.now()}`)
    })
    await clock.advance(500)
    expect(log).toEqual(['a@1100', 'a2@1150', 'b@1300'])
    expect(clock.now()).toBe(1_500)
    expect(clock.pendingSleeps).toBe(0)
  })

  it('does not wake a sleeper before its time', async () => {
    const clock = new ManualClock(0)
    let woke = false
    void clock.sleep(100).then(() => (woke = true))
    await clock.advance(99)
    expect(woke).toBe(false)
    await clock.advance(1)
    expect(woke).toBe(true)
  })

  it('rejects a sleep with the signal reason and forgets it', async () => {
    const clock = new ManualClock(0)
    const controller = new AbortController()
    const sleeping = clock.sleep(100, controller.signal)
    controller.abort(new Error('stop'))
    await expect(sleeping).rejects.toThrow('stop')
    expect(clock.pendingSleeps).toBe(0)
    await expect(clock.sleep(1, controller.signal)).rejects.toThrow('stop')
  })

  it('moves to a date with set()', async () => {
    const clock = new ManualClock(new Date('2026-03-08T00:00:00Z'))
    await clock.set(new Date('2026-03-08T07:00:00Z'))
    expect(new Date(clock.now()).toISOString()).toBe('2026-03-08T07:00:00.000Z')
  })
})

describe('withDeadline', () => {
  it('returns the value when the promise wins and clears its timer', async () => {
    const clock = new ManualClock(0)
    expect(await withDeadline(clock, 100, Promise.resolve(7))).toEqual({ timedOut: false, value: 7 })
    expect(clock.pendingSleeps).toBe(0)
  })

  it('times out when the deadline passes first', async () => {
    const clock = new ManualClock(0)
    const racing = withDeadline(clock, 100, new Promise(() => {}))
    await clock.advance(100)
    expect(await racing).toEqual({ timedOut: true })
  })
})

describe('waitForEvent', () => {
  it('resolves with the first matching payload and rejects when its signal aborts', async () => {
    const events = new Events(() => {})
    const ready = waitForEvent(events, 'service:readiness', (e) => e.readiness === 'ready')
    events.emit('service:readiness', { readiness: 'starting' })
    events.emit('service:readiness', { readiness: 'ready' })
    await expect(ready).resolves.toEqual({ readiness: 'ready' })
    expect(events.has('service:readiness')).toBe(false)
    const controller = new AbortController()
    const never = waitForEvent(events, 'service:readiness', () => true, { signal: controller.signal })
    controller.abort(new Error('gave up'))
    await expect(never).rejects.toThrow('gave up')
    expect(events.has('service:readiness')).toBe(false)
    await expect(waitForEvent(events, 'service:readiness', () => true, { signal: controller.signal })).rejects.toThrow('gave up')
  })
})
