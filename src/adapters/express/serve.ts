import type { AnyService } from '../../service.js'
import type { HttpHandle, ServeHttpOptions } from '../node/serve-http.js'
import { serve as serveListener, type RequestListener } from '../node/serve.js'
import { defineRequestAccessors, openScope } from './middleware.js'

/**
 * The node adapter's `serve()` for an Express `app`: each request's afterwork scope is opened before
 * Express sees it (see openScope), so `afterwork(svc)` in the app finds it open and passes the
 * request on.
 *
 * @example
 * await serve(svc, app, { port: 8000 })
 */
export function serve(svc: AnyService, app: RequestListener, opts: ServeHttpOptions = {}): Promise<HttpHandle> {
  defineRequestAccessors()
  return serveListener(
    svc,
    (req, res) => {
      openScope(svc, req, res, true)
      app(req, res)
    },
    opts,
  )
}
