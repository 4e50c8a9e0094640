import type { JobRow } from './driver.js'

/** A claimed job waiting in a lane's buffer for a free slot. */
export interface Buffered {
  row: JobRow
  /** `clock.monotonic()` when the claim returned it: the wait in the buffer adds to its lag. */
  claimedAt: number
}

/**
 * One queue's share of a Worker: its slots, how many of them run, and the buffer of jobs claimed
 * ahead of the free slots (prefetch). Counts are kept here so no claim pass walks the running jobs.
 * The buffer is kept in claim order (priority first), so jobs claimed later with a higher priority
 * start before buffered ones of lower priority.
 *
 * The buffer's size adapts between `minPrefetch` and `maxPrefetch` (equal when the user fixed it): it
 * must hold the jobs the slots start while one claim is in flight, and that depends on how long
 * jobs run and how long a claim takes, which only the running worker knows. See `claimEnds()`.
 */
export class Lane {
  readonly queue: string
  names: readonly string[]
  readonly concurrency: number
  /** How many jobs may wait in the buffer now; 0 claims only for free slots. */
  prefetch = 0
  /** The smallest prefetch `claimEnds()` shrinks to, and where it starts. */
  minPrefetch = 0
  /** The largest prefetch `claimEnds()` grows to. */
  maxPrefetch = 0
  /** Jobs of this queue running now. */
  running = 0
  /** Jobs of this queue started so far: what a claim's round trip consumed is read from it. */
  started = 0
  #startedAtClaim = 0
  /** Slots stood free with nothing buffered, waiting on the claim in flight. */
  #starved = false
  /** The last claim came back with as many jobs as it asked for: more may be waiting in the store. */
  #lastFull = false
  /** The claim in flight: at most one per lane, so two claims never over-fill it. */
  claiming: Promise<JobRow[]> | undefined
  /** A wake-up came while a claim was in flight: look again once it returns. */
  wokenDuringClaim = false
  /** Jobs may be waiting in the store (a full batch, a wake-up or a poll with no room): claim when room opens. */
  more = false
  /** Cancels the timer of the claim loop's wait; the worker's stop aborts it to end the wait. */
  sleep: AbortController | undefined
  /** `wake()` was called since the claim loop's pass began: its wait ends at once. */
  #woken = false
  #endWait: (() => void) | undefined
  readonly #buffer: Buffered[] = []

  constructor(queue: string, names: readonly string[], concurrency: number, prefetch: number, maxPrefetch = prefetch) {
    this.queue = queue
    this.names = names
    this.concurrency = concurrency
    this.bound(prefetch, maxPrefetch)
  }

  /**
   * Ends the claim loop's wait, or the next one as soon as it begins. A plain resolver rather than
   * aborting the wait's signal: dispatching the abort event and settling the rejected timer took
   * 0.1 ms between a NOTIFY's arrival and the claim it wakes (issue 7, pick-up latency).
   */
  wake(): void {
    this.#woken = true
    this.#endWait?.()
  }

  /** The claim loop begins a pass: wake-ups from now on end the wait after it. */
  passBegins(): void {
    this.#woken = false
  }

