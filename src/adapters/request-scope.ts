import type { IncomingMessage, ServerResponse } from 'node:http'
import type { BackgroundTasks } from '../core/background-tasks.js'
import type { AnyService, Service } from '../service.js'

/**
 * One request's afterwork bookkeeping, the same in every adapter: its id, its post-response tasks,
 * and whether the handler threw (for the error count). Adapters open it when the request arrives and
 * close it when the Node response closes.
 */
export interface RequestScope {
  service: AnyService
  requestId: string
  background: BackgroundTasks
  /** Set by the adapter's error handler when the handler threw an unexpected error. */
  threw: boolean
}

/** The service's state type. */
export type StateOf<T> = T extends Service<infer S> ? S : never

/**
 * The route label of a request that matched no route (404s, or a bare listener that did not name
 * its route): one series for all of them, never the raw path.
 */
export const UNMATCHED_ROUTE = '(unmatched)'

/**
 * The request's `x-request-id` header (its first, if repeated), read from `rawHeaders`:
 * `req.headers` builds an object of every header on first use, which a bare listener or
 * @hono/node-server otherwise never pays for.
 */
export function requestIdHeader(req: IncomingMessage): string | undefined {
  const raw = req.rawHeaders
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    if (name.length === 12 && name.toLowerCase() === 'x-request-id') return raw[i + 1]
  }
  return undefined
}

/** Opens the scope of one request whose id is already decided (see `requestIdFrom`). */
export function openRequestScope(svc: AnyService, requestId: string): RequestScope {
  return { service: svc, requestId, background: svc.createBackgroundTasks(requestId), threw: false }
}

/** Counts the request in the service's metrics and starts its post-response tasks. */
export function closeRequestScope(scope: RequestScope, method: string, route: string, status: number): void {
  scope.service.metrics.recordRequest(method, route, status, scope.threw)
  scope.background.start()
}

/**
 * Closes the scope when the Node response emits `close`: after `finish` (the last byte handed to
 * the OS) or when the client went away first, so tasks run in both cases. `route` is read then,
 * once the framework has matched the request.
 */
export function closeOnResponseClose(res: ServerResponse, scope: RequestScope, method: string, route: () => string): void {
  // on, not once: a response closes once, and once() allocates a wrapper per request.
  res.on('close', () => closeRequestScope(scope, method, route(), res.statusCode))
}

/**
 * Names the service an app serves, so the Express and Fastify adapters can type `req.state` (their
 * request objects are typed by declaration merging, which cannot take a type parameter). Declare it
 * once, next to the service:
 *
 * @example
 * declare module 'afterwork/express' {   // or 'afterwork/fastify': it is the same interface
 *   interface AfterworkRegister {
 *     service: typeof svc
 *   }
 * }
 */
export interface AfterworkRegister {}

/** The registered service's state type; a plain record until a service is registered. */
export type RegisteredState = AfterworkRegister extends { service: infer T } ? StateOf<T> : Record<string, unknown>

// A request's scope, kept beside the framework's request object rather than on it: a property
// added per request reshapes Express's request objects (their prototype is swapped per app), which
// measured at +15 µs a request on Express 5.
const scopes = new WeakMap<object, RequestScope>()

const SCOPE: unique symbol = Symbol('afterwork.scope')

interface ScopeCarrier {
  [SCOPE]?: RequestScope
}

/** The request's scope, when the adapter's middleware or hook ran. */
export function scopeOf(request: object): RequestScope | undefined {
  return (request as ScopeCarrier)[SCOPE] ?? scopes.get(request)
}

/** Keeps the scope for a framework's request object (see {@link scopeOf}). */
export function attachScope(request: object, scope: RequestScope): void {
  scopes.set(request, scope)
}

/**
 * Keeps the scope on `carrier` itself, for a per-request object whose shape does not mind one more
 * property (a Hono Context, a plain class instance): a WeakMap entry per request measured at about
 * 1 µs on Hono (ephemeron table growth and its GC work), a property at next to nothing.
 */
export function carryScope(carrier: object, scope: RequestScope): void {
  ;(carrier as ScopeCarrier)[SCOPE] = scope
}
