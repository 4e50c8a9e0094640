// Test helpers for real sockets: a tiny HTTP client that exposes the connection, and latches.
import { Agent, request, type IncomingMessage } from 'node:http'
import { connect } from 'node:net'
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
