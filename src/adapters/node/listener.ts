import type { IncomingMessage, ServerResponse } from 'node:http'
import type { BackgroundTasks } from '../../core/background-tasks.js'
import { requestIdFrom } from '../../core/request-context.js'
import type { AnyService } from '../../service.js'
import { answerNodeError } from '../error-response.js'
import { closeOnResponseClose, echoRequestId, RequestScope, requestIdHeader, UNMATCHED_ROUTE, type StateOf } from '../request-scope.js'
import type { RequestListener } from './serve.js'

/** What a handler wrapped by {@link withAfterwork} receives besides the request and response. */
export interface NodeContext<S> {
  /** This request's post-response tasks. */
  readonly background: BackgroundTasks
  /** The lifespans' typed state. Reading it before the service started throws (answered 503). */
  readonly state: S
  /** The incoming `x-request-id` when well-formed, else a fresh UUID; echoed in the response. */
  readonly requestId: string
  /**
   * The route template the request is counted under in the metrics (`/items/:id`, never the raw
   * path). A bare listener has no router: set it where you route. @default '(unmatched)'
   */
  route: string
}

/** A request handler with the afterwork context; it may return a promise. */
export type NodeHandler<S> = (req: IncomingMessage, res: ServerResponse, ctx: NodeContext<S>) => unknown

/** The handler's `ctx` is the request's scope itself: one object per request. */
class Context<S> extends RequestScope implements NodeContext<S> {
  route = UNMATCHED_ROUTE

  get state(): S {
    return this.service.state as S
  }

  override routeLabel(): string {
    return this.route
  }
}

/**
 * Wraps a plain `node:http` handler: it receives `ctx.background` (tasks that run when the response
 * closes, also when the client went away), `ctx.state` and `ctx.requestId`, echoed as
 * `x-request-id`. An error it throws or rejects with is answered in afterwork's shape (422 for
 * invalid input, 503 when full or stopping, a bare 500 logged with the request id); after the
 * headers went out, the connection is closed instead. The request is counted in the metrics under
 * `ctx.route` when the response closes.
 *
 * @example
 * const listener = withAfterwork(svc, async (req, res, ctx) => {
 *   ctx.route = '/signup'
 *   const body = await readBody(req, SignupSchema)
 *   ctx.background.add(sendWelcomeEmail, body.email)
 *   res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true }))
 * })
 * await serve(svc, listener, { port: 8000 })
 */
export function withAfterwork<T extends AnyService>(svc: T, handler: NodeHandler<StateOf<T>>): RequestListener {
  return function afterworkListener(req, res) {
    const ctx = new Context<StateOf<T>>(svc, requestIdFrom(requestIdHeader(req)))
    echoRequestId(res, ctx.requestId)
    closeOnResponseClose(res, ctx)
    let outcome: unknown
    try {
      outcome = handler(req, res, ctx)
    } catch (error) {
      answer(res, error, ctx)
      return
    }
    if (outcome instanceof Promise) outcome.catch((error: unknown) => answer(res, error, ctx))
  }
}

function answer(res: ServerResponse, error: unknown, scope: RequestScope): void {
  const { status, headers, body } = answerNodeError(error, scope)
  // Too late for an error answer: cut the response short so the client does not take it as whole.
  if (res.headersSent) {
    if (!res.writableEnded) res.destroy()
    return
  }
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body))
}
