import type { IncomingMessage, ServerResponse } from 'node:http'
import express, { type Request, type RequestHandler } from 'express'
import type { BackgroundTasks } from '../../core/background-tasks.js'
import { requestIdFrom } from '../../core/request-context.js'
import type { AnyService } from '../../service.js'
import { attachScope, carryScope, closeOnResponseClose, requestIdHeader, RequestScope, scopeOf, UNMATCHED_ROUTE, type RegisteredState } from '../request-scope.js'

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace -- Express's own merging point for Request
  namespace Express {
    interface Request {
      /** This request's post-response tasks (read-only; from afterwork's middleware). */
      background: BackgroundTasks
      /** The lifespans' state (read-only); typed once the service is declared in `AfterworkRegister`. */
      state: RegisteredState
      /** The incoming `x-request-id` when well-formed, else a fresh UUID; echoed in the response. */
      requestId: string
    }
  }
}

/**
 * Express middleware giving every handler `req.background` (tasks that run when the response closes:
 * after the last byte, or when the client went away), `req.state` (the lifespans' state; reading
 * it before the service started throws, answered 503) and `req.requestId`, echoed as
 * `x-request-id`. The request is counted in the service's metrics when the response closes, under
 * its route template (`req.baseUrl` + `req.route.path`). Use it first, and `afterworkErrors` last.
 * Under afterwork's `serve()` the request arrives with its scope already open (see openScope), and
 * the middleware only passes it on; on a server of the app's own it opens the scope itself.
 *
 * @example
 * const app = express()
 * app.use(afterwork(svc))
 * app.use(express.json())
 * app.post('/signup', validate(SignupSchema), (req, res) => {
 *   req.background.add(sendWelcomeEmail, req.body.email)
 *   res.status(201).json({ ok: true })
 * })
 * app.use(afterworkErrors)
 * await serve(svc, app, { port: 8000 })
 */
export function afterwork(svc: AnyService): RequestHandler {
  defineRequestAccessors()
  return function afterworkMiddleware(req, res, next) {
    // One scope a request: opened by serve(), or by this middleware on an app and again on its
    // sub-app, the request keeps the first (one id, one count in the metrics).
    if (scopeOf(req)?.service !== svc) openScope(svc, req, res)
    next()
  }
}

/**
 * Opens the request's scope: its id (echoed with `res.setHeader()`, so `res.get()` and loggers
 * such as morgan see it), its place on the request, and its closing when the response closes.
 * `serve()` calls it before Express has seen the request (`beforeExpress`), when the scope can ride
 * on the request itself: Express swaps the request's and the response's prototypes for its own, and
 * properties added to them after that are dear on Node 20 (bench/RESULTS.md, thirteenth session).
 * The request accessors must be defined (defineRequestAccessors).
 */
export function openScope(svc: AnyService, req: IncomingMessage, res: ServerResponse, beforeExpress = false): void {
  const scope = new ExpressScope(svc, requestIdFrom(requestIdHeader(req)))
  if (beforeExpress) carryScope(req, scope)
  else attachScope(req, scope)
  res.setHeader('x-request-id', scope.requestId)
  closeOnResponseClose(res, scope)
}

let accessorsDefined = false

/**
 * `req.background`, `req.state` and `req.requestId` are getters on Express's base request
 * prototype, reading the request's scope: setting them on each request instead reshapes Express's
 * request objects, which measured at +15 µs a request on Express 5 (about a fifth of its own cost).
 * The scope rides in a property afterwork's `serve()` gave the request before Express saw it, else
 * in a WeakMap keyed by the request (see attachScope), never on `res.locals`, which apps replace
 * (`res.locals = { user }`).
 */
export function defineRequestAccessors(): void {
  if (accessorsDefined) return
  accessorsDefined = true
  const accessor = (read: (scope: RequestScope) => unknown) => ({
    configurable: true,
    get(this: Request) {
      const scope = scopeOf(this)
      return scope === undefined ? undefined : read(scope)
    },
  })
  Object.defineProperties(express.request, {
    background: accessor((scope) => scope.background),
    requestId: accessor((scope) => scope.requestId),
    state: accessor((scope) => scope.service.state),
  })
}

/** An Express request's scope: its route is the one Express matched, read off the request. */
class ExpressScope extends RequestScope {
  override routeLabel(res: ServerResponse): string {
    return routeOf(res.req as Request)
  }
}

/** The matched route's template with its mount path, e.g. `/api` + `/items/:id`. */
function routeOf(req: Request): string {
  const path = (req.route as { path?: unknown } | undefined)?.path
  if (path === undefined) return UNMATCHED_ROUTE
  const template = String(path)
  return req.baseUrl !== '' && template === '/' ? req.baseUrl : req.baseUrl + template
}
