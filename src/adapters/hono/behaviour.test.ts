import { Hono } from 'hono'
import { stream } from 'hono/streaming'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { AnyService } from '../../service.js'
import { runAdapterBehaviourSuite, SignupSchema, type SuiteContext, type SuiteRoutes } from '../behaviour/suite.js'
import { afterwork, afterworkErrors, serve, validate, type AfterworkEnv } from './index.js'

/** The suite's app, its handlers reading afterwork's three from `c.var` (the middleware) or `c.env` (serve() alone). */
function suiteApp(svc: AnyService, routes: SuiteRoutes, from: 'var' | 'env') {
  const app = new Hono<AfterworkEnv<typeof svc>>()
  if (from === 'var') app.use(afterwork(svc))
  app.onError(afterworkErrors)
  const ctx = (c: { var: SuiteContext; env: SuiteContext }): SuiteContext => c[from]
  app.get('/work', async (c) => c.json(await routes.work(ctx(c))))
  app.get('/stream', (c) => stream(c, async (s) => {
    for await (const chunk of routes.stream(ctx(c))) await s.write(chunk)
  }))
  app.post('/signup', validate(SignupSchema), (c) => c.json(routes.signup(ctx(c), c.req.valid('json')), 201))
  app.get('/items/:id', (c) => c.json(routes.item(c.req.param('id'))))
  app.get('/boom', () => routes.boom())
  app.get('/health/ready', async (c) => {
    const { status, body } = await routes.ready()
    return c.json(body, status as ContentfulStatusCode)
  })
  return app
}

runAdapterBehaviourSuite('hono', (svc, routes) => serve(svc, suiteApp(svc, routes, 'var'), { port: 0, signals: false }))
runAdapterBehaviourSuite('hono without the middleware (c.env)', (svc, routes) => serve(svc, suiteApp(svc, routes, 'env'), { port: 0, signals: false }))
