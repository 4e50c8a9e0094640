import { AsyncLocalStorage } from 'node:async_hooks'
import { randomUUIDv4 } from './ids.js'

// The store is the id itself: a task that outlives its request (a timer it set) keeps only that alive.
const storage = new AsyncLocalStorage<string>()

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
  return storage.getStore()
}

/**
 * Makes `requestId` the current request id for the rest of the running callback and what it
 * starts. Only for a callback Node runs in a context of its own and sets back after (a timer's,
 * an event emitted from a tick): elsewhere the id would leak into the caller's code after it.
 */
export function enterRequestId(requestId: string): void {
  storage.enterWith(requestId)
}

/** Runs `fn` with `requestId` as the current request id. */
export function runWithRequestId<T>(requestId: string, fn: () => T): T {
  return storage.run(requestId, fn)
}

const REQUEST_ID = /^[\w.-]{1,128}$/

/** The incoming `x-request-id` when it is 1-128 word characters, dots or dashes, else a fresh UUID. */
export function requestIdFrom(header: string | readonly string[] | null | undefined): string {
  const value = Array.isArray(header) ? header[0] : header
  return typeof value === 'string' && REQUEST_ID.test(value) ? value : randomUUIDv4()
}
