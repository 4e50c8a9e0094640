import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AnyService } from '../../service.js'
import { serveHttp, type HttpHandle, type ServeHttpOptions } from './serve-http.js'

/** A Node request listener: what `withAfterwork()` returns, and what an Express app is. */
export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void

/**
 * Starts the service, then serves `listener` on a new `http.Server`; SIGTERM or SIGINT (or
 * `handle.stop()`) runs the graceful shutdown of `serveHttp`. Rejects, with nothing listening, when
 * a lifespan fails to start.
 *
 * @example
 * await serve(svc, withAfterwork(svc, handler), { port: 8000 })
 */
export function serve(svc: AnyService, listener: RequestListener, opts: ServeHttpOptions = {}): Promise<HttpHandle> {
  return serveHttp(svc, createServer(listener), opts)
}
