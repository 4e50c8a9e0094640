import { Hono } from 'hono'
import { stream } from 'hono/streaming'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { runAdapterBehaviourSuite, SignupSchema } from '../behaviour/suite.js'
import { afterwork, afterworkErrors, serve, validate, type AfterworkEnv } from './index.js'

runAdapterBehaviourSuite('hono', async (svc, routes) => {
  const app = new Hono<AfterworkEnv<typeof svc>>()
  app.use(afterwork(svc))
  app.onError(afterworkErrors)
  app.get('/work', async (c) => c.json(await routes.work(c.var)))
  app.get('/stream', (c) => stream(c, async (s) => {
    for await (const chunk of routes.stream(c.var)) await s.write(chunk)
  }))
  app.post('/signup', validate(SignupSchema), (c) => c.json(routes.signup(c.var, c.req.valid('json')), 201))
  app.get('/items/:id', (c) => c.json(routes.item(c.req.param('id'))))
  app.get('/boom', () => routes.boom())
  app.get('/health/ready', async (c) => {
    const { status, body } = await routes.ready()
    return c.json(body, status as ContentfulStatusCode)
  })
  return serve(svc, app, { port: 0, signals: false })
})
