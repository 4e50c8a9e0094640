import { Hono } from 'hono'
import { describe, expect, it, onTestFinished } from 'vitest'
import { silentLogger } from '../../core/logger.js'
import { currentRequestId } from '../../core/request-context.js'
import { createService } from '../../service.js'
import { withTestClient } from '../../testing/test-client.js'
import { responsesClosed, send } from '../behaviour/http.js'
import { afterwork, afterworkErrors, serve, type AfterworkEnv } from './index.js'
import { matchedRoute } from './matched-route.js'

function service() {
  return createService({
    logger: silentLogger,
    background: { requestContext: true },
    lifespan: async function* store() {
      yield { sent: [] as string[] }
    },
  })
}

type StoreService = ReturnType<typeof service>

/** An app that uses afterwork through `c.env` alone, with no middleware. */
function appWithoutMiddleware() {
  const app = new Hono<AfterworkEnv<StoreService>>()
  app.onError(afterworkErrors)
  app.get('/items/:id', (c) => {
    c.env.background.add((id: string) => void c.env.state.sent.push(`${id} ${currentRequestId()}`), c.req.param('id'))
    return c.json({ id: c.req.param('id'), requestId: c.env.requestId })
  })
  return app
}

describe('serve() without the middleware', () => {
  it('hands handlers c.env.background, c.env.state and c.env.requestId, echoes the id and counts the matched route, HEAD under its GET route', async () => {
    const svc = service()
    const handle = await serve(svc, appWithoutMiddleware(), { port: 0, signals: false })
    onTestFinished(() => handle.stop())
    const closed = responsesClosed(handle.server, 3)
    const res = await send(handle.url, { path: '/items/7', headers: { 'x-request-id': 'req-7' } })
    expect(res.status).toBe(200)
    expect(res.headers['x-request-id']).toBe('req-7')
    expect(JSON.parse(res.body)).toEqual({ id: '7', requestId: 'req-7' })
    expect((await send(handle.url, { path: '/items/8', method: 'HEAD' })).status).toBe(200)
    expect((await send(handle.url, { path: '/nowhere' })).status).toBe(404)
    await closed
    await svc.background.idle()
    expect(svc.state.sent[0]).toBe('7 req-7')
    expect(svc.state.sent).toHaveLength(2)
    const text = await svc.metrics.prometheus()
    expect(text).toContain('afterwork_http_requests_total{method="GET",route="/items/:id",status_class="2xx"} 1')
    expect(text).toContain('afterwork_http_requests_total{method="HEAD",route="/items/:id",status_class="2xx"} 1')
    expect(text).toContain('afterwork_http_requests_total{method="GET",route="(unmatched)",status_class="4xx"} 1')
    expect(text).not.toContain('/items/7')
  })

  it('counts a request once when the app also uses the middleware, which takes the scope serve() opened', async () => {
    const svc = service()
    const app = new Hono<AfterworkEnv<typeof svc>>()
    app.use(afterwork(svc))
    app.get('/', (c) => c.json({ same: c.var.requestId === c.env.requestId && c.var.background === c.env.background }))
    const handle = await serve(svc, app, { port: 0, signals: false })
    onTestFinished(() => handle.stop())
    const closed = responsesClosed(handle.server, 1)
    const res = await send(handle.url, { path: '/' })
    expect(JSON.parse(res.body)).toEqual({ same: true })
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
    await closed
    expect(await svc.metrics.prometheus()).toContain('afterwork_http_requests_total{method="GET",route="/",status_class="2xx"} 1\n')
  })
})

describe('serve() given a wrapper around the app', () => {
  it('labels the route the middleware saw when the wrapper passes env on', async () => {
    const svc = service()
    const app = new Hono<AfterworkEnv<typeof svc>>()
    app.use(afterwork(svc))
    app.get('/items/:id', (c) => c.text(c.req.param('id')))
    const handle = await serve(svc, { fetch: app.fetch }, { port: 0, signals: false })
    onTestFinished(() => handle.stop())
    const closed = responsesClosed(handle.server, 1)
    expect((await send(handle.url, { path: '/items/5' })).status).toBe(200)
    await closed
    const text = await svc.metrics.prometheus()
    expect(text).toContain('afterwork_http_requests_total{method="GET",route="/items/:id",status_class="2xx"} 1\n')
    expect(text).not.toContain('(unmatched)')
  })
})

