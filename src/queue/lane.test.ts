import { describe, expect, it } from 'vitest'
import type { JobRow } from './driver.js'
import { Lane } from './lane.js'

const row = (id: string, priority = 0) => ({ id, priority }) as JobRow
const order = (lane: Lane) => lane.ids()

describe('Lane', () => {
  it("a wake-up ends the claim loop's wait, or the next one at once; a new pass forgets earlier ones", async () => {
    const lane = new Lane('q', ['t'], 1, 4)
    const never = () => new Promise<void>(() => {})
    let timers = 0
    const counted = () => {
      timers++
      return never()
    }
    // Woken during the pass: the wait after it ends at once, with no timer.
    lane.passBegins()
    lane.wake()
    await lane.wait(counted)
    expect(timers).toBe(0)
    // Woken while waiting.
    lane.passBegins()
    const waiting = lane.wait(counted)
    expect(timers).toBe(1)
    lane.wake()
    await waiting
    // The timer ends a wait too.
    lane.passBegins()
    await lane.wait(() => Promise.resolve())
    // A wake-up before the pass began does not end the wait after it.
    lane.wake()
    lane.passBegins()
    let ended = false
    void lane.wait(never).then(() => (ended = true))
    await Promise.resolve()
    await Promise.resolve()
    expect(ended).toBe(false)
    lane.wake()
    await Promise.resolve()
    await Promise.resolve()
    expect(ended).toBe(true)
  })

  it('room is the free slots plus the free buffer places; nothing when the queue has no slots', () => {
    const lane = new Lane('q', ['t'], 2, 4)
    expect(lane.room()).toBe(6)
    lane.add([row('a'), row('b'), row('c')], 0)
    lane.running = 1
    expect(lane.room()).toBe(2)
    expect(new Lane('q', ['t'], 0, 4).room()).toBe(0)
    expect(new Lane('q', ['t'], 0, 4).needsClaim()).toBe(false)
  })

  it('needs a claim for a free slot, or when the buffer falls below half', () => {
    const lane = new Lane('q', ['t'], 1, 4)
    expect(lane.needsClaim()).toBe(true)
    lane.running = 1
    lane.add([row('a'), row('b')], 0)
    expect(lane.needsClaim()).toBe(false) // two of four: half, not below
    lane.remove('a')
    expect(lane.needsClaim()).toBe(true)
    const bare = new Lane('q', ['t'], 1, 0)
    bare.running = 1
    expect(bare.needsClaim()).toBe(false)
  })

  it('merges a later claim in priority order, buffered jobs first among equals', () => {
    const lane = new Lane('q', ['t'], 1, 10)
    lane.add([row('a', 5), row('b', 0), row('c', 0)], 0)
    lane.add([row('d', 0)], 1)
    expect(order(lane)).toEqual(['a', 'b', 'c', 'd'])
    lane.add([row('e', 9), row('f', 5), row('g', 0)], 2)
    expect(order(lane)).toEqual(['e', 'a', 'f', 'b', 'c', 'd', 'g'])
    lane.add([], 3)
    expect(lane.buffered).toBe(7)
  })

  it('hands out buffered jobs only while a slot is free', () => {
    const lane = new Lane('q', ['t'], 1, 10)
    lane.add([row('a'), row('b')], 7)
    expect(lane.take()).toEqual({ row: row('a'), claimedAt: 7 })
    lane.running = 1
    expect(lane.take()).toBeUndefined()
    expect(lane.remove('nope')).toBeUndefined()
    expect(lane.clear().map((b) => b.row.id)).toEqual(['b'])
    expect(lane.buffered).toBe(0)
  })

  describe('adaptive prefetch', () => {
    /** One claim of `limit` that brings `claimed`, with `during` run while it is out. */
    const claim = (lane: Lane, limit: number, claimed: number, during: (lane: Lane) => void = () => {}) => {
      lane.claimBegins()
      lane.claiming = Promise.resolve([])
      during(lane)
      lane.claiming = undefined
      lane.claimEnds(claimed, limit)
      return lane.prefetch
    }
    /** While the claim is out, a slot frees and the buffer has nothing for it. */
    const slotRunsDry = (lane: Lane) => {
      lane.running = 1
      lane.slotFreed()
    }

    it('doubles when a slot ran dry while a full claim was out, up to the most', () => {
      const lane = new Lane('q', ['t'], 2, 10, 70)
      lane.running = 2
      const sizes = [1, 2, 3, 4].map(() => claim(lane, 50, 50, slotRunsDry))
      expect(sizes).toEqual([20, 40, 70, 70])
    })

    it('doubles when the slots stood idle as a claim began after a full one (the batch ran out first)', () => {
      const lane = new Lane('q', ['t'], 2, 10, 1000)
      expect(claim(lane, 12, 12)).toBe(10) // the first claim: idle slots only mean an idle worker
      expect(claim(lane, 12, 12)).toBe(20)
      expect(claim(lane, 22, 5)).toBe(10) // the queue ran short
      expect(claim(lane, 12, 12)).toBe(10) // idle slots after a short claim: the queue was empty
    })

    it('stays while the slots are kept busy and a claim consumes a quarter of the buffer or more', () => {
      const lane = new Lane('q', ['t'], 2, 10, 1000)
      lane.prefetch = 40
      lane.running = 2
      expect(claim(lane, 50, 50, (l) => (l.started += 10))).toBe(40)
      expect(claim(lane, 50, 49, slotRunsDry)).toBe(20) // starved, but the store ran short
    })

    it('halves, down to the least, when claims come back short or jobs outlast a claim', () => {
      const lane = new Lane('q', ['t'], 2, 10, 1000)
      lane.prefetch = 160
      lane.running = 2
      expect(claim(lane, 50, 3, (l) => (l.started += 100))).toBe(80)
      expect(claim(lane, 50, 50, (l) => (l.started += 19))).toBe(40) // under a quarter of 80 started
      for (let i = 0; i < 5; i++) claim(lane, 50, 0)
      expect(lane.prefetch).toBe(10)
    })

    it('never changes a prefetch the user fixed, and bound() restarts from the least', () => {
      const fixed = new Lane('q', ['t'], 2, 4)
      fixed.running = 2
      expect(claim(fixed, 6, 6, slotRunsDry)).toBe(4)
      const lane = new Lane('q', ['t'], 2, 10, 1000)
      lane.running = 2
      expect(claim(lane, 12, 12, slotRunsDry)).toBe(20)
      lane.bound(0)
      expect([lane.prefetch, lane.minPrefetch, lane.maxPrefetch]).toEqual([0, 0, 0])
    })
  })
})
