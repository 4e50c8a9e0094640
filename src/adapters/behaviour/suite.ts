// The adapter behaviour suite: every adapter (Hono, Fastify, Express, plain node:http) runs these
// cases against a real server on a real socket, so they all keep DESIGN's promises alike.
import type { Server, ServerResponse } from 'node:http'
import { describe, expect, it, onTestFinished } from 'vitest'
import { z } from 'zod'
import type { BackgroundTasks } from '../../core/background-tasks.js'
import type { Logger } from '../../core/logger.js'
import { silentLogger } from '../../core/logger.js'
import { AfterworkError } from '../../core/errors.js'
import { currentRequestId } from '../../core/request-context.js'
import { createService, type AnyService } from '../../service.js'
import { agentSocket, eventually, keepAliveAgent, latch, open, rawConnection, requestSeen, responsesClosed, send, tryConnect, turn } from './http.js'

/** A served app, as every adapter's `serve()` returns it (or as a factory builds it from its host). */
export interface ServedApp {
  url: string
  port: number
  server: Server
  /** The graceful shutdown, however the host does it. */
  stop(): Promise<void>
}

/** What the routes need from the adapter's request: `req`, `request`, `c.var` or `ctx` all fit. */
export interface SuiteContext {
  background: BackgroundTasks
  requestId: string
}

export const SignupSchema = z.object({ email: z.email(), name: z.string().min(1) })
export type Signup = z.infer<typeof SignupSchema>

/**
 * The standard routes, free of any framework: a factory mounts each at its path with the adapter's
 * own idioms (its validate() on /signup, its error handler for what they throw).
 */
export interface SuiteRoutes {
  /** GET /work: adds three tasks (the second throws), waits for the test's gate, answers `{ requestId }`. */
  work(ctx: SuiteContext): Promise<{ requestId: string }>
  /** GET /stream (text/plain): adds a task, sends `first;`, and `last` once the test opens its gate. */
  stream(ctx: SuiteContext): AsyncIterable<string>
  /** POST /signup with `validate(SignupSchema)`: answers 201 `{ email }`. */
  signup(ctx: SuiteContext, body: Signup): { email: string }
  /** GET /items/:id: answers `{ id }`. */
  item(id: string): { id: string }
  /** GET /boom: throws an unexpected error. */
  boom(): never
  /** GET /health/ready: `svc.health()`, 200 when ok, else 503. */
  ready(): Promise<{ status: number; body: unknown }>
}

/** Builds an app with the standard routes for `svc`, serves it on 127.0.0.1 with a free port and no signal handlers. */
export type AdapterFactory = (svc: AnyService, routes: SuiteRoutes) => Promise<ServedApp>

interface LoggedError {
  obj: Record<string, unknown>
  msg: string | undefined
}

async function setup(factory: AdapterFactory, opts: { maxPending?: number; holdWork?: boolean } = {}) {
  const log: string[] = []
  const errors: LoggedError[] = []
  const logger: Logger = { ...silentLogger, error: (obj, msg) => void errors.push({ obj: obj as Record<string, unknown>, msg }), child: () => logger }
  const svc = createService({
    logger,
    background: { maxPending: opts.maxPending ?? 100, requestContext: true },
    lifespan: async function* resource() {
      try { yield } finally { log.push('teardown') }
    },
  })
  const workGate = latch()
  if (!opts.holdWork) workGate.open()
  const workEntered = latch()
  const lastChunk = latch()
  const streamed = latch()
  const routes: SuiteRoutes = {
    async work(ctx) {
      ctx.background.add(function first() {
        log.push(`first ${currentRequestId()}`)
      })
      ctx.background.add(async function failing() {
        throw new Error('task broke')
      })
      ctx.background.add(function third() {
        log.push(`third ${currentRequestId()}`)
      })
      workEntered.open()
      await workGate.wait()
      return { requestId: ctx.requestId }
    },
    async *stream(ctx) {
      ctx.background.add(function afterStream() {
        log.push(`streamed ${currentRequestId()}`)
        streamed.open()
      })
      yield 'first;'
      await lastChunk.wait()
      yield 'last'
    },
    signup(ctx, body) {
      ctx.background.add(function welcome() {
        log.push(`welcome ${body.email}`)
      })
      return { email: body.email }
    },
    item(id) {
      if (id === 'missing') throw new AfterworkError('ERR_JOB_NOT_FOUND', 'No job missing')
      return { id }
    },
    boom() {
      throw new Error('database exploded')
    },
    async ready() {
      const health = await svc.health()
      return { status: health.status === 'ok' ? 200 : 503, body: health }
    },
  }
  const app = await factory(svc, routes)
  onTestFinished(async () => {
    workGate.open()
    lastChunk.open()
    await app.stop()
  })
  return { svc, app, log, errors, workGate, workEntered, lastChunk, streamed }
}

