import { Hono } from 'hono'
import { HTTPException } from 'hono/http-exception'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import type { Logger } from '../../core/logger.js'
import { silentLogger } from '../../core/logger.js'
import { currentRequestId } from '../../core/request-context.js'
import { createService } from '../../service.js'
import { withTestClient } from '../../testing/test-client.js'
import { afterwork, afterworkErrors, validate, type AfterworkEnv } from './index.js'

function captureLogger() {
  const lines: { level: string; obj: Record<string, unknown>; msg?: string }[] = []
  const make = (): Logger => ({
    debug: (obj, msg) => void lines.push({ level: 'debug', obj: obj as Record<string, unknown>, msg }),
    info: (obj, msg) => void lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
    warn: (obj, msg) => void lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
    error: (obj, msg) => void lines.push({ level: 'error', obj: obj as Record<string, unknown>, msg }),
    child: () => make(),
  })
  return { logger: make(), lines }
}

const Signup = z.object({ email: z.email(), name: z.string().min(1), address: z.object({ zip: z.string().length(5) }).optional() })

function setup(opts: { maxPending?: number } = {}) {
  const { logger, lines } = captureLogger()
  const svc = createService({
    logger,
    background: { maxPending: opts.maxPending ?? 100, requestContext: true },
    lifespan: async function* store() {
      yield { sent: [] as string[] }
    },
  })
  const app = new Hono<AfterworkEnv<typeof svc>>()
  app.use(afterwork(svc))
  app.onError(afterworkErrors)
  app.post('/signup', validate(Signup), (c) => {
    const body = c.req.valid('json')
    c.var.background.add((to: string) => void c.var.state.sent.push(`${to} ${currentRequestId()}`), body.email)
    return c.json({ email: body.email, requestId: c.var.requestId }, 201)
  })
  app.get('/items/:id', (c) => c.json({ id: c.req.param('id') }))
  app.get('/boom', () => {
    throw new Error('database exploded')
  })
  app.get('/teapot', () => {
    throw new HTTPException(418, { message: 'short and stout' })
  })
  app.get('/many', (c) => {
    for (let i = 0; i < 3; i++) c.var.background.add(() => {})
    return c.text('ok')
  })
  return { svc, app, lines }
}

describe('afterwork middleware', () => {
  it('runs tasks after the handler returns, with the request id current', async () => {
    const { svc, app } = setup()
    await withTestClient(svc, app, async (client) => {
      const res = await client.post('/signup', { json: { email: 'ada@example.com', name: 'Ada' }, headers: { 'x-request-id': 'req-abc' } })
      expect(res.status).toBe(201)
      expect(res.headers.get('x-request-id')).toBe('req-abc')
      expect(await res.json()).toEqual({ email: 'ada@example.com', requestId: 'req-abc' })
      await client.drainBackground()
      expect(svc.state.sent).toEqual(['ada@example.com req-abc'])
    })
  })

  it('replaces a malformed request id with a UUID', async () => {
    const { svc, app } = setup()
    await withTestClient(svc, app, async (client) => {
      const res = await client.get('/items/1', { headers: { 'x-request-id': 'bad id with spaces' } })
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    })
  })

  it('answers 503 with Retry-After when the background buffer is full', async () => {
    const { svc, app } = setup({ maxPending: 2 })
    await withTestClient(svc, app, async (client) => {
      const res = await client.get('/many')
      expect(res.status).toBe(503)
      expect(res.headers.get('retry-after')).toBe('1')
      expect(await res.json()).toMatchObject({ error: { code: 'ERR_BACKGROUND_FULL' } })
    })
  })

  it('answers 503 when the service has not started', async () => {
    const { app } = setup()
    const res = await app.request('/items/1')
    expect(res.status).toBe(503)
    expect(await res.json()).toMatchObject({ error: { code: 'ERR_SERVICE_NOT_STARTED' } })
  })
})

