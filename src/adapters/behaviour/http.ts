// Test helpers for real sockets: a tiny HTTP client that exposes the connection, and latches.
import { once } from 'node:events'
import { Agent, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { connect, type Socket } from 'node:net'
import { deferred } from '../../core/deferred.js'

export interface HttpResult {
  status: number
  headers: IncomingMessage['headers']
  body: string
  /** The client-side local port: equal for two requests on one keep-alive connection. */
  localPort: number | undefined
}

/** Sends one request and reads the whole body. */
export function send(
  url: string,
  opts: { method?: string; path?: string; agent?: Agent | false; headers?: Record<string, string>; body?: string } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(opts.path ?? '/', url), { method: opts.method ?? 'GET', agent: opts.agent ?? false, headers: opts.headers }, (res) => {
      const localPort = res.socket.localPort
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, localPort }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(opts.body)
  })
}

/** Sends a request and returns the response as soon as its headers arrive, body unread. */
export function open(url: string, path: string, agent: Agent | false): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, url), { agent }, resolve)
    req.on('error', reject)
    req.end()
  })
}

/** Resolves with the connect error code (ECONNREFUSED when nothing listens), or 'connected'. */
export function tryConnect(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, host)
    socket.once('connect', () => {
      socket.destroy()
      resolve('connected')
    })
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'))
  })
}

/** A gate that code awaits until the test opens it. */
export function latch() {
  const gate = deferred()
  let isOpen = false
  return {
    wait: () => gate.promise,
    open: () => {
      isOpen = true
      gate.resolve()
    },
    get isOpen() {
      return isOpen
    },
  }
}

/** A deferred that resolves once `count` arrivals have been counted. */
export function countdown(count: number) {
  const done = deferred()
  let left = count
  return {
    arrive: () => {
      if (--left === 0) done.resolve()
    },
    done: done.promise,
  }
}

/** Waits a turn of the event loop: lets I/O callbacks already queued run (not a timed sleep). */
export function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/** A keep-alive agent with one socket, so successive requests share one connection. */
export function keepAliveAgent(): Agent {
  return new Agent({ keepAlive: true, maxSockets: 1 })
}

/**
 * Waits, one event-loop turn at a time, until `predicate` holds: for state that changes inside a
 * library's own callback chain with no event to wait on. Fails after `turns` turns instead of hanging.
 */
export async function eventually(predicate: () => boolean, what: string, turns = 1_000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (predicate()) return
    await turn()
  }
  throw new Error(`still not true after ${turns} event-loop turns: ${what}`)
}

/** Resolves once `server` has received a request for `path` (its handler has been called). */
export function requestSeen(server: Server, path: string): Promise<void> {
  return new Promise((resolve) => {
    const onRequest = (req: IncomingMessage) => {
      if (req.url !== path) return
      server.off('request', onRequest)
      resolve()
    }
    server.on('request', onRequest)
  })
}

/**
 * Resolves once `count` responses of `server` have emitted `close`. The adapters count metrics and
 * start tasks in their own `close` listeners, which run in the same emit: when this resolves, they ran.
 */
export function responsesClosed(server: Server, count: number): Promise<void> {
  const done = countdown(count)
  const onRequest = (_req: IncomingMessage, res: ServerResponse) => res.once('close', done.arrive)
  server.on('request', onRequest)
  return done.done.then(() => void server.off('request', onRequest))
}

/** The one socket of a keep-alive agent with `maxSockets: 1`, busy or idle. */
export function agentSocket(agent: Agent): Socket {
  const pools = [...Object.values(agent.sockets), ...Object.values(agent.freeSockets)]
  const socket = pools.flat()[0]
  if (!socket) throw new Error('the agent has no socket')
  return socket
}

/** A raw TCP connection for pipelining: what it received so far, and a way to wait for more. */
export async function rawConnection(port: number, host = '127.0.0.1') {
  const socket = connect(port, host)
  await once(socket, 'connect')
  let received = ''
  const waiters = new Set<() => void>()
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => {
    received += chunk
    for (const wake of waiters) wake()
  })
  const closed = once(socket, 'close').then(() => received)
  return {
    write: (text: string) => void socket.write(text),
    /** Resolves once the received text contains `text`. */
    receive: (text: string) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (!received.includes(text)) return
          waiters.delete(check)
          resolve()
        }
        waiters.add(check)
        check()
      }),
    /** Resolves with everything received once the server closed the connection. */
    closed,
    destroy: () => void socket.destroy(),
  }
}