const json = (body: Record<string, unknown>) => ({ method: 'POST', path: '/signup', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

/** Runs the behaviour every adapter must have against the apps `factory` builds. */
export function runAdapterBehaviourSuite(name: string, factory: AdapterFactory): void {
  describe(`adapter behaviour: ${name}`, () => {
    it('starts tasks after the handler answered, in order, with a failing task logged and the next one still run', async () => {
      const { svc, app, log, errors, workGate, workEntered } = await setup(factory, { holdWork: true })
      const answer = send(app.url, { path: '/work', headers: { 'X-Request-Id': 'req-order' } })
      await workEntered.wait()
      for (let i = 0; i < 10; i++) await turn()
      expect(log).toEqual([])
      workGate.open()
      const res = await answer
      expect(res.status).toBe(200)
      expect(res.headers['x-request-id']).toBe('req-order')
      expect(JSON.parse(res.body)).toEqual({ requestId: 'req-order' })
      await svc.background.idle()
      expect(log).toEqual(['first req-order', 'third req-order'])
      expect(errors).toEqual([
        { msg: 'background task failed', obj: expect.objectContaining({ requestId: 'req-order', task: 'failing', err: expect.objectContaining({ message: 'task broke' }) }) },
      ])
      expect(svc.background.stats).toMatchObject({ succeeded: 2, failed: 1, pending: 0 })
    })

    it('starts tasks only once the last chunk of a streamed response is sent', async () => {
      const { app, log, lastChunk, streamed } = await setup(factory)
      const res = await open(app.url, '/stream', false)
      res.setEncoding('utf8')
      let body = ''
      await new Promise<void>((resolve) => res.once('data', (chunk: string) => ((body += chunk), resolve())))
      for (let i = 0; i < 10; i++) await turn()
      expect(log).toEqual([])
      const ended = new Promise<void>((resolve) => {
        res.on('data', (chunk: string) => (body += chunk))
        res.on('end', resolve)
      })
      lastChunk.open()
      await ended
      expect(body).toBe('first;last')
      await streamed.wait()
      expect(log).toEqual([`streamed ${res.headers['x-request-id']}`])
    })

    it('still runs the tasks when the client disconnects mid-response', async () => {
      const { app, log, streamed } = await setup(factory)
      const res = await open(app.url, '/stream', false)
      await new Promise<void>((resolve) => res.once('data', () => resolve()))
      res.destroy()
      await streamed.wait()
      expect(log).toEqual([`streamed ${res.headers['x-request-id']}`])
    })

    it('replaces a malformed request id with a UUID, echoed and carried into the tasks', async () => {
      const { svc, app, log } = await setup(factory)
      const res = await send(app.url, { path: '/work', headers: { 'x-request-id': 'bad id with spaces' } })
      const id = res.headers['x-request-id']
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
      expect(JSON.parse(res.body)).toEqual({ requestId: id })
      await svc.background.idle()
      expect(log).toEqual([`first ${id}`, `third ${id}`])
    })

    it("answers an invalid body with DESIGN's 422 naming the field, and a valid one with 201", async () => {
      const { svc, app, log } = await setup(factory)
      const bad = await send(app.url, { ...json({ name: 'Ada' }), headers: { 'content-type': 'application/json', 'x-request-id': 'req-422' } })
      expect(bad.status).toBe(422)
      const error = (JSON.parse(bad.body) as { error: { code: string; message: string; issues: { path: string; message: string }[]; requestId: string } }).error
      expect(error).toMatchObject({ code: 'ERR_VALIDATION', message: expect.stringMatching(/^Invalid request body: email: /), requestId: 'req-422' })
      expect(error.issues.map((i) => i.path)).toEqual(['email'])
      const good = await send(app.url, json({ email: 'ada@example.com', name: 'Ada' }))
      expect(good.status).toBe(201)
      expect(JSON.parse(good.body)).toEqual({ email: 'ada@example.com' })
      await svc.background.idle()
      expect(log).toEqual(['welcome ada@example.com'])
    })

    it('answers an unexpected error with a bare 500 carrying the request id, and logs it', async () => {
      const { app, errors } = await setup(factory)
      const res = await send(app.url, { path: '/boom', headers: { 'x-request-id': 'req-500' } })
      expect(res.status).toBe(500)
      expect(JSON.parse(res.body)).toEqual({ error: { code: 'ERR_INTERNAL', message: 'Internal Server Error', requestId: 'req-500' } })
      expect(errors).toEqual([{ msg: 'request failed', obj: expect.objectContaining({ requestId: 'req-500', err: expect.objectContaining({ message: 'database exploded' }) }) }])
    })

    it('answers 503 with Retry-After when the background buffer is full', async () => {
      const { app } = await setup(factory, { maxPending: 2 })
      const res = await send(app.url, { path: '/work' })
      expect(res.status).toBe(503)
      expect(res.headers['retry-after']).toBe('1')
      expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'ERR_BACKGROUND_FULL' } })
    })

    it('counts requests and errors by method, route template and status class', async () => {
      const { svc, app } = await setup(factory)
      const closed = responsesClosed(app.server, 6)
      await send(app.url, { path: '/items/1' })
      await send(app.url, { path: '/items/2' })
      await send(app.url, { path: '/boom' })
      await send(app.url, json({}))
      await send(app.url, json({ email: 'ada@example.com', name: 'Ada' }))
      // A thrown 404 is answered, and like the 422 it is the client's mistake, not an error.
      expect((await send(app.url, { path: '/items/missing' })).status).toBe(404)
      await closed
      expect(svc.metrics.snapshot()).toMatchObject({ requests: 6, errors: 1 })
      const text = await svc.metrics.prometheus()
      expect(text).toContain('afterwork_http_requests_total{method="GET",route="/items/:id",status_class="2xx"} 2')
      expect(text).toContain('afterwork_http_requests_total{method="POST",route="/signup",status_class="4xx"} 1')
      expect(text).toContain('afterwork_http_requests_total{method="POST",route="/signup",status_class="2xx"} 1')
      expect(text).toContain('afterwork_http_errors_total{method="GET",route="/boom",status_class="5xx"} 1')
      expect(text).not.toContain('/items/1')
    })

    it('drains in-flight requests and their tasks on shutdown, with keep-alive clients connected', async () => {
      const { svc, app, log, workGate, workEntered } = await setup(factory, { holdWork: true })
      // A host that waited for keep-alive clients to leave would outlast the test's timeout.
      app.server.keepAliveTimeout = 60_000
      const idle = keepAliveAgent()
      const busy = keepAliveAgent()
      onTestFinished(() => (idle.destroy(), busy.destroy()))
      expect((await send(app.url, { path: '/items/1', agent: idle })).headers.connection).toBe('keep-alive')
      const idleClosed = closeOf(agentSocket(idle))
      const warm = await send(app.url, { path: '/items/2', agent: busy })
      const inFlight = send(app.url, { path: '/work', agent: busy, headers: { 'x-request-id': 'req-drain' } })
      await workEntered.wait()
      const busyClosed = closeOf(agentSocket(busy))

      let stopped = false
      const stopping = app.stop().then(() => (stopped = true))
      await eventually(() => !app.server.listening, 'the server stops listening')
      expect(svc.readiness).toBe('draining')
      expect(await tryConnect(app.port)).toBe('ECONNREFUSED')
      await idleClosed
      for (let i = 0; i < 10; i++) await turn()
      expect(stopped).toBe(false)

      workGate.open()
      const answer = await inFlight
      expect(answer).toMatchObject({ status: 200, localPort: warm.localPort })
      expect(JSON.parse(answer.body)).toEqual({ requestId: 'req-drain' })
      await busyClosed
      await stopping
      expect(log).toEqual(['first req-drain', 'third req-drain', 'teardown'])
      expect(svc.readiness).toBe('stopped')
    })

    it('answers readiness 503 while draining', async () => {
      const { app, lastChunk } = await setup(factory)
      const ready = await send(app.url, { path: '/health/ready' })
      expect(ready.status).toBe(200)
      expect(JSON.parse(ready.body)).toMatchObject({ status: 'ok', readiness: 'ready' })
      // A streamed response in flight keeps its connection open through the drain; a readiness
      // probe pipelined behind it reaches the app while it drains.
      const connection = await rawConnection(app.port)
      onTestFinished(connection.destroy)
      connection.write('GET /stream HTTP/1.1\r\nHost: test\r\n\r\n')
      await connection.receive('first;')
      const stopping = app.stop()
      await eventually(() => !app.server.listening, 'the server stops listening')
      const probed = requestSeen(app.server, '/health/ready')
      connection.write('GET /health/ready HTTP/1.1\r\nHost: test\r\n\r\n')
      await probed
      lastChunk.open()
      const received = await connection.closed
      expect([...received.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => m[1])).toEqual(['200', '503'])
      await stopping
    })
  })
}

function closeOf(socket: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()))
}

/** Writes a chunked text body from `chunks`, for the hosts whose handlers hold the Node response. */
export async function writeChunks(res: ServerResponse, chunks: AsyncIterable<string>): Promise<void> {
  res.setHeader('content-type', 'text/plain; charset=utf-8')
  for await (const chunk of chunks) {
    if (res.destroyed) return
    res.write(chunk)
  }
  res.end()
}
