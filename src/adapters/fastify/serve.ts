import type { FastifyInstance } from 'fastify'
import type { AnyService } from '../../service.js'
import { serveHttp, type HttpHandle, type ServeHttpOptions } from '../node/serve-http.js'

/**
 * Runs a Fastify app the way every afterwork adapter runs: `fastify.ready()` (the plugin starts
 * the service there), then `serveHttp` on `fastify.server`, with SIGTERM/SIGINT handlers and its
 * graceful shutdown (503 readiness, `Connection: close`, idle keep-alive sockets closed, a drain
 * deadline, then `svc.stop()`), and finally `fastify.close()` for the app's own `onClose` hooks.
 * Rejects, with nothing listening, when a lifespan fails to start. Fastify's `listen()` is not
 * called, so `onListen` hooks do not run.
 *
 * @example
 * const app = Fastify()
 * await app.register(afterwork(svc))
 * await serve(svc, app, { port: 8000 })
 */
export async function serve(svc: AnyService, fastify: FastifyInstance, opts: ServeHttpOptions = {}): Promise<HttpHandle> {
  let handle: HttpHandle
  try {
    await fastify.ready()
    handle = await serveHttp(svc, fastify.server, opts)
  } catch (error) {
    await fastify.close().catch(() => {})
    throw error
  }
  const closed = handle.closed
    .then(() => fastify.close())
    .catch((error: unknown) => svc.log.error({ err: error }, 'fastify.close() failed after the shutdown'))
  return { ...handle, stop: () => handle.stop().then(() => closed), closed }
}