describe('validate', () => {
  it('answers 422 naming the missing field', async () => {
    const { svc, app } = setup()
    await withTestClient(svc, app, async (client) => {
      const res = await client.post('/signup', { json: { name: 'Ada' } })
      expect(res.status).toBe(422)
      const body = (await res.json()) as { error: { code: string; message: string; issues: { path: string }[]; requestId: string } }
      expect(body.error.code).toBe('ERR_VALIDATION')
      expect(body.error.issues.map((i) => i.path)).toEqual(['email'])
      expect(body.error.message).toMatch(/^Invalid request body: email: /)
      expect(body.error.requestId).toBe(res.headers.get('x-request-id'))
    })
  })

  it('names nested fields by dotted path and stores nothing', async () => {
    const { svc, app } = setup()
    await withTestClient(svc, app, async (client) => {
      const res = await client.post('/signup', { json: { email: 'not-an-email', name: '', address: { zip: '1' } } })
      expect(res.status).toBe(422)
      const body = (await res.json()) as { error: { issues: { path: string }[] } }
      expect(body.error.issues.map((i) => i.path).sort()).toEqual(['address.zip', 'email', 'name'])
      await client.drainBackground()
      expect(svc.state.sent).toEqual([])
    })
  })

  it('answers malformed JSON with 400 in the same error shape', async () => {
    const { svc, app } = setup()
    await withTestClient(svc, app, async (client) => {
      const res = await client.post('/signup', { body: '{"email":', headers: { 'content-type': 'application/json' } })
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({ error: { code: 'ERR_HTTP' } })
    })
  })

  it('refuses a schema that is not a Standard Schema', () => {
    expect(() => validate({} as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
  })
})

describe('afterworkErrors', () => {
  it('answers an unexpected error with a bare 500 and logs it with the request id', async () => {
    const { svc, app, lines } = setup()
    await withTestClient(svc, app, async (client) => {
      const res = await client.get('/boom', { headers: { 'x-request-id': 'req-500' } })
      expect(res.status).toBe(500)
      expect(await res.json()).toEqual({ error: { code: 'ERR_INTERNAL', message: 'Internal Server Error', requestId: 'req-500' } })
      const logged = lines.find((l) => l.msg === 'request failed')
      expect(logged?.obj).toMatchObject({ requestId: 'req-500', err: expect.objectContaining({ message: 'database exploded' }) })
    })
  })

  it('keeps an HTTPException status', async () => {
    const { svc, app } = setup()
    await withTestClient(svc, app, async (client) => {
      const res = await client.get('/teapot')
      expect(res.status).toBe(418)
      expect(await res.json()).toMatchObject({ error: { code: 'ERR_HTTP', message: 'short and stout' } })
    })
  })
})

describe('request metrics', () => {
  it('counts by route template and status class; errors are 5xx and unexpected throws', async () => {
    const { svc, app } = setup()
    await withTestClient(svc, app, async (client) => {
      await client.get('/items/1')
      await client.get('/items/2')
      await client.get('/boom')
      await client.post('/signup', { json: {} })
      await client.drainBackground()
      expect(svc.metrics.snapshot()).toMatchObject({ requests: 4, errors: 1 })
      const text = await svc.metrics.prometheus()
      expect(text).toContain('afterwork_http_requests_total{method="GET",route="/items/:id",status_class="2xx"} 2')
      expect(text).toContain('afterwork_http_requests_total{method="POST",route="/signup",status_class="4xx"} 1')
      expect(text).toContain('afterwork_http_errors_total{method="GET",route="/boom",status_class="5xx"} 1')
      expect(text).not.toContain('/items/1')
    })
  })
})

describe('withTestClient', () => {
  it('rethrows background failures from drainBackground, and runs shutdown even when the block throws', async () => {
    const log: string[] = []
    const svc = createService({
      logger: silentLogger,
      lifespan: async function* res() {
        try { yield } finally { log.push('teardown') }
      },
    })
    const app = new Hono<AfterworkEnv<typeof svc>>()
    app.use(afterwork(svc))
    app.get('/', (c) => {
      c.var.background.add(async function failing() {
        throw new Error('task broke')
      })
      return c.text('ok')
    })
    const outcome = await withTestClient(svc, app, async (client) => {
      expect((await client.get('/')).status).toBe(200)
      await client.drainBackground()
    }).catch((e: unknown) => e)
    expect(outcome).toBeInstanceOf(AggregateError)
    expect((outcome as AggregateError).errors[0]).toMatchObject({ message: 'task broke' })
    expect(log).toEqual(['teardown'])
  })
})
