// What crosses between pool.ts (the main thread) and worker-entry.ts (a pool thread). Everything
// here is structured-cloned, so it holds data only: no classes, no functions.

/**
 * The second argument of an offloaded function. Cancel (the caller's signal, or the run's timeout)
 * raises a flag in shared memory; a long task polls it and stops early. A task that ignores it is
 * terminated with its thread after the pool's `cancelGrace`, without running its `finally` blocks.
 *
 * @example
 * export function crunch(rows: number[], ctx: OffloadContext): number {
 *   let sum = 0
 *   for (let i = 0; i < rows.length; i++) {
 *     if (i % 10_000 === 0) ctx.throwIfCancelled()
 *     sum += rows[i]
 *   }
 *   return sum
 * }
 */
export interface OffloadContext {
  /** True once the run was cancelled. Reading it costs one atomic load: poll it in hot loops. */
  cancelled(): boolean
  /**
   * Throws a `DOMException` named `AbortError` once the run was cancelled. The caller's `run()`
   * rejects with its own signal's reason (or `ERR_TIMEOUT`), not with this error.
   */
  throwIfCancelled(): void
}

/**
 * States of the one-slot `Int32Array` sent with a cancellable task. The thread moves it from
 * `queued` to `running` when it picks the task up; the main thread moves it to `cancelled`. A
 * compare-and-swap on it tells the main thread whether a cancelled task had started.
 */
export const CancelState = { queued: 0, running: 1, cancelled: 2 } as const

/** The task piscina hands to worker-entry.ts. */
export interface TaskPayload {
  /** The module's URL (`href`). */
  module: string
  exportName: string
  input: unknown
  /** Present only when the caller gave a signal or a timeout (see {@link CancelState}). */
  cancel?: Int32Array
}

/** Something thrown in the thread, in a form that survives structured clone. */
export type SerializedThrown = SerializedError | { kind: 'value'; value: unknown }

/**
 * An Error thrown in the thread. Structured clone alone keeps the message, the stack and built-in
 * names (TypeError...) but turns any other name into `Error` and drops own properties such as
 * `code`, so the thread sends them explicitly and the main thread rebuilds the error.
 */
export interface SerializedError {
  kind: 'error'
  name: string
  message: string
  stack: string | undefined
  /** Own enumerable properties (`code`, `status`...) whose values can be cloned. */
  props: Record<string, unknown>
  /** True for an `AfterworkError`, rebuilt as one on the main thread. */
  afterwork: boolean
  cause?: SerializedThrown
}

/** The brand of a {@link TaskFailure}. */
export const TASK_FAILURE = 'afterwork.offload.failure'

/**
 * What worker-entry.ts throws when a task gives no value: it threw or rejected, or it was skipped
 * because it had been cancelled while it waited. A value goes back as itself, with no wrapper (for a
 * small task, cloning a wrapper both ways is a measurable share of the round trip). piscina posts
 * this plain object as it is and rejects the run with it; the brand tells it from piscina's own
 * rejections, which are always Error instances.
 */
export type TaskFailure =
  | { [TASK_FAILURE]: true; error: SerializedThrown }
  /** The thread picked up a task that had already been cancelled and did not start it. */
  | { [TASK_FAILURE]: true; cancelled: true }

export function isTaskFailure(value: unknown): value is TaskFailure {
  return typeof value === 'object' && value !== null && (value as Record<string, unknown>)[TASK_FAILURE] === true
}
