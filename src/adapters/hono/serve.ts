import type { Server } from 'node:http'
import { createAdaptorServer } from '@hono/node-server'
import { serveHttp, type HttpHandle, type ServeHttpOptions } from '../node/serve-http.js'
import type { AnyService } from '../../service.js'

/** Anything with a Fetch-style handler: a Hono app. */
export interface FetchApp {
  fetch(request: Request, env: never): Response | Promise<Response>
}

/**
 * Starts the service, then serves `app` with @hono/node-server; SIGTERM or SIGINT (or
 * `handle.stop()`) runs the graceful shutdown of `serveHttp`. Rejects, with nothing listening, when
 * a lifespan fails to start.
 *
 * @example
 * await serve(svc, app, { port: 8000 })
 */
export function serve(svc: AnyService, app: FetchApp, opts: ServeHttpOptions = {}): Promise<HttpHandle> {
  const server = createAdaptorServer({ fetch: app.fetch as never }) as Server
  return serveHttp(svc, server, opts)
}