describe('the test client', () => {
  it('hands an app without the middleware the same c.env, echoes the id, and counts the route', async () => {
    const svc = service()
    await withTestClient(svc, appWithoutMiddleware(), async (client) => {
      const res = await client.get('/items/3', { headers: { 'x-request-id': 'req-3' } })
      expect(res.headers.get('x-request-id')).toBe('req-3')
      expect(await res.json()).toEqual({ id: '3', requestId: 'req-3' })
      await client.drainBackground()
      expect(svc.state.sent).toEqual(['3 req-3'])
      expect(await svc.metrics.prometheus()).toContain('afterwork_http_requests_total{method="GET",route="/items/:id",status_class="2xx"} 1')
    })
  })

  it('serves any fetch app: the id echoed even on immutable headers, Response.error() as it is, a throw rethrown, tasks run, nothing counted for an app with no Hono router', async () => {
    const svc = service()
    const ran: string[] = []
    const app = {
      fetch(request: Request, env: { background: { add(fn: () => void): void } }) {
        const path = new URL(request.url).pathname
        env.background.add(() => void ran.push(path))
        if (path === '/away') return Response.redirect('http://test/elsewhere', 302)
        if (path === '/error') return Response.error()
        throw new Error('no app here')
      },
    }
    await withTestClient(svc, app, async (client) => {
      const res = await client.get('/away', { headers: { 'x-request-id': 'req-r' } })
      expect(res.status).toBe(302)
      expect(res.headers.get('x-request-id')).toBe('req-r')
      expect((await client.get('/error')).type).toBe('error')
      await expect(client.get('/broken')).rejects.toThrow('no app here')
      await client.drainBackground()
      expect(ran).toEqual(['/away', '/error', '/broken'])
      // Such an app (a bridge to another framework, say) may count its requests itself.
      expect(await svc.metrics.prometheus()).not.toContain('afterwork_http_requests_total{')
    })
  })

  it('takes the first of repeated x-request-id headers, as serve() does', async () => {
    const svc = service()
    await withTestClient(svc, appWithoutMiddleware(), async (client) => {
      const headers = new Headers([['x-request-id', 'req-1'], ['x-request-id', 'req-2']])
      expect((await client.get('/items/1', { headers })).headers.get('x-request-id')).toBe('req-1')
    })
  })
})

describe('matchedRoute', () => {
  const request = (path: string, method = 'GET') => new Request(`http://test${path}`, { method })

  it('names the last handler matched, with mounted sub-apps and base paths', () => {
    const api = new Hono()
    api.get('/items/:id', (c) => c.text('item'))
    const app = new Hono()
    app.use(async (_c, next) => next())
    app.route('/api', api)
    app.basePath('/v2').get('/users/:name', (c) => c.text('user'))
    expect(matchedRoute(app, request('/api/items/1'), {})).toBe('/api/items/:id')
    expect(matchedRoute(app, request('/v2/users/ada'), {})).toBe('/v2/users/:name')
    // Only the middleware matched: the route Hono's routePath(c, -1) names too.
    expect(matchedRoute(app, request('/missing'), {})).toBe('/*')
    expect(matchedRoute(app, request('/api/items/1', 'POST'), {})).toBe('/*')
  })

  it('is (unmatched) when nothing matched, and undefined when the app has no Hono router', () => {
    const app = new Hono()
    app.get('/', (c) => c.text('root'))
    expect(matchedRoute(app, request('/missing'), {})).toBe('(unmatched)')
    expect(matchedRoute({ fetch: () => new Response('ok') }, request('/'), {})).toBeUndefined()
  })
})

describe('the middleware without a host', () => {
  it('runs the request scope itself under app.request(): the id is echoed, tasks run and the request is counted', async () => {
    const svc = service()
    const app = new Hono<AfterworkEnv<typeof svc>>()
    app.use(afterwork(svc))
    app.get('/', (c) => {
      c.var.background.add(() => void c.var.state.sent.push(`task ${currentRequestId()}`))
      return c.text('ok')
    })
    await svc.start()
    onTestFinished(() => svc.stop())
    const res = await app.request('/', { headers: { 'x-request-id': 'req-solo' } })
    expect(res.headers.get('x-request-id')).toBe('req-solo')
    await svc.background.idle()
    expect(svc.state.sent).toEqual(['task req-solo'])
    expect(await svc.metrics.prometheus()).toContain('afterwork_http_requests_total{method="GET",route="/",status_class="2xx"} 1')
  })
})
