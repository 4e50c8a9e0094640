import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { silentLogger } from '../../core/logger.js'
import { createService } from '../../service.js'
import { ManualClock } from '../../testing/manual-clock.js'
import { waitForEvent } from '../../testing/wait-for-event.js'
import { countdown, keepAliveAgent, latch, open, rawConnection, send, tryConnect, turn } from '../behaviour/http.js'
import { serveHttp, type HttpHandle } from './serve-http.js'

const cleanups: (() => Promise<unknown> | void)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo
      probe.close(() => resolve(port))
    })
  })
}

function track(handle: HttpHandle): HttpHandle {
  cleanups.push(() => handle.stop())
  return handle
}

describe('serveHttp startup', () => {
  it('listens on nothing when the second lifespan fails, tears down the first and names the failing one', async () => {
    const log: string[] = []
    const svc = createService({
      logger: silentLogger,
      lifespan: [
        async function* database() {
          log.push('database up')
          try { yield { db: 1 } } finally { log.push('database down') }
        },
        async function* redis() {
          throw new Error('ECONNREFUSED 127.0.0.1:6379')
        },
      ],
    })
    const port = await freePort()
    const server = createServer((_req, res) => res.end('never'))
    const error = await serveHttp(svc, server, { port, signals: false }).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'ERR_LIFESPAN_STARTUP', lifespan: 'redis', message: expect.stringContaining('"redis"') })
    expect(log).toEqual(['database up', 'database down'])
    expect(server.listening).toBe(false)
    expect(await tryConnect(port)).toBe('ECONNREFUSED')
  })

  it('tears the lifespans down again when the port is taken', async () => {
    const log: string[] = []
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise((resolve) => taken.close(resolve)))
    const { port } = taken.address() as AddressInfo
    const svc = createService({
      logger: silentLogger,
      lifespan: async function* pool() {
        try { yield } finally { log.push('pool closed') }
      },
    })
    await expect(serveHttp(svc, createServer(), { port, signals: false })).rejects.toMatchObject({ code: 'EADDRINUSE' })
    expect(log).toEqual(['pool closed'])
    expect(svc.readiness).toBe('stopped')
  })
})

describe('serveHttp shutdown', () => {
  it('closes a request that outlives the drain deadline, reports it, and still stops the service', async () => {
    const clock = new ManualClock()
    const log: string[] = []
    const svc = createService({
      logger: silentLogger,
      clock,
      shutdown: { http: '10s' },
      lifespan: async function* resource() {
        try { yield } finally { log.push('teardown') }
      },
    })
    const inHandler = latch()
    const server: Server = createServer(() => inHandler.open())
    const handle = track(await serveHttp(svc, server, { port: 0, signals: false }))
    const hung = send(handle.url).catch((e: NodeJS.ErrnoException) => e.code)
    await inHandler.wait()
    const abandoned = waitForEvent(svc, 'shutdown:abandoned', (e) => e.step === 'http')
    const stopping = handle.stop()
    await turn()
    await clock.advance(10_000)
    expect((await abandoned).detail).toMatch(/^1 HTTP request\(s\) still in flight/)
    await stopping
    expect(await hung).toBe('ECONNRESET')
    expect(log).toEqual(['teardown'])
    await handle.closed
  })

  it('shuts down on SIGTERM and removes its signal handlers afterwards', async () => {
    const before = process.listenerCount('SIGTERM')
    const svc = createService({ logger: silentLogger })
    const handle = await serveHttp(svc, createServer((_req, res) => res.end('ok')), { port: 0 })
    expect(process.listenerCount('SIGTERM')).toBe(before + 1)
    expect((await send(handle.url)).body).toBe('ok')
    process.emit('SIGTERM', 'SIGTERM')
    await handle.closed
    expect(svc.readiness).toBe('stopped')
    expect(process.listenerCount('SIGTERM')).toBe(before)
    expect(process.exitCode ?? 0).toBe(0)
  })

  it('ends a connection after a pipelined request queued behind a response already sent when the drain began', async () => {
    // A ManualClock that never advances: neither the drain deadline nor the keep-alive timeout may end it.
    const svc = createService({ logger: silentLogger, clock: new ManualClock() })
    const first = latch()
    const second = latch()
    const bothIn = countdown(2)
    const server = createServer(async (req, res) => {
      bothIn.arrive()
      if (req.url === '/a') {
        res.writeHead(200, { 'content-length': '1' })
        res.flushHeaders()
        await first.wait()
        res.end('a')
      } else {
        await second.wait()
        res.end('b')
      }
    })
    server.keepAliveTimeout = 60_000
    const handle = await serveHttp(svc, server, { port: 0, signals: false })
    const connection = await rawConnection(handle.port)
    connection.write('GET /a HTTP/1.1\r\nHost: test\r\n\r\nGET /b HTTP/1.1\r\nHost: test\r\n\r\n')
    await bothIn.done
    await connection.receive('Connection: keep-alive')
    const stopping = handle.stop()
    await turn()
    first.open()
    await connection.receive('\r\n\r\na')
    second.open()
    const received = await connection.closed
    expect([...received.matchAll(/^connection: (.*)$/gim)].map((m) => m[1]?.trim())).toEqual(['keep-alive', 'close'])
    await stopping
    expect(svc.readiness).toBe('stopped')
  })

  it('closes a keep-alive socket whose response began before the drain as soon as it ends', async () => {
    // A ManualClock that never advances: the drain deadline cannot be what ends this shutdown.
    const svc = createService({ logger: silentLogger, clock: new ManualClock() })
    const gate = latch()
    const server = createServer(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.write('head;')
      await gate.wait()
      res.end('tail')
    })
    const handle = await serveHttp(svc, server, { port: 0, signals: false })
    const agent = keepAliveAgent()
    const res = await open(handle.url, '/', agent)
    expect(res.headers.connection).toBe('keep-alive')
    const socketClosed = new Promise<void>((resolve) => res.socket.once('close', () => resolve()))
    const stopping = handle.stop()
    gate.open()
    res.resume()
    await socketClosed
    await stopping
    expect(svc.readiness).toBe('stopped')
    agent.destroy()
  })
})
