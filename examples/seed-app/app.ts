import { afterwork, afterworkErrors, validate, type AfterworkEnv } from 'afterwork/hono'
import { Hono } from 'hono'
import type { SeedService } from './service.js'
import { SignupRequest, logSignup, sendWelcomeEmail } from './signup.js'

/** The seed's endpoints on Hono. */
export function createApp(svc: SeedService) {
  const app = new Hono<AfterworkEnv<SeedService>>()
  app.use(afterwork(svc))
  app.onError(afterworkErrors)

  app.post('/signup', validate(SignupRequest), async (c) => {
    const req = c.req.valid('json')
    const { users, mail, signups } = c.var.state
    const userId = await users.create(req.email, req.name)
    // Both run after the response; if the email fails, the signup is still logged.
    c.var.background.add(sendWelcomeEmail, mail, req.email, req.name)
    c.var.background.add(logSignup, svc.log, signups, userId, req.source)
    return c.json({ user_id: userId, email: req.email }, 201)
  })

  app.get('/status', async (c) => {
    const health = await svc.health()
    const body = Object.fromEntries(Object.entries(health.checks).map(([name, check]) => [name, check.status]))
    return c.json(body, Object.values(health.checks).every((check) => check.status === 'ok') ? 200 : 503)
  })

  // The guide's GET /jobs (APScheduler's get_jobs), with each schedule's next run.
  app.get('/jobs', (c) =>
    c.json(svc.schedules.list().map((s) => ({ id: s.name, ...s, next_run: s.nextRun?.local ?? null }))),
  )
  app.post('/jobs/:name/run', (c) => {
    const name = c.req.param('name')
    const started = svc.schedules.runNow(name)
    return c.json({ name, started, ...(started ? {} : { reason: 'a run is still going (maxInstances)' }) }, started ? 202 : 409)
  })
  app.post('/jobs/:name/pause', (c) => c.json(svc.schedules.pause(c.req.param('name'))))
  app.post('/jobs/:name/resume', (c) => c.json(svc.schedules.resume(c.req.param('name'))))

  app.get('/metrics', (c) => c.json(svc.metrics.snapshot()))
  app.get('/metrics/prometheus', async (c) => c.body(await svc.metrics.prometheus(), 200, { 'content-type': svc.metrics.contentType }))
  app.get('/outbox', (c) => c.json(c.var.state.mail.outbox))
  app.get('/health/live', (c) => c.json({ status: 'ok' }))
  app.get('/health/ready', async (c) => {
    const health = await svc.health()
    return c.json(health, health.status === 'ok' ? 200 : 503)
  })
  return app
}
