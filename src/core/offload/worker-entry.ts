// Runs inside a pool thread: piscina imports this file (its `filename`) and calls the default
// export once per task. It loads the task's module, calls the named export with `(input, ctx)` and
// returns its value; the task's own errors are thrown as a TaskFailure, data that the main thread
// rebuilds.
import { AfterworkError } from '../errors.js'
import { isThenable } from '../thenable.js'
import { CancelState, TASK_FAILURE, type OffloadContext, type SerializedThrown, type TaskFailure, type TaskPayload } from './messages.js'

const modules = new Map<string, Promise<Record<string, unknown>>>()
/** Modules already loaded: a task of a loaded module starts without waiting a microtask. */
const loaded = new Map<string, Record<string, unknown>>()

function load(href: string): Promise<Record<string, unknown>> {
  let loading = modules.get(href)
  if (loading === undefined) {
    loading = import(href) as Promise<Record<string, unknown>>
    modules.set(href, loading)
    loading.then(
      (exports) => loaded.set(href, exports),
      () => modules.delete(href),
    )
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

/** piscina's handler: one task in, its value out, or a {@link TaskFailure} thrown. */
// Not async: a synchronous task's value goes back without a promise or a microtask in between,
// which is most of the thread's own cost for a small task.
export default function runOffloaded(payload: TaskPayload): unknown {
  const { module, cancel } = payload
  // Cancelled while it waited for this thread: the main thread has already given up on it.
  if (cancel !== undefined && Atomics.compareExchange(cancel, 0, CancelState.queued, CancelState.running) === CancelState.cancelled) {
    throw { [TASK_FAILURE]: true, cancelled: true } satisfies TaskFailure
  }
  const exports = loaded.get(module)
  if (exports !== undefined) return call(exports, payload)
  return load(module).then((loadedExports) => call(loadedExports, payload), failed)
}

/** Calls the task and returns its value; what it throws or rejects with is thrown as a TaskFailure. */
function call(exports: Record<string, unknown>, { module, exportName, input, cancel }: TaskPayload): unknown {
  try {
    const fn = exports[exportName]
    if (typeof fn !== 'function') {
      const found = exportName in exports ? `a ${typeof fn}` : 'nothing'
      throw new AfterworkError(
        'ERR_OFFLOAD_EXPORT',
        `${module} exports ${found} under "${exportName}": offload needs a function there (export function ${exportName}(input, ctx) { ... })`,
      )
    }
    const value = (fn as (input: unknown, ctx: OffloadContext) => unknown)(input, context(cancel))
    if (isThenable(value)) return Promise.resolve(value).then(undefined, failed)
    return value
  } catch (thrown) {
    return failed(thrown)
  }
}

function failed(thrown: unknown): never {
  throw { [TASK_FAILURE]: true, error: serializeThrown(thrown) } satisfies TaskFailure
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
