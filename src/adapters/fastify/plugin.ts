import type { ServerResponse } from 'node:http'
import type { FastifyPluginCallback, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { BackgroundTasks } from '../../core/background-tasks.js'
import { requestIdFrom } from '../../core/request-context.js'
import type { AnyService } from '../../service.js'
import { carryScope, closeOnResponseClose, requestIdHeader, RequestScope, SCOPE, scopeOf, UNMATCHED_ROUTE, type RegisteredState } from '../request-scope.js'
import { afterworkErrors } from './errors.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** This request's post-response tasks (set by the afterwork plugin). */
    background: BackgroundTasks
    /** The lifespans' state; typed once the service is declared in `AfterworkRegister`. */
    state: RegisteredState
    /** The same as `request.id`: the incoming `x-request-id` when well-formed, else a fresh UUID. */
    requestId: string
  }
}

export interface AfterworkPluginOptions {
  /**
   * Install `afterworkErrors` as the error handler: 422 in afterwork's shape for invalid bodies
   * (Fastify's schema validation included), 503 when full or stopping, bare 500s logged. Turn it off
   * to keep your own handler; rethrowing from a child scope's handler still reaches this one.
   * @default true
   */
  errorHandler?: boolean
}

/** A plugin's shutdown state, which its requests' scopes read when their responses close. */
interface Drain {
  closing: boolean
  closeIdleSoon(): void
}

/** A Fastify request's scope: counted under the route Fastify matched. */
class FastifyScope extends RequestScope {
  readonly #request: FastifyRequest
  readonly #drain: Drain

  constructor(svc: AnyService, requestId: string, request: FastifyRequest, drain: Drain) {
    super(svc, requestId)
    this.#request = request
    this.#drain = drain
  }

  override routeLabel(): string {
    return this.#request.routeOptions.url ?? UNMATCHED_ROUTE
  }

  override responseClosed(res: ServerResponse): void {
    super.responseClosed(res)
    // fastify.close() reaps idle keep-alive sockets once, at its start: a socket whose response
    // was still in flight would then hold the close until its keepAliveTimeout (72 s by default).
    if (this.#drain.closing) this.#drain.closeIdleSoon()
  }
}

/**
 * The Fastify plugin (not encapsulated, so it covers every route). Every request gets
 * `request.background` (tasks that start when the raw response closes: after the last byte, or when
 * the client went away), `request.state` and `request.requestId`; Fastify's `request.id` and its
 * logs use the same id (the plugin sets `genReqId`), echoed as `x-request-id`. The request is
 * counted in the metrics when the raw response closes, under `request.routeOptions.url`.
 *
 * The service starts in `onReady` (so `listen()` rejects, listening on nothing, if a lifespan
 * fails), turns draining in `preClose` and stops in `onClose`, after Fastify's own connection
 * drain. It installs no signal handlers: call `fastify.close()` on SIGTERM (close-with-grace does),
 * or run the app with this adapter's `serve()`, which drains HTTP the way every adapter does.
 *
 * @example
 * const app = Fastify()
 * await app.register(afterwork(svc))
 * app.post('/signup', validate(SignupSchema), async (request, reply) => {
 *   request.background.add(sendWelcomeEmail, request.body.email)
 *   return reply.code(201).send({ ok: true })
 * })
 * await serve(svc, app, { port: 8000 })
 */
export function afterwork(svc: AnyService, opts: AfterworkPluginOptions = {}): FastifyPluginCallback {
  const plugin: FastifyPluginCallback = (fastify, _opts, done) => {
    fastify.setGenReqId((req) => requestIdFrom(requestIdHeader(req)))
    // A getter, so a request's task list is made only when a handler asks for it.
    fastify.decorateRequest('background', {
      getter(this: FastifyRequest) {
        return scopeOf(this)?.background as BackgroundTasks
      },
    })
    // The scope rides on the request (see SCOPE), declared like the other decorations so Fastify's
    // request class has the property from the start.
    fastify.decorateRequest(SCOPE, null)
    fastify.decorateRequest('state', {
      getter: () => svc.state as RegisteredState,
    })
    fastify.decorateRequest('requestId', {
      getter(this: FastifyRequest) {
        return this.id
      },
    })
    const drain: Drain = {
      closing: false,
      closeIdleSoon: () => setImmediate(() => fastify.server.closeIdleConnections()),
    }
    fastify.addHook('onRequest', (request, reply, next) => {
      const scope = new FastifyScope(svc, request.id, request, drain)
      carryScope(request, scope)
      // Through Fastify's own headers: one set on reply.raw would make Node merge every header
      // Fastify writes, one setHeader() at a time.
      void reply.header('x-request-id', request.id)
      closeOnResponseClose(reply.raw, scope)
      next()
    })
    if (opts.errorHandler !== false) fastify.setErrorHandler(afterworkErrors)
    fastify.addHook('onReady', async () => {
      await svc.start()
    })
    fastify.addHook('preClose', (next) => {
      drain.closing = true
      svc.beginDrain()
      next()
    })
    fastify.addHook('onClose', async () => {
      await svc.stop()
    })
    done()
  }
  return fp(plugin, { fastify: '5.x', name: 'afterwork' })
}
