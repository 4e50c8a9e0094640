import type { StandardSchemaV1 } from '@standard-schema/spec'
import type { BackgroundTasks } from 'afterwork'
import { AfterworkError, type JobStatus } from 'afterwork'
import { ReportRequest, seedStatus } from './reports.js'
import { seedParts, type SeedService } from './service.js'
import { logSignup, sendWelcomeEmail, SignupRequest } from './signup.js'

/**
 * The reference service's endpoints, once, free of any web framework, and {@link routes}, the one
 * table of where they are mounted. Each framework's file (app.ts for Hono, fastify-app.ts,
 * express-app.ts, node-app.ts) mounts the whole table with its own idioms (its validate() for a
 * body, its error handler) and turns a {@link Reply} into its response. Adding an endpoint: one
 * function here and one line in the table. Errors are thrown (an unknown schedule throws
 * ERR_SCHEDULE_NOT_FOUND) and each adapter's error handler answers them in the same shape.
 */

/** An endpoint's answer: JSON by default, or text with `contentType`. */
export interface Reply {
  status: number
  body: unknown
  /** Set for a non-JSON body, which is then a string. */
  contentType?: string
}

/** What an endpoint reads from its request, whichever framework parsed and validated it. */
export interface Input<B = unknown> {
  /** The path parameters (`:name`). */
  params: Readonly<Record<string, string>>
  /** The body, already validated by the route's `validate(schema)`. */
  body: B
  /** This request's post-response tasks. */
  background: BackgroundTasks
}

export type Endpoint<B = unknown> = (svc: SeedService, input: Input<B>) => Reply | Promise<Reply>

const ok = (body: unknown, status = 200): Reply => ({ status, body })

/** POST /signup: creates the user; the welcome email and the signup log run after the response. */
export const signup: Endpoint<SignupRequest> = async (svc, { body, background }) => {
  const { users, mail, signups } = svc.state
  const userId = await users.create(body.email, body.name)
  // Both run after the response; if the email fails, the signup is still logged. With
  // EMAIL_DELIVERY=durable the email is a task instead, retried until the mail sink takes it.
  const parts = seedParts(svc)
  if (parts.emailDelivery === 'durable') await parts.welcomeEmail.enqueue({ email: body.email, name: body.name })
  else background.add(sendWelcomeEmail, mail, body.email, body.name)
  background.add(logSignup, svc.log, signups, userId, body.source)
  return ok({ user_id: userId, email: body.email }, 201)
}

/** GET /status: each dependency's health, 503 when one is down. */
export const status: Endpoint = async (svc) => {
  const health = await svc.health()
  const checks = Object.values(health.checks)
  return ok(Object.fromEntries(Object.entries(health.checks).map(([name, check]) => [name, check.status])), checks.every((c) => c.status === 'ok') ? 200 : 503)
}

/** GET /jobs: the guide's get_jobs (APScheduler), every schedule with its next run. */
export const listJobs: Endpoint = (svc) => ok(svc.schedules.list().map((s) => ({ id: s.name, ...s, next_run: s.nextRun?.local ?? null })))

/** POST /jobs/:name/run: 202 when a run started, 409 when one is still going (maxInstances). */
export const runJob: Endpoint = (svc, { params }) => {
  const name = params.name ?? ''
  const started = svc.schedules.runNow(name)
  return ok({ name, started, ...(started ? {} : { reason: 'a run is still going (maxInstances)' }) }, started ? 202 : 409)
}

/** POST /jobs/:name/pause */
export const pauseJob: Endpoint = (svc, { params }) => ok(svc.schedules.pause(params.name ?? ''))

/** POST /jobs/:name/resume */
export const resumeJob: Endpoint = (svc, { params }) => ok(svc.schedules.resume(params.name ?? ''))

/** GET /metrics: the seed's request and error counts. */
export const metrics: Endpoint = (svc) => ok(svc.metrics.snapshot())

/** GET /metrics/prometheus: every metric in Prometheus' text format. */
export const prometheus: Endpoint = async (svc) => ({ status: 200, body: await svc.metrics.prometheus(), contentType: svc.metrics.contentType })

/** GET /outbox: what the dev mail sink has "sent", so background work can be seen. */
export const outbox: Endpoint = (svc) => ok(svc.state.mail.outbox)

/** GET /health/live */
export const live: Endpoint = () => ok({ status: 'ok' })

/** GET /health/ready: 503 while starting or draining, when a dependency is down or a supervisor gave up. */
export const ready: Endpoint = async (svc) => {
  const health = await svc.health()
  return ok(health, health.status === 'ok' ? 200 : 503)
}

