import type { Server } from 'node:http'
import { createAdaptorServer } from '@hono/node-server'
import { serveHttp, type HttpHandle, type ServeHttpOptions } from '../node/serve-http.js'
import type { AnyService } from '../../service.js'
import { servedFetch, type FetchApp } from './bindings.js'

export type { FetchApp }

/**
 * Starts the service, then serves `app` with @hono/node-server; SIGTERM or SIGINT (or
 * `handle.stop()`) runs the graceful shutdown of `serveHttp`. Every request's handlers find
 * `c.env.background`, `c.env.state` and `c.env.requestId` (`RequestBindings`), with or without the
 * `afterwork(svc)` middleware. Rejects, with nothing listening, when a lifespan fails to start.
 *
 * @example
 * await serve(svc, app, { port: 8000 })
 */
export function serve(svc: AnyService, app: FetchApp, opts: ServeHttpOptions = {}): Promise<HttpHandle> {
  const server = createAdaptorServer({ fetch: servedFetch(svc, app) as never }) as Server
  return serveHttp(svc, server, opts)
}
