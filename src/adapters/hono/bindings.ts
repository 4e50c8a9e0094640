import type { IncomingMessage, ServerResponse } from 'node:http'
import type { HttpBindings } from '@hono/node-server'
import { requestIdFrom } from '../../core/request-context.js'
import type { AnyService } from '../../service.js'
import { RequestBindings } from '../request-bindings.js'
import { closeOnResponseClose, echoRequestId, requestIdHeader, UNMATCHED_ROUTE } from '../request-scope.js'
import { hostedRoute } from './matched-route.js'

/**
 * Anything with a Fetch-style handler: a Hono app. Pass the app itself, whose router names each
 * request's route in the metrics; a `{ fetch }` wrapper around it is counted under `(unmatched)`
 * unless the app uses the `afterwork(svc)` middleware and the wrapper passes `env` on.
 */
export interface FetchApp {
  fetch(request: Request, env: never): Response | Promise<Response>
}

/**
 * The fetch callback `serve()` hands @hono/node-server: it opens the request's afterwork scope,
 * echoes its id, hands the app {@link RequestBindings} as `c.env`, and when the Node response
 * closes counts the request and starts its tasks. The app needs no middleware for any of this.
 */
export function servedFetch(svc: AnyService, app: FetchApp): (request: Request, env: HttpBindings) => Response | Promise<Response> {
  return function afterworkFetch(request, { incoming, outgoing }) {
    const bindings = new ServedBindings(svc, requestIdFrom(requestIdHeader(incoming)), incoming, outgoing, app, request)
    echoRequestId(outgoing, bindings.requestId)
    closeOnResponseClose(outgoing, bindings)
    return app.fetch(request, bindings as never)
  }
}

/** The bindings of a request `serve()` hands an app: counted under the route the app matched. */
class ServedBindings extends RequestBindings {
  readonly #app: FetchApp
  readonly #request: Request

  constructor(svc: AnyService, requestId: string, incoming: IncomingMessage, outgoing: ServerResponse, app: FetchApp, request: Request) {
    super(svc, requestId, incoming, outgoing)
    this.#app = app
    this.#request = request
  }

  override routeLabel(): string {
    return hostedRoute(this.#app, this.#request, this) ?? UNMATCHED_ROUTE
  }
}