/** POST /reports/generate: starts a report in process, or as a durable task with `"durable": true`. */
export const generateReport: Endpoint<ReportRequest> = async (svc, { body }) => {
  const parts = seedParts(svc)
  if (body.durable) {
    const { id } = await parts.durableReport.enqueue(body)
    const status = (await parts.durableReport.get(id)) as JobStatus
    return ok({ job_id: id, status: seedStatus(status.state) }, 202)
  }
  const id = await parts.report.start(body)
  return ok({ job_id: id, status: seedStatus(parts.report.get(id)?.state ?? 'queued') }, 202)
}

/** Looks an id up in process first, then in the durable queue (an in-process id asked of another process is 404). */
async function findReport(svc: SeedService, id: string): Promise<{ status: JobStatus; durable: boolean }> {
  const parts = seedParts(svc)
  const local = parts.report.get(id)
  if (local) return { status: local, durable: false }
  const stored = await parts.durableReport.get(id)
  if (stored) return { status: stored, durable: true }
  throw new AfterworkError('ERR_JOB_NOT_FOUND', `No report has id "${id}"`)
}

/** GET /reports/:id/status: the guide's words (`status`) and the library's (`state`). */
export const reportStatus: Endpoint = async (svc, { params }) => {
  const { status } = await findReport(svc, params.id ?? '')
  return ok({
    job_id: status.id,
    status: seedStatus(status.state),
    state: status.state,
    progress: status.progress,
    ...(status.result === undefined ? {} : { result: status.result }),
    ...(status.error === undefined ? {} : { error: status.error.message }),
  })
}

/** DELETE /reports/:id: waits up to 2 s for the report to stop; 409 once finished (also when it finished meanwhile); 404 unknown. */
export const cancelReport: Endpoint = async (svc, { params }) => {
  const id = params.id ?? ''
  const { durable } = await findReport(svc, id)
  const parts = seedParts(svc)
  const outcome = durable ? await parts.durableReport.cancel(id) : parts.report.cancel(id)
  if (outcome === 'finished') return ok({ status: 'finished', error: 'the report already finished' }, 409)
  if (outcome === 'cancelled') return ok({ status: 'cancelled' })
  const final = durable ? await waitDurable(svc, id, 2_000) : await parts.report.wait(id, { timeout: '2s' })
  if (final.state === 'cancelled') return ok({ status: 'cancelled' })
  // A report that finished its work before it saw the signal keeps its outcome.
  if (final.state === 'succeeded' || final.state === 'failed') return ok({ status: 'finished', error: `the report ${final.state} before it stopped` }, 409)
  return ok({ status: 'cancelling' }, 202)
}

/** A durable job's cancel travels by heartbeat to whichever worker runs it: poll its state briefly. */
async function waitDurable(svc: SeedService, id: string, ms: number): Promise<JobStatus> {
  const parts = seedParts(svc)
  const until = svc.clock.now() + ms
  for (;;) {
    const status = (await parts.durableReport.get(id)) as JobStatus
    if (status.state !== 'cancelling' || svc.clock.now() >= until) return status
    await svc.clock.sleep(100)
  }
}

/** An endpoint at its method and path; `:name` parameters read the same in every framework. */
export interface Route {
  method: 'GET' | 'POST' | 'DELETE'
  path: string
  /** Typed for any body: {@link route} checks that the schema's output is the endpoint's body. */
  endpoint: Endpoint<never>
  /** The JSON body's schema, checked by the framework's own validate() before the endpoint runs. */
  schema?: StandardSchemaV1
}

function route<B>(method: Route['method'], path: string, endpoint: Endpoint<B>, schema?: StandardSchemaV1<unknown, B>): Route {
  return { method, path, endpoint, ...(schema ? { schema } : {}) }
}

/** Every endpoint of the reference service, as every adapter serves it. */
export const routes: readonly Route[] = [
  route('POST', '/signup', signup, SignupRequest),
  route('GET', '/status', status),
  route('GET', '/jobs', listJobs),
  route('POST', '/jobs/:name/run', runJob),
  route('POST', '/jobs/:name/pause', pauseJob),
  route('POST', '/jobs/:name/resume', resumeJob),
  route('GET', '/metrics', metrics),
  route('GET', '/metrics/prometheus', prometheus),
  route('GET', '/outbox', outbox),
  route('GET', '/health/live', live),
  route('GET', '/health/ready', ready),
  route('POST', '/reports/generate', generateReport, ReportRequest),
  route('GET', '/reports/:id/status', reportStatus),
  route('DELETE', '/reports/:id', cancelReport),
]
