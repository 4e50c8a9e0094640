import { describe, expect, it } from 'vitest'
import type { JobRow } from './driver.js'
import { Lane } from './lane.js'

const row = (id: string, priority = 0) => ({ id, priority }) as JobRow
const order = (lane: Lane) => lane.ids()

describe('Lane', () => {
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

  describe('adapt', () => {
    it('doubles when the slots starved during a full claim, up to the most', () => {
      const lane = new Lane('q', ['t'], 2, 10, 70)
      const sizes: number[] = []
      for (let i = 0; i < 4; i++) {
        lane.starved = true
        lane.adapt(50, 50, 50)
        sizes.push(lane.prefetch)
      }
      expect(sizes).toEqual([20, 40, 70, 70])
    })

    it('stays when the slots did not starve and the claim consumed at least a quarter of the buffer', () => {
      const lane = new Lane('q', ['t'], 2, 10, 1000)
      lane.prefetch = 40
      lane.adapt(50, 50, 10)
      expect(lane.prefetch).toBe(40)
      lane.starved = true
      lane.adapt(49, 50, 40) // the store ran short: a larger claim would find no more
      expect(lane.prefetch).toBe(20)
    })

    it('halves, down to the least, when claims come back short or jobs outlast a claim', () => {
      const lane = new Lane('q', ['t'], 2, 10, 1000)
      lane.prefetch = 160
      lane.adapt(3, 50, 100)
      expect(lane.prefetch).toBe(80)
      lane.adapt(50, 50, 19) // 19 started while the claim was out: under a quarter of 80
      expect(lane.prefetch).toBe(40)
      for (let i = 0; i < 5; i++) lane.adapt(0, 50, 0)
      expect(lane.prefetch).toBe(10)
    })

    it('never changes a fixed prefetch, and bound() restarts from the least', () => {
      const fixed = new Lane('q', ['t'], 2, 4)
      fixed.starved = true
      fixed.adapt(6, 6, 6)
      expect(fixed.prefetch).toBe(4)
      const lane = new Lane('q', ['t'], 2, 10, 1000)
      lane.starved = true
      lane.adapt(12, 12, 12)
      expect(lane.prefetch).toBe(20)
      lane.bound(0)
      expect([lane.prefetch, lane.minPrefetch, lane.maxPrefetch]).toEqual([0, 0, 0])
    })
  })
})

