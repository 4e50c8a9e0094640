import { describe, expect, it } from 'vitest'
import { IndexedMinHeap, type HeapItem } from './heap.js'

interface Item extends HeapItem {
  id: number
}

/** A seeded generator (mulberry32), so a failing sequence can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

describe('IndexedMinHeap', () => {
  it('pops in key order, with each item knowing its index, across random adds, moves and removals', () => {
    const next = random(42)
    const heap = new IndexedMinHeap<Item>()
    const items: Item[] = Array.from({ length: 200 }, (_, id) => ({ id, heapKey: 0, heapIndex: -1 }))
    const inHeap = new Set<Item>()
    for (let step = 0; step < 5_000; step++) {
      const item = items[Math.floor(next() * items.length)] as Item
      const op = next()
      if (op < 0.6) {
        item.heapKey = Math.floor(next() * 1_000)
        heap.update(item)
        inHeap.add(item)
      } else if (op < 0.8) {
        heap.remove(item)
        inHeap.delete(item)
      } else {
        const top = heap.pop()
        const expected = Math.min(...[...inHeap].map((i) => i.heapKey))
        if (inHeap.size === 0) expect(top).toBeUndefined()
        else {
          expect(top?.heapKey).toBe(expected)
          inHeap.delete(top as Item)
        }
      }
      expect(heap.size).toBe(inHeap.size)
    }
    for (const item of items) expect(item.heapIndex >= 0).toBe(inHeap.has(item))
    const drained: number[] = []
    for (let top = heap.pop(); top; top = heap.pop()) {
      expect(top.heapIndex).toBe(-1)
      drained.push(top.heapKey)
    }
    expect(drained).toEqual([...inHeap].map((i) => i.heapKey).sort((a, b) => a - b))
  })

  it('moves an item up and down when its key changes, and ignores removing one that is not in it', () => {
    const heap = new IndexedMinHeap<Item>()
    const [a, b, c] = [1, 2, 3].map((id) => ({ id, heapKey: id * 10, heapIndex: -1 })) as [Item, Item, Item]
    for (const item of [a, b, c]) heap.update(item)
    expect(heap.peek()).toBe(a)
    c.heapKey = 5
    heap.update(c)
    expect(heap.peek()).toBe(c)
    c.heapKey = 50
    heap.update(c)
    expect(heap.peek()).toBe(a)
    heap.remove(a)
    heap.remove(a)
    expect([heap.pop(), heap.pop(), heap.pop()]).toEqual([b, c, undefined])
  })
})
