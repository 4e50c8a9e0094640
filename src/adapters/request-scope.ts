import { IncomingMessage, ServerResponse, type OutgoingHttpHeaders } from 'node:http'
import { Socket } from 'node:net'
import type { BackgroundTasks } from '../core/background-tasks.js'
import type { AnyService, Service } from '../service.js'

/**
 * One request's afterwork bookkeeping, the same in every adapter: its id, its post-response tasks,
 * and whether the handler threw (for the error count). Adapters open it when the request arrives and
 * close it when the Node response closes. The task list is made when a handler first asks for it:
 * most requests add none, and every object a request allocates costs young-generation GC time.
 */
export class RequestScope {
  /** Set by the adapter's error handler when the handler threw an unexpected error. */
  threw = false
  /**
   * The framework's request context, when only code inside the app can name the matched route
   * (the Hono middleware sets its Context); the host that closes the scope reads the route from it
   * then. A plain field, not a closure: making a closure here per request doubled a request's CPU
   * under `serve()` on Node 20 (bench/RESULTS.md, ninth session).
   */
  routeContext: object | undefined = undefined
  #background: BackgroundTasks | undefined
  #closed = false

  constructor(
    readonly service: AnyService,
    readonly requestId: string,
  ) {}

  /** This request's post-response tasks; a list first asked for after the response closed starts at once. */
  get background(): BackgroundTasks {
    if (this.#background === undefined) {
      this.#background = this.service.createBackgroundTasks(this.requestId)
      if (this.#closed) this.#background.start()
    }
    return this.#background
  }

  /**
   * Starts the request's tasks, now or, for a list made later, when it is made. `inOwnCallback`:
   * the caller is the Node response's 'close' listener (see BackgroundTasks.start).
   */
  startBackground(inOwnCallback = false): void {
    this.#closed = true
    this.#background?.start(inOwnCallback)
  }

  /** The response is done: counts the request in the service's metrics and starts its tasks. */
  close(method: string, route: string, status: number, inOwnCallback = false): void {
    this.service.metrics.recordRequest(method, route, status, this.threw)
    this.startBackground(inOwnCallback)
  }

  /**
   * The route label the request is counted under, read when its response closes, once the
   * framework has matched it. Each adapter's scope reads it where its framework keeps it.
   */
  routeLabel(_res: ServerResponse): string {
    return UNMATCHED_ROUTE
  }

  /** The Node response closed (see closeOnResponseClose): counts the request and starts its tasks. */
  responseClosed(res: ServerResponse): void {
    this.close(res.req.method ?? 'GET', this.routeLabel(res), res.statusCode, true)
  }
}

/** The service's state type. */
export type StateOf<T> = T extends Service<infer S> ? S : never

/**
 * The route label of a request that matched no route (404s, or a bare listener that did not name
 * its route): one series for all of them, never the raw path.
 */
export const UNMATCHED_ROUTE = '(unmatched)'

const REQUEST_ID_NAME = 'x-request-id'

/**
 * Whether a header name is `x-request-id`, in any case. Compared a character at a time: most
 * responses carry a `Content-Type`, also 12 characters long, and `toLowerCase()` made a new string
 * of it on every response.
 */
function isRequestIdName(name: unknown): boolean {
  if (typeof name !== 'string' || name.length !== 12) return false
  for (let i = 0; i < 12; i++) {
    const code = name.charCodeAt(i)
    const want = REQUEST_ID_NAME.charCodeAt(i)
    // ASCII letters differ from their lower case by the 0x20 bit; '-' (0x2d) must match exactly.
    if (code !== want && (want === 0x2d || (code | 0x20) !== want)) return false
  }
  return true
}

/**
 * The request's `x-request-id` header (its first, if repeated), read from `rawHeaders`:
 * `req.headers` builds an object of every header on first use, which a bare listener or
 * @hono/node-server otherwise never pays for.
 */
export function requestIdHeader(req: IncomingMessage): string | undefined {
  const raw = req.rawHeaders
  for (let i = 0; i < raw.length; i += 2) if (isRequestIdName(raw[i])) return raw[i + 1]
  return undefined
}

const ECHOED_ID: unique symbol = Symbol('afterwork.echoedRequestId')

const WRITE_HEAD: unique symbol = Symbol('afterwork.writeHead')

interface EchoingResponse extends ServerResponse {
  [ECHOED_ID]: string
  /** The writeHead this response had before: Node's, a subclass's, or an instrumentation's wrapper. */
  [WRITE_HEAD]: (this: ServerResponse, statusCode: number, ...rest: unknown[]) => ServerResponse
  /** Node's (see storeHeaderWithRequestId). */
  _storeHeader(firstLine: string, headers: unknown): void
  _header: string | null
}

/**
 * Node's own `_storeHeader(firstLine, headers)`: where every writeHead() of a ServerResponse, given
 * headers or not, turns its status line and headers into the header block.
 */
const nodeStoreHeader = (ServerResponse.prototype as Partial<EchoingResponse>)._storeHeader

/**
 * Sends `x-request-id: <id>` with the response, unless the app set its own. `requestId` must be a
 * valid header value, as `requestIdFrom()` gives: it is not checked again.
 *
 * Not through `setHeader()`: a response with a header set that way makes Node merge every header
 * later given to writeHead() into it one `setHeader()` at a time (0.75-0.8 µs a response over no
 * id). Nor, where Node allows, by adding the id to the headers writeHead() is handed (0.17-0.26 µs:
 * a copy of the framework's header object, and Node's checks of one more name and value). It is
 * written as a line after the status line, which Node's `_storeHeader` takes as given: 30-70 ns
 * over no id on Node 20 and 24 (`bench/http-header-echo.ts`). That method is Node's own, so a probe
 * checks once that it still works this way; where it does not, or something else replaced it on
 * this response, the id goes in with writeHead()'s headers.
 */
export function echoRequestId(res: ServerResponse, requestId: string): void {
  if (!(res instanceof ServerResponse)) {
    // An HTTP/2 compatibility response, say: the plain way.
    ;(res as ServerResponse).setHeader('x-request-id', requestId)
    return
  }
  const echoing = res as EchoingResponse
  // Installed already (the middleware ran twice, on an app and a sub-app): only the id changes.
  if (echoing[ECHOED_ID] !== undefined) {
    echoing[ECHOED_ID] = requestId
    return
  }
  if (echoing._storeHeader === nodeStoreHeader && storeHeaderTakesFirstLine()) {
    echoing[ECHOED_ID] = requestId
    echoing._storeHeader = storeHeaderWithRequestId
    return
  }
  echoThroughWriteHead(res, requestId)
}

/**
 * The other way of {@link echoRequestId}: the id is added to the headers writeHead() is handed.
 * Exported for bench/http-header-echo.ts, which compares the two.
 */
export function echoThroughWriteHead(res: ServerResponse, requestId: string): void {
  const echoing = res as EchoingResponse
  echoing[ECHOED_ID] = requestId
  echoing[WRITE_HEAD] = res.writeHead as EchoingResponse[typeof WRITE_HEAD]
  res.writeHead = writeHeadWithRequestId as ServerResponse['writeHead']
}

/** Node's `_storeHeader` with the id's line after the status line, unless the headers name one. */
function storeHeaderWithRequestId(this: EchoingResponse, firstLine: string, headers: unknown): void {
  // `headers` is what writeHead() was handed, or, once setHeader() was used, Node's own record of
  // the headers set (keyed by lower-case name), into which writeHead() merged its own.
  const line = namesRequestId(headers) ? firstLine : `${firstLine}x-request-id: ${this[ECHOED_ID]}\r\n`
  ;(nodeStoreHeader as EchoingResponse['_storeHeader']).call(this, line, headers)
}

let firstLineProbe: boolean | undefined

/**
 * Whether this Node's writeHead() still builds the header block through `_storeHeader`, starting
 * from the status line it is handed: tried once on a response that is never sent.
 */
function storeHeaderTakesFirstLine(): boolean {
  if (firstLineProbe !== undefined) return firstLineProbe
  firstLineProbe = false
  if (typeof nodeStoreHeader !== 'function') return false
  try {
    const probe = new ServerResponse(new IncomingMessage(new Socket())) as EchoingResponse
    probe[ECHOED_ID] = 'probe'
    probe._storeHeader = storeHeaderWithRequestId
    probe.writeHead(200, { 'x-probe': '1' })
    firstLineProbe = typeof probe._header === 'string' && probe._header.includes(' 200 OK\r\nx-request-id: probe\r\nx-probe: 1\r\n')
  } catch {
    // A Node whose writeHead() works otherwise: the writeHead() way.
  }
  return firstLineProbe
}

function writeHeadWithRequestId(this: EchoingResponse, statusCode: number, reason?: unknown, headers?: unknown): ServerResponse {
  const hasReason = typeof reason === 'string'
  // Node also takes writeHead(status, undefined, headers).
  const given = hasReason ? headers : (headers ?? reason)
  const sent = this.hasHeader('x-request-id') ? given : withRequestId(given, this[ECHOED_ID])
  return hasReason ? this[WRITE_HEAD](statusCode, reason, sent) : this[WRITE_HEAD](statusCode, sent)
}

/** Whether writeHead()-style headers (an object, a flat array or an array of pairs) name an `x-request-id`. */
function namesRequestId(headers: unknown): boolean {
  if (headers === undefined || headers === null) return false
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      for (const pair of headers as unknown[][]) if (isRequestIdName(pair[0])) return true
      return false
    }
    for (let i = 0; i < headers.length; i += 2) if (isRequestIdName(headers[i])) return true
    return false
  }
  // for...in, not Object.keys(): no array of names.
  for (const name in headers) if (isRequestIdName(name) && Object.hasOwn(headers, name)) return true
  return false
}

