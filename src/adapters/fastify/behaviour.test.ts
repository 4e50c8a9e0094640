import { Readable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import type { AnyService } from '../../service.js'
import { runAdapterBehaviourSuite, SignupSchema, type SuiteRoutes } from '../behaviour/suite.js'
import { afterwork, serve, validate } from './index.js'

async function build(svc: AnyService, routes: SuiteRoutes): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(afterwork(svc))
  app.get('/work', (request) => routes.work(request))
  app.get('/stream', (request, reply) => reply.type('text/plain').send(Readable.from(routes.stream(request))))
  app.post('/signup', validate(SignupSchema), async (request, reply) => reply.code(201).send(routes.signup(request, request.body)))
  app.get('/items/:id', async (request) => routes.item((request.params as { id: string }).id))
  app.get('/boom', async () => routes.boom())
  app.get('/health/ready', async (_request, reply) => {
    const { status, body } = await routes.ready()
    return reply.code(status).send(body)
  })
  return app
}

runAdapterBehaviourSuite('fastify, run by serve()', async (svc, routes) => serve(svc, await build(svc, routes), { port: 0, signals: false }))

// The plugin alone, as close-with-grace runs it: listen(), then close() on a signal.
runAdapterBehaviourSuite('fastify, run by listen() and close()', async (svc, routes) => {
  const app = await build(svc, routes)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  return { url: `http://127.0.0.1:${port}`, port, server: app.server, stop: () => app.close() }
})
