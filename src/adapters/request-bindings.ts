import type { IncomingMessage, ServerResponse } from 'node:http'
import type { BackgroundTasks } from '../core/background-tasks.js'
import { SCOPE, type RequestScope } from './request-scope.js'

/**
 * What afterwork's hosts of a fetch-style app (the Hono adapter's `serve()` and the test client)
 * hand it as its environment, Hono's `c.env`: the request's tasks, the lifespans' state and the
 * request id, beside @hono/node-server's `incoming` and `outgoing`. A handler reads them without
 * any middleware; on Hono that keeps the request on the router's one-handler path, which any
 * middleware leaves (an empty one costs 1.2 µs a request on Node 20, `bench/http-adapter-cpu.ts`).
 */
export class RequestBindings<S = unknown> {
  /** The request's scope, for `afterworkErrors` and the middleware, which reuses it. */
  readonly [SCOPE]: RequestScope

  constructor(
    scope: RequestScope,
    /** The Node request, when served over HTTP; absent in the test client. */
    readonly incoming?: IncomingMessage,
    /** The Node response, when served over HTTP; absent in the test client. */
    readonly outgoing?: ServerResponse,
  ) {
    this[SCOPE] = scope
  }

  /** This request's post-response tasks. */
  get background(): BackgroundTasks {
    return this[SCOPE].background
  }

  /** The incoming `x-request-id` when well-formed, else a fresh UUID; echoed in the response. */
  get requestId(): string {
    return this[SCOPE].requestId
  }

  /** The lifespans' typed state, read when the handler asks for it. */
  get state(): S {
    return this[SCOPE].service.state as S
  }
}
