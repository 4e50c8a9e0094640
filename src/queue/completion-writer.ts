import type { Clock } from '../core/clock.js'
import type { Events } from '../core/events.js'
import type { Logger } from '../core/logger.js'
import type { Completion, JobRow } from './driver.js'
import type { Queue } from './queue.js'

/** An attempt's outcome, waiting to be written. */
export interface Outcome {
  completion: Completion
  row: JobRow
  durationMs: number
  error?: unknown
}

/**
 * Writes a worker's job outcomes in batches (at most `batch` per transaction) and reports each one
 * (events, logs) once it is stored. A failed write keeps its batch for the next try: nothing is lost.
 */
export class CompletionWriter {
  readonly #queue: Queue<unknown>
  readonly #clock: Clock
  readonly #log: Logger
  readonly #events: Events
  readonly #batch: number
  readonly #retryMs: number
  readonly #workerId: () => string
  readonly #onIdle: () => void
  readonly #pending: Outcome[] = []
  #flushing: Promise<void> | undefined
  #scheduled = false
  /** The size of the batch being written now (0 when no write is out). */
  #writing = 0
  /** Aborted by abandon(): no more writes, and a retry's wait ends at once. */
  readonly #abandoned = new AbortController()

  constructor(deps: {
    queue: Queue<unknown>
    clock: Clock
    log: Logger
    events: Events
    batch: number
    /** The wait before writing again after a failed write. */
    retryMs: number
    workerId: () => string
    /** Called when a write ends, so the worker can see whether it has settled. */
    onIdle: () => void
  }) {
    this.#queue = deps.queue
    this.#clock = deps.clock
    this.#log = deps.log
    this.#events = deps.events
    this.#batch = deps.batch
    this.#retryMs = deps.retryMs
    this.#workerId = deps.workerId
    this.#onIdle = deps.onIdle
  }

  /**
   * Stops writing (a stopping worker whose store does not answer): the retry loop ends after the
   * write in flight, and outcomes still pending are dropped. Their jobs are left running in the
   * store, so they run again once their leases expire. Returns how many were dropped, and how many
   * are in the write still out.
   */
  abandon(): { dropped: number; inFlight: number } {
    this.#abandoned.abort()
    // A write still out keeps its batch: it may yet be stored (and then reported).
    const inFlight = this.#writing
    const dropped = this.#pending.length - inFlight
    this.#pending.splice(inFlight)
    return { dropped, inFlight }
  }

  /** Nothing waits to be written and no write is in flight. */
  get idle(): boolean {
    return this.#pending.length === 0 && !this.#flushing
  }

  /** Queues an outcome: those of jobs that finish in the same turn of the event loop share one write. */
  add(outcome: Outcome): void {
    if (this.#abandoned.signal.aborted) return
    this.#pending.push(outcome)
    if (this.#pending.length >= this.#batch) {
      void this.flush()
      return
    }
    if (this.#scheduled) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      void this.flush()
    })
  }

  /** Queues outcomes and writes them now: jobs handed back, which another worker may take at once. */
  addNow(outcomes: readonly Outcome[]): Promise<void> {
    if (this.#abandoned.signal.aborted) return Promise.resolve()
    this.#pending.push(...outcomes)
    return this.flush()
  }

  /** Writes everything pending; resolves when it is stored (a write in flight is joined, not doubled). */
  flush(): Promise<void> {
    if (this.#flushing) return this.#flushing
    // With nothing to write there is nothing to wait for. (#writeAll awaits before anything else: an
    // async body that ran to its end before its promise was stored would clear #flushing first,
    // and the promise stored after would mark the writer busy for good.)
    if (this.#pending.length === 0) return Promise.resolve()
    this.#flushing = this.#writeAll()
    return this.#flushing
  }

  /**
   * Writes batches until nothing is pending. #flushing is cleared in the same step as the last
   * look at #pending: an outcome added after that look starts a write of its own, and one added
   * before it is written by this loop (clearing it a microtask later, in a `.finally()`, left
   * outcomes added in between joined to a write that had already ended).
   */
  async #writeAll(): Promise<void> {
    // Nothing before this await: #flushing is stored before the first write starts, so an outcome
    // added from inside a store's call joins this loop instead of starting a second one.
    await undefined
    try {
      while (this.#pending.length > 0 && !this.#abandoned.signal.aborted) {
        const batch = this.#pending.slice(0, this.#batch)
        const now = this.#queue.now
        this.#writing = batch.length
        try {
          await this.#queue.driver.jobCompleteMany({ workerId: this.#workerId(), completions: batch.map((p) => p.completion), ...(now === undefined ? {} : { now }) })
        } catch (error) {
          this.#writing = 0
          this.#log.error({ err: error, count: batch.length }, 'writing job outcomes failed; retrying')
          await this.#clock.sleep(this.#retryMs, this.#abandoned.signal).catch(() => {})
          continue
        }
        this.#writing = 0
        this.#pending.splice(0, batch.length)
        for (const p of batch) this.#report(p)
      }
    } finally {
      this.#flushing = undefined
      this.#onIdle()
    }
  }

  #report({ completion, row, durationMs, error }: Outcome): void {
    const { id, name } = row
    switch (completion.outcome) {
      case 'succeeded':
        this.#events.emit('job:succeeded', { id, name, durationMs, queue: row.queue })
        break
      case 'failed':
        if (completion.retryAt !== undefined) {
          this.#log.warn({ err: error, task: name, jobId: id, attempt: row.attempt }, 'job attempt failed; retrying')
          this.#events.emit('job:retrying', { id, name, attempt: row.attempt, retryAt: new Date(completion.retryAt), error, queue: row.queue, durationMs })
        } else {
          this.#log.error({ err: error ?? completion.error, task: name, jobId: id, attempt: row.attempt }, 'job failed')
          this.#events.emit('job:failed', { id, name, durationMs, error: error ?? completion.error, queue: row.queue })
        }
        break
      case 'cancelled':
        this.#events.emit('job:cancelled', { id, name, durationMs })
        break
      default:
        break
    }
  }
}