/**
 * `headers` (writeHead's object, flat array or array of pairs) with the request id added, as a new
 * flat array: the caller's object may be shared, so it is never changed, and a flat array is the
 * cheapest copy Node takes. Returned as given when it already names an `x-request-id`.
 */
function withRequestId(headers: unknown, requestId: string): unknown {
  if (headers === undefined || headers === null) return ['x-request-id', requestId]
  if (namesRequestId(headers)) return headers
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) return [...(headers as unknown[][]), ['x-request-id', requestId]]
    return [...(headers as unknown[]), 'x-request-id', requestId]
  }
  // Node reads writeHead's object by own keys.
  const record = headers as OutgoingHttpHeaders
  let count = 0
  for (const name in record) if (Object.hasOwn(record, name)) count++
  // Sized up front: an array literal grown by push() reserves room for 17 entries.
  const flat: unknown[] = new Array(count * 2 + 2)
  let i = 0
  for (const name in record) {
    if (!Object.hasOwn(record, name)) continue
    flat[i++] = name
    flat[i++] = record[name]
  }
  flat[i++] = 'x-request-id'
  flat[i] = requestId
  return flat
}

const RESPONSE_SCOPE: unique symbol = Symbol('afterwork.responseScope')

interface ScopedResponse extends ServerResponse {
  [RESPONSE_SCOPE]?: RequestScope
}

