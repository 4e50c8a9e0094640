import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AnyService } from '../service.js'
import { RequestScope, SCOPE } from './request-scope.js'

/**
 * What afterwork's hosts of a fetch-style app (the Hono adapter's `serve()` and the test client)
 * hand it as its environment, Hono's `c.env`: the request's tasks (`background`), the lifespans'
 * state and the request id, beside @hono/node-server's `incoming` and `outgoing`. A handler reads
 * them without any middleware; on Hono that keeps the request on the router's one-handler path,
 * which any middleware leaves (an empty one costs 1.2 µs a request on Node 20,
 * `bench/http-adapter-cpu.ts`). It is the request's scope itself: one object per request.
 */
export class RequestBindings<S = unknown> extends RequestScope {
  constructor(
    service: AnyService,
    requestId: string,
    /** The Node request, when served over HTTP; absent in the test client. */
    readonly incoming?: IncomingMessage,
    /** The Node response, when served over HTTP; absent in the test client. */
    readonly outgoing?: ServerResponse,
  ) {
    super(service, requestId)
  }

  /** The lifespans' typed state, read when the handler asks for it. */
  get state(): S {
    return this.service.state as S
  }

  /** For `afterworkErrors` and the middleware, which find a request's scope under this key. */
  get [SCOPE](): RequestScope {
    return this
  }
}
