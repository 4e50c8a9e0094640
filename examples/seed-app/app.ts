import { afterwork, afterworkErrors, validate, type AfterworkEnv } from 'afterwork/hono'
import { Hono, type Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import * as endpoints from './endpoints.js'
import type { SeedService } from './service.js'
import { ReportRequest } from './reports.js'
import { SignupRequest } from './signup.js'

type SeedContext = Context<AfterworkEnv<SeedService>>

/** The seed's endpoints on Hono. */
export function createApp(svc: SeedService) {
  const app = new Hono<AfterworkEnv<SeedService>>()
  app.use(afterwork(svc))
  app.onError(afterworkErrors)
  const route = <B>(endpoint: endpoints.Endpoint<B>) => async (c: SeedContext) => {
    // valid('json') is the body a validate() earlier in the route checked, else undefined.
    const reply = await endpoint(svc, { params: c.req.param(), body: c.req.valid('json' as never) as B, background: c.var.background })
    const status = reply.status as ContentfulStatusCode
    return reply.contentType === undefined ? c.json(reply.body, status) : c.body(String(reply.body), status, { 'content-type': reply.contentType })
  }

  app.post('/signup', validate(SignupRequest), route(endpoints.signup))
  app.get('/status', route(endpoints.status))
  app.post('/reports/generate', validate(ReportRequest), route(endpoints.generateReport))
  app.get('/reports/:id/status', route(endpoints.reportStatus))
  app.delete('/reports/:id', route(endpoints.cancelReport))
  app.get('/jobs', route(endpoints.listJobs))
  app.post('/jobs/:name/run', route(endpoints.runJob))
  app.post('/jobs/:name/pause', route(endpoints.pauseJob))
  app.post('/jobs/:name/resume', route(endpoints.resumeJob))
  app.get('/metrics', route(endpoints.metrics))
  app.get('/metrics/prometheus', route(endpoints.prometheus))
  app.get('/outbox', route(endpoints.outbox))
  app.get('/health/live', route(endpoints.live))
  app.get('/health/ready', route(endpoints.ready))
  return app
}
