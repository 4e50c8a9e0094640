import type { HttpBindings } from '@hono/node-server'
import type { Context, MiddlewareHandler, Next } from 'hono'
import { routePath } from 'hono/route'
import type { BackgroundTasks } from '../../core/background-tasks.js'
import { requestIdFrom } from '../../core/request-context.js'
import type { AnyService, Service } from '../../service.js'
import { carryScope, closeOnResponseClose, echoRequestId, requestIdHeader, RequestScope, scopeOf, type StateOf } from '../request-scope.js'

export type { RequestScope, StateOf }

/** What the middleware puts on `c.var`, and what `serve()` and the test client put on `c.env`. */
export interface AfterworkVariables<S> {
  /** This request's post-response tasks. */
  background: BackgroundTasks
  /** The lifespans' typed state. */
  state: S
  /** The incoming `x-request-id` when well-formed, else a fresh UUID; echoed in the response. */
  requestId: string
}

/**
 * The Hono `Env` for an app using afterwork: `new Hono<AfterworkEnv<typeof svc>>()` types
 * `c.env.background`, `c.env.state` and `c.env.requestId` and the same three on `c.var`. The
 * `c.env` ones exist only when afterwork's `serve()` or the test client hosts the app; the `c.var`
 * ones wherever the `afterwork(svc)` middleware runs. A type cannot tell how the app is served.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- matches any Service
export type AfterworkEnv<T extends Service<any>> = {
  Variables: AfterworkVariables<StateOf<T>>
  Bindings: AfterworkVariables<StateOf<T>> & Partial<HttpBindings>
}

/**
 * Hono middleware giving every handler `c.var.background` (tasks that run after the response),
 * `c.var.state` (the lifespans' state) and `c.var.requestId`. Under afterwork's `serve()` or the
 * test client it takes them from `c.env`, which carries them already; an app served only by them
 * can leave it out and read `c.env`, which spares every request Hono's middleware chain. Otherwise
 * tasks start when the Node response closes (@hono/node-server's `c.env.outgoing`), or, without a
 * Node response (`app.request()`), as soon as the handler's Response is returned. The request is
 * counted in the service's metrics at the same moment.
 *
 * @example
 * const app = new Hono<AfterworkEnv<typeof svc>>()
 * app.use(afterwork(svc))
 * app.onError(afterworkErrors)
 * app.post('/signup', (c) => {
 *   c.var.background.add(sendWelcomeEmail, 'ada@example.com')
 *   return c.json({ ok: true }, 201)
 * })
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- accepts any Service
export function afterwork<T extends Service<any>>(svc: T): MiddlewareHandler<AfterworkEnv<T>> {
  return function afterworkMiddleware(c, next) {
    const hosted = c.env ? scopeOf(c.env) : undefined
    if (hosted) {
      // The host opened the scope, echoes the id and closes the scope when the response is done;
      // the Context, where the match is known, names the route then, in case the host was handed
      // a wrapper.
      carryScope(c, hosted)
      hosted.routeContext = c
      c.set('requestId', hosted.requestId)
      c.set('background', hosted.background)
      c.set('state', hosted.service.state as StateOf<T>)
      return next()
    }
    const incoming = c.env?.incoming
    const outgoing = c.env?.outgoing
    // Read the raw Node header when there is one: c.req.header() would build a full Headers object.
    const requestId = requestIdFrom(incoming ? requestIdHeader(incoming) : c.req.header('x-request-id'))
    const scope = new HonoScope(svc, requestId)
    scope.routeContext = c
    // On the context, not in c.var: Hono rebuilds c.var from all variables on every access.
    carryScope(c, scope)
    c.set('requestId', requestId)
    c.set('background', scope.background)
    if (outgoing) {
      // On the Node response, not c.header(): a Hono response with headers of its own leaves
      // @hono/node-server's fast path.
      echoRequestId(outgoing, requestId)
      closeOnResponseClose(outgoing, scope)
      c.set('state', svc.state as StateOf<T>)
      return next()
    }
    c.header('x-request-id', requestId)
    return runWithoutNodeResponse(svc, scope, c, next)
  }
}

/** The scope the middleware opens: the route is the one its Context matched, read when the response closes. */
class HonoScope extends RequestScope {
  override routeLabel(): string {
    return routePath(this.routeContext as Context, -1)
  }
}

/** Without a Node response (`app.request()`, the test client), the scope closes when the handler's Response is ready. */
async function runWithoutNodeResponse<T extends AnyService>(svc: T, scope: HonoScope, c: Context<AfterworkEnv<T>>, next: Next): Promise<void> {
  try {
    c.set('state', svc.state as StateOf<T>)
    await next()
  } finally {
    scope.close(c.req.method, scope.routeLabel(), c.res.status)
  }
}
