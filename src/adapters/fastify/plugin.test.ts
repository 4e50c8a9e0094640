import Fastify from 'fastify'
import { describe, expect, it, onTestFinished } from 'vitest'
import { silentLogger } from '../../core/logger.js'
import { createService } from '../../service.js'
import { send, tryConnect } from '../behaviour/http.js'
import { afterwork, serve } from './index.js'

async function setup() {
  const svc = createService({ logger: silentLogger })
  const app = Fastify()
  await app.register(afterwork(svc))
  const Signup = {
    type: 'object',
    required: ['email'],
    properties: { email: { type: 'string' }, address: { type: 'object', properties: { zip: { type: 'string', minLength: 5 } } } },
  }
  app.post('/signup', { schema: { body: Signup } }, async (request) => ({ id: request.id, requestId: request.requestId }))
  app.get('/ready', async () => ({ ok: true }))
  return { svc, app }
}

async function served() {
  const { svc, app } = await setup()
  const handle = await serve(svc, app, { port: 0, signals: false })
  onTestFinished(() => handle.stop())
  return { svc, app, handle }
}

const post = (body: string, headers: Record<string, string> = {}) => ({ method: 'POST', path: '/signup', body, headers: { 'content-type': 'application/json', ...headers } })

describe('afterwork Fastify plugin', () => {
  it("answers Fastify's own schema validation in afterwork's 422 shape, naming the fields", async () => {
    const { handle } = await served()
    const missing = await send(handle.url, post('{}', { 'x-request-id': 'req-schema' }))
    expect(missing.status).toBe(422)
    expect(JSON.parse(missing.body)).toEqual({
      error: {
        code: 'ERR_VALIDATION',
        message: "Invalid request body: email: must have required property 'email'",
        issues: [{ path: 'email', message: "must have required property 'email'" }],
        requestId: 'req-schema',
      },
    })
    const nested = await send(handle.url, post('{"email":"a@b.co","address":{"zip":"1"}}'))
    expect(JSON.parse(nested.body)).toMatchObject({ error: { issues: [{ path: 'address.zip' }] } })
  })

  it("keeps the status of Fastify's own errors, in afterwork's shape: malformed JSON is 400", async () => {
    const { handle } = await served()
    const res = await send(handle.url, post('{"email":', { 'x-request-id': 'req-json' }))
    expect(res.status).toBe(400)
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'ERR_HTTP', requestId: 'req-json' } })
  })

  it("makes request.id the afterwork request id, so Fastify's logs carry it", async () => {
    const { handle } = await served()
    const res = await send(handle.url, post('{"email":"a@b.co"}', { 'x-request-id': 'req-fastify' }))
    expect(JSON.parse(res.body)).toEqual({ id: 'req-fastify', requestId: 'req-fastify' })
    expect(res.headers['x-request-id']).toBe('req-fastify')
  })

  it('starts the service in onReady and stops it in onClose', async () => {
    const { svc, app } = await setup()
    expect(svc.readiness).toBe('idle')
    await app.ready()
    expect(svc.readiness).toBe('ready')
    await app.close()
    expect(svc.readiness).toBe('stopped')
  })

  it('rejects from serve(), listening on nothing, when a lifespan fails to start', async () => {
    const svc = createService({
      logger: silentLogger,
      lifespan: async function* redis() {
        throw new Error('ECONNREFUSED')
      },
    })
    const app = Fastify()
    await app.register(afterwork(svc))
    const probe = await serve(createService({ logger: silentLogger }), Fastify(), { port: 0, signals: false })
    await probe.stop()
    await expect(serve(svc, app, { port: probe.port, signals: false })).rejects.toMatchObject({ code: 'ERR_LIFESPAN_STARTUP', lifespan: 'redis' })
    expect(await tryConnect(probe.port)).toBe('ECONNREFUSED')
    expect(svc.readiness).toBe('stopped')
  })
})

describe('afterwork Fastify plugin under fastify.inject()', () => {
  it('runs the tasks and counts the request, with no socket', async () => {
    const svc = createService({ logger: silentLogger })
    const app = Fastify()
    await app.register(afterwork(svc))
    const ran: string[] = []
    app.get('/items/:id', async (request) => {
      request.background.add(() => void ran.push(request.requestId))
      return { ok: true }
    })
    onTestFinished(() => app.close())
    const res = await app.inject({ url: '/items/7', headers: { 'x-request-id': 'req-inject' } })
    expect(res.statusCode).toBe(200)
    await svc.background.idle()
    expect(ran).toEqual(['req-inject'])
    expect(await svc.metrics.prometheus()).toContain('afterwork_http_requests_total{method="GET",route="/items/:id",status_class="2xx"} 1')
  })

  it("answers an error thrown by a hook that runs before afterwork's with the error's own status", async () => {
    // A rate limiter or auth plugin registered first: afterwork's hook has not run, so the request
    // has no scope yet (its declared property is still null).
    const svc = createService({ logger: silentLogger })
    const app = Fastify()
    app.addHook('onRequest', async () => {
      throw Object.assign(new Error('Too many requests'), { statusCode: 429 })
    })
    await app.register(afterwork(svc))
    app.get('/', async () => ({ ok: true }))
    await app.ready()
    onTestFinished(() => app.close())
    const res = await app.inject({ method: 'GET', url: '/' })
    expect(res.statusCode).toBe(429)
  })
})

