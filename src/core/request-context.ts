import { AsyncLocalStorage } from 'node:async_hooks'

interface RequestContext {
  requestId: string
}

const storage = new AsyncLocalStorage<RequestContext>()

/**
 * The id of the request whose background task is running, or undefined outside one. Lets code deep
 * inside a task tag its logs without passing the id down.
 */
export function currentRequestId(): string | undefined {
  return storage.getStore()?.requestId
}

/** Runs `fn` with `requestId` as the current request id. */
export function runWithRequestId<T>(requestId: string, fn: () => T): T {
  return storage.run({ requestId }, fn)
}

const REQUEST_ID = /^[\w.-]{1,128}$/

/** The incoming `x-request-id` when it is 1-128 word characters, dots or dashes, else a fresh UUID. */
export function requestIdFrom(header: string | readonly string[] | null | undefined): string {
  const value = Array.isArray(header) ? header[0] : header
  return typeof value === 'string' && REQUEST_ID.test(value) ? value : crypto.randomUUID()
}
