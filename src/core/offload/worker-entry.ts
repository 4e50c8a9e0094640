// Runs inside a pool thread: piscina imports this file (its `filename`) and calls the default
// export once per task. It loads the task's module, calls the named export with `(input, ctx)` and
// returns a TaskOutcome, so the task's own errors cross as data that the main thread rebuilds.
import { AfterworkError } from '../errors.js'
import { CancelState, type OffloadContext, type SerializedThrown, type TaskOutcome, type TaskPayload } from './messages.js'

const modules = new Map<string, Promise<Record<string, unknown>>>()

/** Imports each module once per thread; a failed import is forgotten so the next task retries it. */
function load(href: string): Promise<Record<string, unknown>> {
  let loading = modules.get(href)
  if (loading === undefined) {
    loading = import(href) as Promise<Record<string, unknown>>
    modules.set(href, loading)
    loading.catch(() => modules.delete(href))
  }
  return loading
}

const neverCancelled: OffloadContext = {
  cancelled: () => false,
  throwIfCancelled: () => {},
}

function context(cancel: Int32Array | undefined): OffloadContext {
  if (cancel === undefined) return neverCancelled
  const cancelled = () => Atomics.load(cancel, 0) === CancelState.cancelled
  return {
    cancelled,
    throwIfCancelled() {
      if (cancelled()) throw new DOMException('The offloaded task was cancelled', 'AbortError')
    },
  }
}

/** piscina's handler: one task in, one outcome out. */
export default async function runOffloaded(payload: TaskPayload): Promise<TaskOutcome> {
  const { module, exportName, input, cancel } = payload
  // Cancelled while it waited for this thread: the main thread has already given up on it.
  if (cancel !== undefined && Atomics.compareExchange(cancel, 0, CancelState.queued, CancelState.running) === CancelState.cancelled) {
    return { ok: false, cancelled: true }
  }
  try {
    const exports = await load(module)
    const fn = exports[exportName]
    if (typeof fn !== 'function') {
      const found = exportName in exports ? `a ${typeof fn}` : 'nothing'
      throw new AfterworkError(
        'ERR_OFFLOAD_EXPORT',
        `${module} exports ${found} under "${exportName}": offload needs a function there (export function ${exportName}(input, ctx) { ... })`,
      )
    }
    return { ok: true, value: await (fn as (input: unknown, ctx: OffloadContext) => unknown)(input, context(cancel)) }
  } catch (thrown) {
    return { ok: false, error: serializeThrown(thrown) }
  }
}

const MAX_CAUSE_DEPTH = 5

function serializeThrown(thrown: unknown, depth = 0): SerializedThrown {
  if (!(thrown instanceof Error)) return { kind: 'value', value: cloneable(thrown) ? thrown : String(thrown) }
  const props: Record<string, unknown> = {}
  for (const key of Object.keys(thrown)) {
    if (key === 'name' || key === 'message' || key === 'stack' || key === 'cause') continue
    const value = (thrown as unknown as Record<string, unknown>)[key]
    if (cloneable(value)) props[key] = value
  }
  return {
    kind: 'error',
    name: thrown.name,
    message: thrown.message,
    stack: thrown.stack,
    props,
    afterwork: thrown instanceof AfterworkError,
    ...('cause' in thrown && depth < MAX_CAUSE_DEPTH ? { cause: serializeThrown(thrown.cause, depth + 1) } : {}),
  }
}

/** Errors are rare, so paying for a trial clone here is cheaper than failing to send the outcome. */
function cloneable(value: unknown): boolean {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol')) return true
  try {
    structuredClone(value)
    return true
  } catch {
    return false
  }
}
