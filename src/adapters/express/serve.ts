import { createServer } from 'node:http'
import type { AnyService } from '../../service.js'
import type { RequestListener } from '../node/serve.js'
import { serveHttp, type HttpHandle, type ServeHttpOptions } from '../node/serve-http.js'
import { prepareScopeCarrier } from '../request-scope.js'

/**
 * Starts the service, then serves the Express `app` on a new `http.Server`; SIGTERM or SIGINT (or
 * `handle.stop()`) runs the graceful shutdown of `serveHttp`. Rejects, with nothing listening, when
 * a lifespan fails to start. Each request is given the property its afterwork scope rides on before
 * Express sees it, which spares the middleware a WeakMap entry per request.
 *
 * @example
 * await serve(svc, app, { port: 8000 })
 */
export function serve(svc: AnyService, app: RequestListener, opts: ServeHttpOptions = {}): Promise<HttpHandle> {
  const listener: RequestListener = (req, res) => {
    prepareScopeCarrier(req)
    app(req, res)
  }
  return serveHttp(svc, createServer(listener), opts)
}
