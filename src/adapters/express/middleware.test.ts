import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import { describe, expect, it, onTestFinished } from 'vitest'
import { silentLogger } from '../../core/logger.js'
import { createService } from '../../service.js'
import { responsesClosed, send } from '../behaviour/http.js'
import { afterwork, afterworkErrors, serve, validate } from './index.js'

function build(svc: ReturnType<typeof createService>) {
  const app = express()
  app.use(afterwork(svc))
  app.use(express.json())
  const api = express.Router()
  api.get('/items/:id', (req, res) => void res.json({ id: req.params.id, requestId: req.requestId }))
  api.get('/', (_req, res) => void res.json({ root: true }))
  app.use('/api', api)
  app.get('/state', (req, res) => void res.json({ state: req.state }))
  app.use(afterworkErrors)
  return app
}

async function served() {
  const svc = createService({ logger: silentLogger })
  const handle = await serve(svc, build(svc), { port: 0, signals: false })
  onTestFinished(() => handle.stop())
  return { svc, handle }
}

describe('afterwork Express middleware', () => {
  it("carries the scope on the request object itself under serve() (no WeakMap entry), and beside it under the app's own server", async () => {
    const app = express()
    const svc = createService({ logger: silentLogger })
    app.use(afterwork(svc))
    app.get('/', (req, res) => void res.json({ own: Object.getOwnPropertySymbols(req).map(String).includes('Symbol(afterwork.scope)'), id: req.requestId }))
    const handle = await serve(svc, app, { port: 0, signals: false })
    onTestFinished(() => handle.stop())
    expect(JSON.parse((await send(handle.url, { path: '/', headers: { 'x-request-id': 'req-served' } })).body)).toEqual({ own: true, id: 'req-served' })
    const plain = createServer(app).listen(0, '127.0.0.1')
    onTestFinished(() => void plain.close())
    await new Promise((resolve) => plain.once('listening', resolve))
    const url = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`
    expect(JSON.parse((await send(url, { path: '/', headers: { 'x-request-id': 'req-plain' } })).body)).toEqual({ own: false, id: 'req-plain' })
  })

  it('keeps one scope a request through an app and its sub-app, under serve() and under the app\'s own server', async () => {
    const svc = createService({ logger: silentLogger })
    const ran: string[] = []
    const sub = express()
    sub.use(afterwork(svc))
    sub.get('/job', (req, res) => {
      req.background.add(() => void ran.push(`sub ${req.requestId}`))
      res.json({ requestId: req.requestId })
    })
    const app = express()
    app.use(afterwork(svc))
    app.use((req, _res, next) => {
      req.background.add(() => void ran.push(`app ${req.requestId}`))
      next()
    })
    app.use('/sub', sub)
    const handle = await serve(svc, app, { port: 0, signals: false })
    onTestFinished(() => handle.stop())
    const plain = createServer(app).listen(0, '127.0.0.1')
    onTestFinished(() => void plain.close())
    await new Promise((resolve) => plain.once('listening', resolve))
    const plainUrl = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`
    for (const [url, server, id] of [
      [handle.url, handle.server, 'req-served'],
      [plainUrl, plain, 'req-plain'],
    ] as const) {
      const closed = responsesClosed(server, 1)
      const res = await send(url, { path: '/sub/job', headers: { 'x-request-id': id } })
      expect(res.headers['x-request-id']).toBe(id)
      expect(JSON.parse(res.body)).toEqual({ requestId: id })
      await closed
    }
    await svc.background.idle()
    expect(ran).toEqual(['app req-served', 'sub req-served', 'app req-plain', 'sub req-plain'])
    expect(await svc.metrics.prometheus()).toContain('afterwork_http_requests_total{method="GET",route="/sub/job",status_class="2xx"} 2')
  })

  it('counts a mounted router\'s routes by their full template, and unmatched paths under one label', async () => {
    const { svc, handle } = await served()
    const closed = responsesClosed(handle.server, 4)
    expect(JSON.parse((await send(handle.url, { path: '/api/items/3', headers: { 'x-request-id': 'req-api' } })).body)).toEqual({ id: '3', requestId: 'req-api' })
    await send(handle.url, { path: '/api/items/4' })
    await send(handle.url, { path: '/api' })
    expect((await send(handle.url, { path: '/nowhere/9' })).status).toBe(404)
    await closed
    const text = await svc.metrics.prometheus()
    expect(text).toContain('afterwork_http_requests_total{method="GET",route="/api/items/:id",status_class="2xx"} 2')
    expect(text).toContain('afterwork_http_requests_total{method="GET",route="/api",status_class="2xx"} 1')
    expect(text).toContain('afterwork_http_requests_total{method="GET",route="(unmatched)",status_class="4xx"} 1')
    expect(text).not.toContain('/nowhere')
  })

  it("answers body-parser's malformed JSON with its 400, in afterwork's shape", async () => {
    const { handle } = await served()
    const res = await send(handle.url, { method: 'POST', path: '/state', body: '{"a":', headers: { 'content-type': 'application/json', 'x-request-id': 'req-json' } })
    expect(res.status).toBe(400)
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'ERR_HTTP', requestId: 'req-json' } })
  })

  it('answers 503 when a handler reads req.state before the service started', async () => {
    const svc = createService({ logger: silentLogger })
    const server = createServer(build(svc))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const res = await send(url, { path: '/state' })
    expect(res.status).toBe(503)
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'ERR_SERVICE_NOT_STARTED' } })
  })

  it('refuses a schema that is not a Standard Schema', () => {
    expect(() => validate({} as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
  })

  it('keeps req.background and req.requestId when a later middleware replaces res.locals', async () => {
    const svc = createService({ logger: silentLogger })
    const app = express()
    app.use(afterwork(svc))
    app.use((_req, res, next) => {
      res.locals = { user: 'u' }
      next()
    })
    let ran = ''
    app.get('/', (req, res) => {
      req.background.add(() => void (ran = req.requestId))
      res.json({ requestId: req.requestId })
    })
    app.use(afterworkErrors)
    const handle = await serve(svc, app, { port: 0, signals: false })
    onTestFinished(() => handle.stop())
    const res = await send(handle.url, { path: '/', headers: { 'x-request-id': 'req-locals' } })
    expect(JSON.parse(res.body)).toEqual({ requestId: 'req-locals' })
    await svc.background.idle()
    expect(ran).toBe('req-locals')
  })
})

