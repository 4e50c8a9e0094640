import { afterworkErrors, validate, type AfterworkEnv } from 'afterwork/hono'
import { Hono, type Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { routes, type Endpoint } from './endpoints.js'
import type { SeedService } from './service.js'

/**
 * The seed's endpoints (endpoints.ts) on Hono. No middleware: afterwork's serve() and the test client
 * hand every request its background tasks, state and request id in `c.env`.
 */
export function createApp(svc: SeedService) {
  const app = new Hono<AfterworkEnv<SeedService>>()
  app.onError(afterworkErrors)
  const handler = (endpoint: Endpoint<never>) => async (c: Context<AfterworkEnv<SeedService>>) => {
    // valid('json') is the body the route's validate() checked, else undefined.
    const body = c.req.valid('json' as never) as never
    const reply = await endpoint(svc, { params: c.req.param(), body, background: c.env.background })
    const status = reply.status as ContentfulStatusCode
    return reply.contentType === undefined ? c.json(reply.body, status) : c.body(String(reply.body), status, { 'content-type': reply.contentType })
  }
  for (const { method, path, endpoint, schema } of routes) {
    if (schema) app.on(method, path, validate(schema), handler(endpoint))
    else app.on(method, path, handler(endpoint))
  }
  return app
}
