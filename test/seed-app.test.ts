import { silentLogger } from 'afterwork'
import { withTestClient } from 'afterwork/testing'
import { describe, expect, it } from 'vitest'
import { createApp } from '../examples/seed-app/app.js'
import { createSeedService } from '../examples/seed-app/service.js'

function setup(config: { mailFailFirst?: number } = {}) {
  const svc = createSeedService({ logger: silentLogger, ...config })
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