/**
 * Closes the scope when the Node response emits `close`: after `finish` (the last byte handed to
 * the OS) or when the client went away first, so tasks run in both cases. The method is read then
 * from `res.req`, the route from the scope (`routeLabel`), once the framework has matched it.
 * The listener is one function for every response, which finds the scope on the response: a
 * closure per request (and the one naming its route) were 210 of the 600 bytes afterwork's
 * node:http listener allocated a request (heap profile).
 */
export function closeOnResponseClose(res: ServerResponse, scope: RequestScope): void {
  const scoped = res as ScopedResponse
  if (scoped[RESPONSE_SCOPE] === undefined) {
    scoped[RESPONSE_SCOPE] = scope
    // on, not once: a response closes once, and once() allocates a wrapper per request.
    res.on('close', closeResponseScope)
    return
  }
  // A second scope for one response (afterwork's middleware on an app and on its sub-app): it
  // closes by a listener of its own.
  res.on('close', () => scope.responseClosed(res))
}

function closeResponseScope(this: ScopedResponse): void {
  this[RESPONSE_SCOPE]?.responseClosed(this)
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

/**
 * The property a request's scope is carried under, on an object the framework makes per request
 * and apps do not replace (a Hono Context; a Fastify request, which declares it with
 * `decorateRequest` so its request class has it from the start): a WeakMap entry per request cost
 * about 1 µs on Hono and 1.4-1.6 µs on Fastify (ephemeron table growth and its GC work), a symbol
 * property next to nothing (`bench/http-adapter-cpu.ts`).
 */
export const SCOPE: unique symbol = Symbol('afterwork.scope')

interface ScopeCarrier {
  [SCOPE]?: RequestScope | null
}

// A request whose scope is opened inside Express (afterwork's middleware on a server of the app's
// own) gets it beside it instead: a property added to the request after Express swapped its
// prototype cost 15-20 µs a request on Node 20, and `res.locals`, which costs nothing, is an object
// apps replace. A WeakMap entry costs about 0.9 µs a request on Node 24 (the entry's write barrier
// and the scavenger's ephemeron work, `perf` of a loaded server).
const scopes = new WeakMap<object, RequestScope>()

/** The request's scope, when the adapter's middleware or hook ran (a declared property is `null` until then). */
export function scopeOf(request: object): RequestScope | undefined {
  return (request as ScopeCarrier)[SCOPE] ?? scopes.get(request)
}

/**
 * Keeps the scope on a request object that must not change shape (Express's, inside the app): in
 * the property it already carries (one opened by `serve()` for another service), else beside it.
 */
export function attachScope(request: object, scope: RequestScope): void {
  if (SCOPE in request) (request as ScopeCarrier)[SCOPE] = scope
  else scopes.set(request, scope)
}

/** Keeps the scope on the request's carrier (see {@link SCOPE}). */
export function carryScope(carrier: object, scope: RequestScope): void {
  ;(carrier as ScopeCarrier)[SCOPE] = scope
}
