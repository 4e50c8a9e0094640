/**
 * Waiting on a signal that many operations share (one service-wide stop signal, one request's
 * signal passed to thousands of offloaded runs) without one `abort` listener per operation: Node's
 * EventTarget checks every listener for a duplicate on each `addEventListener` and walks them all on
 * each `removeEventListener`, so N waiters on one signal cost O(N^2). Here a signal has at most one
 * listener, which calls a Set of callbacks; joining and leaving are O(1), and the listener goes when
 * the last waiter leaves, so a long-lived signal keeps nothing behind.
 */
interface Waiters {
  callbacks: Set<() => void>
  listener: () => void
}

const waiting = new WeakMap<AbortSignal, Waiters>()

/**
 * Calls `fn` once when `signal` aborts (not if it already has: check `signal.aborted` first).
 * Returns the function that stops waiting; call it when the operation ends either way.
 */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  let waiters = waiting.get(signal)
  if (waiters === undefined) {
    const callbacks = new Set<() => void>()
    const listener = () => {
      waiting.delete(signal)
      for (const callback of callbacks) callback()
      callbacks.clear()
    }
    waiters = { callbacks, listener }
    waiting.set(signal, waiters)
    signal.addEventListener('abort', listener, { once: true })
  }
  // A fresh wrapper per call: the same fn waiting twice is two waiters.
  const entry = () => fn()
  const joined = waiters
  joined.callbacks.add(entry)
  return () => {
    if (!joined.callbacks.delete(entry) || joined.callbacks.size > 0) return
    signal.removeEventListener('abort', joined.listener)
    if (waiting.get(signal) === joined) waiting.delete(signal)
  }
}
