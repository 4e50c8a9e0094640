import { onAbort } from '../core/abort-fanout.js'
import type { Clock } from '../core/clock.js'
import { toMs, type Duration } from '../core/duration.js'

interface Sleeper {
  at: number
  seq: number
  resolve(): void
}

/**
 * A {@link Clock} that moves only when told. `advance(ms)` wakes due sleepers in time order and lets
 * promises settle between them, so code under test runs exactly as it would in real time, without
 * waiting.
 *
 * @example
 * const clock = new ManualClock(Date.parse('2026-03-08T00:00:00Z'))
 * const svc = createService({ clock })
 * await clock.advance('5m')
 */
export class ManualClock implements Clock {
  #now: number
  #seq = 0
  #sleepers: Sleeper[] = []

  constructor(start: number | Date = Date.parse('2026-01-01T00:00:00Z')) {
    this.#now = typeof start === 'number' ? start : start.getTime()
  }

  now(): number {
    return this.#now
  }

  monotonic(): number {
    return this.#now
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason)
    return new Promise<void>((resolve, reject) => {
      const sleeper: Sleeper = {
        at: this.#now + Math.max(0, ms),
        seq: this.#seq++,
        resolve: () => {
          leave?.()
          resolve()
        },
      }
      // As systemClock.sleep does: many sleepers on one signal share its one listener.
      const leave =
        signal &&
        onAbort(signal, () => {
          this.#sleepers = this.#sleepers.filter((s) => s !== sleeper)
          reject(signal.reason)
        })
      this.#sleepers.push(sleeper)
    })
  }

  /** How many sleeps are waiting: lets a test wait until the code under test has gone to sleep. */
  get pendingSleeps(): number {
    return this.#sleepers.length
  }

  /** Moves time forward by `by` (milliseconds or '5m'), waking each due sleeper in order and settling promises after each. */
  async advance(by: Duration): Promise<void> {
    const target = this.#now + toMs(by, 'advance')
    await settle()
    for (;;) {
      const next = this.#nextDue(target)
      if (!next) break
      this.#sleepers = this.#sleepers.filter((s) => s !== next)
      this.#now = Math.max(this.#now, next.at)
      next.resolve()
      await settle()
    }
    this.#now = Math.max(this.#now, target)
    await settle()
  }

  /** Jumps to `date` (forward only: wall clocks that go back are a different test). */
  set(date: number | Date): Promise<void> {
    const at = typeof date === 'number' ? date : date.getTime()
    return this.advance(Math.max(0, at - this.#now))
  }

  #nextDue(target: number): Sleeper | undefined {
    let best: Sleeper | undefined
    for (const s of this.#sleepers) {
      if (s.at <= target && (!best || s.at < best.at || (s.at === best.at && s.seq < best.seq))) best = s
    }
    return best
  }
}

/** Lets every pending promise callback run (a macrotask turn flushes the whole microtask queue). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