  /** The claim loop's wait: until `timer` settles or `wake()`; at once if woken since the pass began. */
  async wait(timer: () => Promise<void>): Promise<void> {
    if (this.#woken) return
    await new Promise<void>((resolve) => {
      this.#endWait = resolve
      timer().then(resolve, resolve)
    })
    this.#endWait = undefined
  }

  /** Sets the bounds (and restarts from the smallest), as when the queue's tasks change. */
  bound(minPrefetch: number, maxPrefetch = minPrefetch): void {
    this.prefetch = minPrefetch
    this.minPrefetch = minPrefetch
    this.maxPrefetch = Math.max(minPrefetch, maxPrefetch)
  }

  /**
   * A claim begins. Slots idle now after a full claim mean the last batch ran out before this one
   * was asked for (no-op jobs run a whole batch in the turn it arrives): the lane starved. Idle
   * slots after a short claim say nothing of job length: the queue was empty.
   */
  claimBegins(): void {
    this.#starved = this.#lastFull && this.running < this.concurrency
    this.#startedAtClaim = this.started
  }

  /** A slot freed and the buffer could not fill it: starved, if a claim is out. */
  slotFreed(): void {
    if (this.claiming && this.running < this.concurrency) this.#starved = true
  }

  /**
   * The claim that began with `claimBegins()` came back with `claimed` of the `limit` it asked for.
   * The buffer's size adapts to what happened while it was out (unless the user fixed it):
   * - It doubles when the slots starved and the claim came back full (more jobs wait in the
   *   store): the buffer ran dry before a claim could refill it, so jobs are short next to a
   *   claim's round trip, and slots idle for want of a larger one.
   * - It halves when the store ran short (fewer jobs than asked for), or when the slots started
   *   fewer than a quarter of the buffer while the claim was out: the jobs are long next to a
   *   claim, and a buffer that large only holds jobs another worker could run.
   * So short jobs on a deep queue are claimed in large batches, as graphile-worker's local queue of
   * 500 does, while long jobs keep the small default buffer, which Celery's fixed prefetch does not.
   */
  claimEnds(claimed: number, limit: number): void {
    this.#lastFull = claimed >= limit
    if (this.minPrefetch === this.maxPrefetch) return
    const consumed = this.started - this.#startedAtClaim
    if (this.#lastFull && this.#starved) this.prefetch = Math.min(this.maxPrefetch, this.prefetch * 2)
    else if (!this.#lastFull || consumed * 4 < this.prefetch) this.prefetch = Math.max(this.minPrefetch, this.prefetch >> 1)
  }

  get buffered(): number {
    return this.#buffer.length
  }

  /** How many jobs a claim may take now: free slots plus free buffer places. */
  room(): number {
    if (this.concurrency <= 0) return 0
    return Math.max(0, this.concurrency + this.prefetch - this.running - this.#buffer.length)
  }

  /**
   * Whether to claim now: a slot is free, or the buffer fell below half. Waiting for half (not for
   * any free place) keeps claims large while the buffer still feeds the slots.
   */
  needsClaim(): boolean {
    if (this.room() === 0) return false
    return this.running + this.#buffer.length < this.concurrency || this.#buffer.length * 2 < this.prefetch
  }

  /** Adds a claim's rows (in claim order), ahead of buffered jobs of lower priority. */
  add(rows: readonly JobRow[], claimedAt: number): void {
    if (rows.length === 0) return
    const incoming = rows.map((row) => ({ row, claimedAt }))
    const last = this.#buffer.at(-1)
    if (last === undefined || last.row.priority >= (rows[0] as JobRow).priority) {
      this.#buffer.push(...incoming)
      return
    }
    // Both lists are in priority order: merge them, buffered first among equals (claimed earlier).
    const merged: Buffered[] = []
    let i = 0
    let j = 0
    while (i < this.#buffer.length && j < incoming.length) {
      merged.push((this.#buffer[i] as Buffered).row.priority >= (incoming[j] as Buffered).row.priority ? (this.#buffer[i++] as Buffered) : (incoming[j++] as Buffered))
    }
    merged.push(...this.#buffer.slice(i), ...incoming.slice(j))
    this.#buffer.splice(0, this.#buffer.length, ...merged)
  }

  /** The next buffered job, when a slot is free for it. */
  take(): Buffered | undefined {
    return this.running < this.concurrency ? this.#buffer.shift() : undefined
  }

  /** Removes a buffered job by id (cancelled or lost before it started). */
  remove(id: string): Buffered | undefined {
    const index = this.#buffer.findIndex((b) => b.row.id === id)
    return index < 0 ? undefined : this.#buffer.splice(index, 1)[0]
  }

  /** Empties the buffer (a stopping worker hands these back). */
  clear(): Buffered[] {
    return this.#buffer.splice(0, this.#buffer.length)
  }

  ids(): string[] {
    return this.#buffer.map((b) => b.row.id)
  }
}
