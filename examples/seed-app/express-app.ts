import { afterwork, afterworkErrors, validate } from 'afterwork/express'
import express, { type Request, type RequestHandler, type Response } from 'express'
import { routes, type Endpoint } from './endpoints.js'
import type { SeedService } from './service.js'

/** The seed's endpoints (endpoints.ts) on Express. */
export function createExpressApp(svc: SeedService) {
  const app = express()
  app.use(afterwork(svc))
  app.use(express.json())
  const handler = (endpoint: Endpoint<never>) => async (req: Request, res: Response) => {
    const reply = await endpoint(svc, { params: req.params as Record<string, string>, body: req.body as never, background: req.background })
    if (reply.contentType === undefined) res.status(reply.status).json(reply.body)
    else res.status(reply.status).type(reply.contentType).send(reply.body)
  }
  for (const { method, path, endpoint, schema } of routes) {
    const handlers: RequestHandler[] = schema ? [validate(schema) as RequestHandler, handler(endpoint)] : [handler(endpoint)]
    app[method === 'GET' ? 'get' : method === 'POST' ? 'post' : 'delete'](path, ...handlers)
  }
  app.use(afterworkErrors)
  return app
}
