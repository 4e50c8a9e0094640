import { silentLogger } from 'afterwork'
import { ManualClock, memory, withTestClient } from 'afterwork/testing'
import { describe, expect, it } from 'vitest'
import { createApp } from '../examples/seed-app/app.js'
import { createSeedService } from '../examples/seed-app/service.js'

function setup(config: { mailFailFirst?: number; clock?: ManualClock } = {}) {
  const svc = createSeedService({ logger: silentLogger, queue: memory(), ...config })
  return { svc, app: createApp(svc) }
}

const ada = { email: 'ada@example.com', name: 'Ada' }

describe('reference service (in-process)', () => {
  it('POST /signup answers 201, then emails and logs the signup in the background', async () => {
    const { svc, app } = setup()
    await withTestClient(svc, app, async (client) => {
      const res = await client.post('/signup', { json: { ...ada, source: 'ads' }, headers: { 'x-request-id': 'signup-1' } })
      expect(res.status).toBe(201)
      expect(await res.json()).toEqual({ user_id: 42, email: 'ada@example.com' })
      await client.drainBackground()
      const outbox = (await (await client.get('/outbox')).json()) as { to: string; requestId: string }[]
      expect(outbox).toEqual([expect.objectContaining({ to: 'ada@example.com', subject: 'Welcome!', requestId: 'signup-1' })])
      expect(svc.state.signups).toEqual([{ userId: 42, source: 'ads', requestId: 'signup-1' }])
    })
  })

  it('POST /signup without an email answers 422 naming email, and sends nothing', async () => {
    const { svc, app } = setup()
    await withTestClient(svc, app, async (client) => {
      const res = await client.post('/signup', { json: { name: 'Ada' } })
      expect(res.status).toBe(422)
      const body = (await res.json()) as { error: { code: string; issues: { path: string }[] } }
      expect(body.error.code).toBe('ERR_VALIDATION')
      expect(body.error.issues.map((i) => i.path)).toEqual(['email'])
      await client.drainBackground()
      expect(await (await client.get('/outbox')).json()).toEqual([])
    })
  })

  it('still logs the signup when the welcome email fails (the seed loses it)', async () => {
    const { svc, app } = setup({ mailFailFirst: 1 })
    await withTestClient(
      svc,
      app,
      async (client) => {
        expect((await client.post('/signup', { json: ada })).status).toBe(201)
        await client.drainBackground()
        expect(svc.state.signups).toHaveLength(1)
        expect(svc.metrics.snapshot().background).toMatchObject({ failed: 1, succeeded: 1 })
      },
      { raiseBackgroundErrors: false },
    )
  })

  it('GET /status, /health/live and /health/ready report the dependencies', async () => {
    const { svc, app } = setup()
    await withTestClient(svc, app, async (client) => {
      expect(await (await client.get('/status')).json()).toEqual({ http: 'ok', cache: 'ok' })
      expect((await client.get('/health/live')).status).toBe(200)
      const ready = await client.get('/health/ready')
      expect(ready.status).toBe(200)
      expect(await ready.json()).toMatchObject({ status: 'ok', readiness: 'ready' })
    })
  })

  it('GET /metrics counts requests and errors; /metrics/prometheus serves the same as text', async () => {
    const { svc, app } = setup()
    await withTestClient(svc, app, async (client) => {
      await client.post('/signup', { json: ada })
      await client.post('/signup', { json: {} })
      const metrics = (await (await client.get('/metrics')).json()) as { requests: number; errors: number }
      // The /metrics request itself is counted when it closes, after its body was built.
      expect(metrics).toMatchObject({ requests: 2, errors: 0 })
      const prom = await client.get('/metrics/prometheus')
      expect(prom.headers.get('content-type')).toContain('text/plain')
      const text = await prom.text()
      expect(text).toContain('afterwork_http_requests_total{method="POST",route="/signup",status_class="2xx"} 1')
      expect(text).toContain('process_cpu_user_seconds_total')
    })
  })
})

describe('reference service schedules', () => {
  it('GET /jobs lists the guide\'s three periodic and three cron jobs with their next run', async () => {
    const clock = new ManualClock(Date.parse('2026-11-30T00:00:00Z')) // a Monday
    const { svc, app } = setup({ clock })
    await withTestClient(svc, app, async (client) => {
      const jobs = (await (await client.get('/jobs')).json()) as { id: string; trigger: string; next_run: string; nextRun: { utc: string } }[]
      const byName = Object.fromEntries(jobs.map((j) => [j.id, j]))
      expect(Object.keys(byName).sort()).toEqual(
        ['aggregateAnalytics', 'cleanupExpiredSessions', 'dailyDigest', 'hourlyCleanup', 'refreshExchangeRates', 'weeklyReport'],
      )
      expect(byName.cleanupExpiredSessions?.nextRun.utc).toBe('2026-11-30T00:05:00.000Z')
      expect(byName.refreshExchangeRates?.nextRun.utc).toBe('2026-11-30T01:00:00.000Z')
      expect(byName.dailyDigest?.next_run).toBe('2026-11-30T09:00:00+05:30')
      expect(byName.hourlyCleanup?.next_run).toBe('2026-11-30T06:00:00+05:30')
      expect(byName.weeklyReport?.next_run).toBe('2026-11-30T08:00:00+05:30')
    })
  })

  it('POST /jobs/{name}/run, /pause and /resume control a schedule; an unknown name is 404', async () => {
    const clock = new ManualClock(Date.parse('2026-11-30T00:00:00Z'))
    const { svc, app } = setup({ clock })
    await withTestClient(svc, app, async (client) => {
      expect((await client.post('/jobs/refreshExchangeRates/run')).status).toBe(202)
      await clock.advance(0)
      expect(await svc.state.cache.get('exchange_rates')).toContain('"INR"')
      expect(await (await client.post('/jobs/dailyDigest/pause')).json()).toMatchObject({ paused: true, nextRun: null })
      expect(await (await client.post('/jobs/dailyDigest/resume')).json()).toMatchObject({ paused: false })
      const missing = await client.post('/jobs/nope/run')
      expect(missing.status).toBe(404)
      expect(await missing.json()).toMatchObject({ error: { code: 'ERR_SCHEDULE_NOT_FOUND' } })
    })
  })

  it('runs the cache warmer under the supervisor and shows it in /health/ready', async () => {
    const clock = new ManualClock(Date.parse('2026-11-30T00:00:00Z'))
    const { svc, app } = setup({ clock })
    await withTestClient(svc, app, async (client) => {
      await clock.advance(0)
      expect(await svc.state.cache.get('warm')).toBe('2026-11-30T00:00:00.000Z')
      const ready = (await (await client.get('/health/ready')).json()) as { supervisors: { children: { name: string; state: string }[] }[] }
      expect(ready.supervisors[0]?.children).toEqual([expect.objectContaining({ name: 'cache-warmer', state: 'running', restarts: 0 })])
    })
  })
})
