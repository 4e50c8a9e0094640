import { hostedRoute } from '../adapters/hono/matched-route.js'
import { RequestBindings } from '../adapters/request-bindings.js'
import { requestIdFrom } from '../core/request-context.js'
import type { AnyService, Service } from '../service.js'

/** Anything with a Fetch-style handler: a Hono app, or `{ fetch }` around another framework. */
export interface FetchHandler {
  fetch(request: Request, ...rest: never[]): Response | Promise<Response>
}

export interface RequestOptions extends Omit<RequestInit, 'body'> {
  /** Sent as a JSON body with `content-type: application/json`. */
  json?: unknown
  body?: RequestInit['body']
}

/**
 * Sends requests in-process, without a socket, and waits for their background tasks. Like
 * afterwork's `serve()`, it hands the app `RequestBindings` as its environment (Hono's `c.env`),
 * echoes the request id, counts the request and starts its tasks once the Response is returned.
 */
export interface TestClient<S extends object> {
  service: Service<S>
  request(path: string, opts?: RequestOptions): Promise<Response>
  get(path: string, opts?: RequestOptions): Promise<Response>
  post(path: string, opts?: RequestOptions): Promise<Response>
  put(path: string, opts?: RequestOptions): Promise<Response>
  patch(path: string, opts?: RequestOptions): Promise<Response>
  delete(path: string, opts?: RequestOptions): Promise<Response>
  /**
   * Waits until every post-response task has finished. Rethrows the tasks' failures since the last
   * drain (as an AggregateError) unless the client was made with `raiseBackgroundErrors: false`.
   */
  drainBackground(): Promise<void>
}

export interface TestClientOptions {
  /** Base URL for relative paths. @default 'http://test' */
  baseUrl?: string
  /** drainBackground() rethrows task failures, as Starlette's TestClient raises server errors. @default true */
  raiseBackgroundErrors?: boolean
}

/**
 * Runs the service's lifespan around `fn`, like the seed's `with TestClient(app) as client:`.
 * Startup and shutdown keep the service's timeouts, and shutdown runs even when `fn` throws.
 *
 * @example
 * await withTestClient(svc, app, async (client) => {
 *   const res = await client.post('/signup', { json: { email: 'ada@example.com', name: 'Ada' } })
 *   expect(res.status).toBe(201)
 *   await client.drainBackground()
 * })
 */
export async function withTestClient<S extends object, T>(
  svc: Service<S>,
  app: FetchHandler,
  fn: (client: TestClient<S>) => Promise<T>,
  opts: TestClientOptions = {},
): Promise<T> {
  const failures: unknown[] = []
  const off = svc.on('background:failed', ({ error }) => failures.push(error))
  await svc.start()
  try {
    return await fn(makeClient(svc, app, failures, opts))
  } finally {
    off()
    await svc.stop()
  }
}

function makeClient<S extends object>(svc: Service<S>, app: FetchHandler, failures: unknown[], opts: TestClientOptions): TestClient<S> {
  const baseUrl = opts.baseUrl ?? 'http://test'
  const raise = opts.raiseBackgroundErrors ?? true
  const request = async (path: string, init: RequestOptions = {}): Promise<Response> => {
    const { json, ...rest } = init
    const headers = new Headers(rest.headers)
    let body = rest.body
    if (json !== undefined) {
      headers.set('content-type', 'application/json')
      body = JSON.stringify(json)
    }
    return host(svc, app, new Request(new URL(path, baseUrl), { ...rest, headers, body: body ?? null }))
  }
  const method = (name: string) => (path: string, init: RequestOptions = {}) => request(path, { ...init, method: name })
  return {
    service: svc,
    request,
    get: method('GET'),
    post: method('POST'),
    put: method('PUT'),
    patch: method('PATCH'),
    delete: method('DELETE'),
    async drainBackground() {
      await svc.background.idle()
      if (raise && failures.length > 0) {
        const errors = failures.splice(0)
        throw new AggregateError(errors, `${errors.length} background task(s) failed`)
      }
    },
  }
}

/** Serves one request to `app` as `serve()` would, with the Response standing in for the Node response. */
async function host(svc: AnyService, app: FetchHandler, request: Request): Promise<Response> {
  // The first id when the header is repeated (Headers joins them with ', '), as serve() takes it.
  const bindings = new RequestBindings(svc, requestIdFrom(request.headers.get('x-request-id')?.split(',')[0]?.trim()))
  let status = 500
  try {
    const response = await app.fetch(request, bindings as never)
    status = response.status
    return withRequestId(response, bindings.requestId)
  } catch (error) {
    bindings.threw = true
    throw error
  } finally {
    // Counted only when the route is known (the middleware's, or the Hono app's router): any other
    // fetch app (a wrapper, another framework behind a bridge) may count its requests itself.
    const route = hostedRoute(app, request, bindings)
    if (route === undefined) bindings.startBackground()
    else bindings.close(request.method, route, status)
  }
}

/** The response with `x-request-id` among its headers, unless the app sent its own. */
function withRequestId(response: Response, requestId: string): Response {
  // Response.error() (status 0) can neither change its headers nor be copied.
  if (response.status === 0 || response.headers.has('x-request-id')) return response
  try {
    response.headers.set('x-request-id', requestId)
    return response
  } catch {
    // Headers of Response.redirect() are immutable: answer a copy.
    const copy = new Response(response.body, response)
    copy.headers.set('x-request-id', requestId)
    return copy
  }
}
