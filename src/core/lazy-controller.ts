/**
 * Something in flight whose AbortController is made on first use: when its code first reads the
 * signal, or when it is aborted. Most runs (a job, a schedule's fire) never read their signal, and
 * an AbortController with its AbortSignal was most of a trivial run's cost; a run aborted before it
 * looks finds its signal already aborted.
 */
export interface LazyAbort {
  controller: AbortController | undefined
}

/** The run's AbortController, made now if it has none yet. */
export function controllerOf(run: LazyAbort): AbortController {
  run.controller ??= new AbortController()
  return run.controller
}
