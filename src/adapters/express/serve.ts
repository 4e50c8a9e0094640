import type { AnyService } from '../../service.js'
import type { HttpHandle, ServeHttpOptions } from '../node/serve-http.js'
import { serve as serveListener, type RequestListener } from '../node/serve.js'
import { prepareScopeCarrier } from '../request-scope.js'

/**
 * The node adapter's `serve()` for an Express `app`: each request is first given the property its
 * afterwork scope rides on, before Express swaps its prototype, which spares the middleware a
 * WeakMap entry per request.
 *
 * @example
 * await serve(svc, app, { port: 8000 })
 */
export function serve(svc: AnyService, app: RequestListener, opts: ServeHttpOptions = {}): Promise<HttpHandle> {
  return serveListener(
    svc,
    (req, res) => {
      prepareScopeCarrier(req)
      app(req, res)
    },
    opts,
  )
}
