import { AsyncLocalStorage } from 'node:async_hooks'
import { randomUUID } from 'node:crypto'

/** What a request's tasks run inside: anything carrying the id (a request's BackgroundTasks itself, so no object is made per run). */
export interface RequestContext {
  readonly requestId: string
}

const storage = new AsyncLocalStorage<RequestContext>()

/**
 * Whether AsyncLocalStorage is cheap here. From Node 24 it rides on AsyncContextFrame and costs
 * next to nothing; before that, the first use turns on promise hooks that slow every promise in the
 * process for good (a bare Hono server measured 15% more CPU per request on Node 20).
 */
export const cheapAsyncContext = Number(process.versions.node.split('.')[0]) >= 24

/**
 * The id of the request whose background task is running, or undefined outside one (and always
 * on Node < 24 unless the service was created with `background: { requestContext: true }`). Lets code deep
 * inside a task tag its logs without passing the id down.
 */
export function currentRequestId(): string | undefined {
  return storage.getStore()?.requestId
}

/** Runs `fn` with `context.requestId` as the current request id. */
export function runInRequestContext<T>(context: RequestContext, fn: () => T): T {
  return storage.run(context, fn)
}

const REQUEST_ID = /^[\w.-]{1,128}$/

/** The incoming `x-request-id` when it is 1-128 word characters, dots or dashes, else a fresh UUID. */
export function requestIdFrom(header: string | readonly string[] | null | undefined): string {
  const value = Array.isArray(header) ? header[0] : header
  return typeof value === 'string' && REQUEST_ID.test(value) ? value : randomUUID()
}
