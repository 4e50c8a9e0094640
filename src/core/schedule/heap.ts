/** What {@link IndexedMinHeap} orders: the item carries its key and its own position. */
export interface HeapItem {
  /** The key; an item whose key changes is moved with {@link IndexedMinHeap.update}. */
  heapKey: number
  /** Where the item sits in the heap, or -1 when it is not in it. Only the heap writes it. */
  heapIndex: number
}

/**
 * A binary min-heap that holds its items themselves, each knowing its index, so an item is moved
 * or removed in O(log n) with no entry objects and no stale entries: the scheduler keeps one item
 * per schedule, and with 10,000 schedules an entry object each was 640 KB of heap.
 */
export class IndexedMinHeap<T extends HeapItem> {
  readonly #items: T[] = []

  get size(): number {
    return this.#items.length
  }

  peek(): T | undefined {
    return this.#items[0]
  }

  /** Adds `item`, or moves it if it is already in the heap (its key changed). */
  update(item: T): void {
    if (item.heapIndex < 0) {
      item.heapIndex = this.#items.length
      this.#items.push(item)
    }
    this.#siftDown(this.#siftUp(item.heapIndex))
  }

  /** Takes `item` out of the heap; does nothing if it is not in it. */
  remove(item: T): void {
    const i = item.heapIndex
    if (i < 0) return
    item.heapIndex = -1
    const last = this.#items.pop() as T
    if (last === item) return
    this.#items[i] = last
    last.heapIndex = i
    this.#siftDown(this.#siftUp(i))
  }

  pop(): T | undefined {
    const top = this.#items[0]
    if (top !== undefined) this.remove(top)
    return top
  }

  #siftUp(i: number): number {
    const items = this.#items
    const item = items[i] as T
    while (i > 0) {
      const parent = (i - 1) >> 1
      const above = items[parent] as T
      if (above.heapKey <= item.heapKey) break
      items[i] = above
      above.heapIndex = i
      i = parent
    }
    items[i] = item
    item.heapIndex = i
    return i
  }

  #siftDown(i: number): void {
    const items = this.#items
    const item = items[i] as T
    const n = items.length
    for (;;) {
      const left = 2 * i + 1
      if (left >= n) break
      const right = left + 1
      const child = right < n && (items[right] as T).heapKey < (items[left] as T).heapKey ? right : left
      const below = items[child] as T
      if (below.heapKey >= item.heapKey) break
      items[i] = below
      below.heapIndex = i
      i = child
    }
    items[i] = item
    item.heapIndex = i
  }
}
