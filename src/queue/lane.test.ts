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
})
