import { onAbort } from './abort-fanout.js'

/**
 * The one way the library reads time and waits. Every component takes `clock?` in its options and
 * defaults to {@link systemClock}; tests pass a `ManualClock` from `afterwork/testing`.
 */
export interface Clock {
  /** Wall time in epoch milliseconds. */
  now(): number
  /** Milliseconds from an arbitrary origin that never goes backwards: use it for durations. */
  monotonic(): number
  /**
   * Resolves after `ms` milliseconds. Rejects with `signal.reason`, unchanged, if the signal aborts
   * first; the timer is then cleared and no listener is left behind.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>
}

/** The real clock: `Date.now()`, `performance.now()` and `setTimeout`. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  sleep(ms, signal) {
    if (signal?.aborted) return Promise.reject(signal.reason)
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        leave?.()
        resolve()
      }, Math.max(0, ms))
      const leave =
        signal &&
        onAbort(signal, () => {
          clearTimeout(timer)
          reject(signal.reason)
        })
    })
  },
}

/**
 * The reason for aborting an internal timer or wake-up signal. `abort()` without a reason builds a
 * DOMException with a stack (several microseconds); on hot paths that adds up.
 */
export const TIMER_CANCELLED: Error = Object.freeze(Object.assign(new Error('timer cancelled'), { stack: '' })) as Error

/**
 * Races `promise` against a deadline on `clock`. Resolves `{ timedOut: false, value }` when the
 * promise settles first (rejecting if it rejects), `{ timedOut: true }` when `ms` passes first. The
 * deadline's timer is cleared either way, so nothing keeps the process alive afterwards.
 */
export async function withDeadline<T>(
  clock: Clock,
  ms: number,
  promise: Promise<T>,
): Promise<{ timedOut: false; value: T } | { timedOut: true }> {
  const timer = new AbortController()
  try {
    return await Promise.race([
      promise.then((value) => ({ timedOut: false as const, value })),
      clock.sleep(ms, timer.signal).then(() => ({ timedOut: true as const })),
    ])
  } finally {
    timer.abort(TIMER_CANCELLED)
  }
}
