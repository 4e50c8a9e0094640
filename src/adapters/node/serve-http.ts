import type { AddressInfo, Socket } from 'node:net'
import { Server as TlsServer } from 'node:tls'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { withDeadline } from '../../core/clock.js'
import { deferred } from '../../core/deferred.js'
import { toMs, type Duration } from '../../core/duration.js'
import type { AnyService } from '../../service.js'
import { onShutdownSignals } from './signals.js'

export interface ServeHttpOptions {
  /** @default 8000 */
  port?: number
  /** @default '127.0.0.1' */
  host?: string
  /** Install SIGTERM and SIGINT handlers that shut down gracefully; a second signal exits at once. @default true */
  signals?: boolean
  /** How long in-flight requests get to finish before their sockets are closed. @default the service's `shutdown.http` ('10s') */
  drainTimeout?: Duration
}

/** A running server. `stop()` is the graceful shutdown; `closed` resolves when it has finished. */
export interface HttpHandle {
  server: Server
  /** The bound address, like `http://127.0.0.1:8000`. */
  url: string
  port: number
  /** Graceful shutdown: the same steps as SIGTERM. Idempotent. */
  stop(): Promise<void>
  /** Resolves when shutdown has finished, however it was started. */
  closed: Promise<void>
}

/**
 * Runs `svc` behind a Node `http.Server`: starts the service (lifespans first, so nothing listens
 * if startup fails), listens, and owns the one HTTP shutdown every adapter uses:
 *
 * 1. readiness turns 503 (`draining`) and the listening socket closes, so new connections are refused;
 * 2. every response from now on carries `Connection: close`, and keep-alive sockets are closed as
 *    soon as they go idle (Node's `server.close()` alone would keep serving keep-alive clients);
 * 3. in-flight requests get `drainTimeout` to finish, then their sockets are closed and the count of
 *    abandoned requests is logged;
 * 4. `svc.stop()`: background tasks drain, lifespans tear down, each with its own deadline.
 */
export async function serveHttp(svc: AnyService, server: Server, opts: ServeHttpOptions = {}): Promise<HttpHandle> {
  const drainMs = opts.drainTimeout === undefined ? svc.shutdownTimeouts.httpMs : toMs(opts.drainTimeout, 'drainTimeout')
  const log = svc.log
  // Connections are tracked, not requests: one entry per socket, paid once per keep-alive
  // connection rather than on every request. What a socket is serving is its `_httpMessage`
  // (Node's own field; its closeIdleConnections() reads it too).
  const sockets = new Set<Socket>()
  function forget(this: Socket) {
    sockets.delete(this)
  }
  const remember = (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', forget)
  }
  // The parser marks a socket idle only after its response's 'close', hence the setImmediate.
  const closeIdleSoon = () => setImmediate(() => server.closeIdleConnections())
  /**
   * Makes a busy socket end with the response it is serving. Not sent yet: it goes out with
   * `Connection: close` and Node ends the socket after it. Already sent as keep-alive: look again
   * when it closes, since a pipelined request's response may have taken the socket by then (Node
   * hands it over before the 'close'), and close the socket once nothing is left on it.
   */
  const endAfterItsResponse = (socket: Socket): void => {
    const res = socketResponse(socket)
    if (!res) {
      closeIdleSoon()
      return
    }
    if (!res.headersSent) res.setHeader('connection', 'close')
    else res.once('close', () => endAfterItsResponse(socket))
  }
  // Added when the drain begins: a request that arrives on a busy keep-alive connection after that
  // is answered with `Connection: close`, so its socket ends with it.
  const closeAfter = (_req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('connection', 'close')
  }
  await svc.start()
  // TLS servers serve HTTP on the socket of 'secureConnection'; 'connection' brings the raw one.
  const connectionEvent = server instanceof TlsServer ? 'secureConnection' : 'connection'
  server.on(connectionEvent, remember)
  try {
    await listen(server, opts.port ?? 8000, opts.host ?? '127.0.0.1')
  } catch (error) {
    server.off(connectionEvent, remember)
    await svc.stop()
    throw error
  }
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  const url = `http://${host}:${address.port}`
  log.info({ url }, 'listening')

  const done = deferred<void>()
  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      svc.beginDrain()
      server.prependListener('request', closeAfter)
      const inFlight = busyCount(sockets)
      // Idle sockets are left to the closeIdleConnections() below, all at once.
      for (const socket of sockets) if (socketResponse(socket)) endAfterItsResponse(socket)
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeIdleConnections()
      log.info({ inFlight, drainTimeoutMs: drainMs }, 'shutting down: draining HTTP')
      const outcome = await withDeadline(svc.clock, drainMs, closed)
      if (outcome.timedOut) {
        const left = busyCount(sockets)
        const detail = `${left} HTTP request(s) still in flight at the drain deadline; closing their sockets`
        log.warn({ inFlight: left }, detail)
        svc.events.emit('shutdown:abandoned', { step: 'http', detail })
        server.closeAllConnections()
        await closed
      }
      await svc.stop()
      removeSignals()
      offStopRequest()
      done.resolve()
    })()
    return stopping
  }

  // A supervisor that gave up with onGiveUp: 'stop-service' asks for this: shut down, then exit 1.
  const offStopRequest = svc.on('service:stop-requested', ({ reason }) => {
    log.error({ err: reason }, 'service asked to stop')
    process.exitCode = 1
    void stop()
  })

  let removeSignals = () => {}
  if (opts.signals !== false) {
    // A signal during a shutdown begun by handle.stop() counts as a second one: exit at once.
    removeSignals = onShutdownSignals(log, stop, () => stopping !== undefined)
  }

  return { server, url, port: address.port, stop, closed: done.promise }
}

/** The response `socket` is serving now, if any (Node's own field, read by its closeIdleConnections()). */
function socketResponse(socket: Socket): ServerResponse | undefined {
  return (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage ?? undefined
}

/** How many of `sockets` are serving a response now: the requests in flight. */
function busyCount(sockets: Iterable<Socket>): number {
  let busy = 0
  for (const socket of sockets) if (socketResponse(socket)) busy++
  return busy
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error)
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      resolve()
    })
  })
}
