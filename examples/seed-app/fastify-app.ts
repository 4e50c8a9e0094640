import { afterwork, validate } from 'afterwork/fastify'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import { routes, type Endpoint } from './endpoints.js'
import type { SeedService } from './service.js'

/** The seed's endpoints (endpoints.ts) on Fastify. */
export async function createFastifyApp(svc: SeedService) {
  const app = Fastify()
  await app.register(afterwork(svc))
  const handler = (endpoint: Endpoint<never>) => async (request: FastifyRequest, reply: FastifyReply) => {
    const params = request.params as Record<string, string>
    const answer = await endpoint(svc, { params, body: request.body as never, background: request.background })
    return reply.code(answer.status).type(answer.contentType ?? 'application/json; charset=utf-8').send(answer.body)
  }
  for (const { method, path, endpoint, schema } of routes) {
    app.route({ method, url: path, ...(schema ? validate(schema) : {}), handler: handler(endpoint) })
  }
  return app
}
