import { silentLogger } from 'afterwork'
import { ManualClock, memory, withTestClient } from 'afterwork/testing'
import { describe, expect, it } from 'vitest'
import { createApp } from '../examples/seed-app/app.js'
import { createSeedService, seedParts } from '../examples/seed-app/service.js'

const T0 = Date.parse('2026-11-30T00:00:00Z')

// Node 20 has Atomics.waitAsync; the ES2023 lib the project type-checks with does not declare it.
type WaitAsync = (a: Int32Array, index: number, value: number, timeout: number) => { async: boolean; value: Promise<string> | string }
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync
const waitFor = async (a: Int32Array, value: number, timeout: number) => waitAsync(a, 0, value, timeout).value

function setup(opts: { reportSeconds: number; counter?: Int32Array }) {
  const clock = new ManualClock(T0)
  const svc = createSeedService({
    logger: silentLogger,
    queue: memory(),
    clock,
    reportSeconds: opts.reportSeconds,
    ...(opts.counter ? { reportCounter: opts.counter } : {}),
  })
  return { svc, app: createApp(svc), clock }
}

/** Waits (on Atomics, not a timer) until the thread moves the counter past `value`. */
async function counterPasses(counter: Int32Array, value: number): Promise<void> {
  while (Atomics.load(counter, 0) <= value) await waitFor(counter, Atomics.load(counter, 0), 5_000)
}

describe('reference service reports (in process)', () => {
  it('POST /reports/generate answers 202, progress shows, and the status ends complete with the result', async () => {
    const { svc, app, clock } = setup({ reportSeconds: 0.1 })
    await withTestClient(svc, app, async (client) => {
      const started = await client.post('/reports/generate', { json: { region: 'emea' } })
      expect(started.status).toBe(202)
      const { job_id: id, status } = (await started.json()) as { job_id: string; status: string }
      expect(status).toBe('running')
      expect(await (await client.get(`/reports/${id}/status`)).json()).toMatchObject({ job_id: id, status: 'running', state: 'running', progress: { fraction: 0 } })
      await clock.advance(50) // the five waits of the "gathering data" half
      const done = await seedParts(svc).report.wait(id)
      expect(done.state).toBe('succeeded')
      const body = (await (await client.get(`/reports/${id}/status`)).json()) as { status: string; result: { digest: string; params: object } }
      expect(body).toMatchObject({ status: 'complete', state: 'succeeded', progress: { fraction: 1 } })
      expect(body.result.digest).toMatch(/^[0-9a-f]{64}$/)
      expect(body.result.params).toEqual({ region: 'emea' })
    })
  })

  it('answers 404 for an unknown report, for status and for DELETE', async () => {
    const { svc, app } = setup({ reportSeconds: 1 })
    await withTestClient(svc, app, async (client) => {
      expect((await client.get('/reports/nope/status')).status).toBe(404)
      const res = await client.delete('/reports/nope')
      expect(res.status).toBe(404)
      expect(await res.json()).toMatchObject({ error: { code: 'ERR_JOB_NOT_FOUND' } })
    })
  })

  it('DELETE stops a report whose offloaded part ignores cancellation: the thread is destroyed, the counter stops, a second DELETE is 409', async () => {
    const counter = new Int32Array(new SharedArrayBuffer(4))
    const { svc, app, clock } = setup({ reportSeconds: 60, counter })
    await withTestClient(svc, app, async (client) => {
      const { job_id: id } = (await (await client.post('/reports/generate', { json: { cooperative: false } })).json()) as { job_id: string }
      await clock.advance('30s') // past the waiting half: the CPU half runs in a thread
      await counterPasses(counter, 2)
      const deleting = client.delete(`/reports/${id}`)
      // The pool's cancel grace (1 s) runs on the service clock: then the thread is terminated.
      await clock.advance('1s')
      const res = await deleting
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ status: 'cancelled' })
      expect(seedParts(svc).report.get(id)?.state).toBe('cancelled')
      const frozen = Atomics.load(counter, 0)
      expect(await waitFor(counter, frozen, 200)).toBe('timed-out')
      expect(Atomics.load(counter, 0)).toBe(frozen)
      expect(svc.offload.stats).toMatchObject({ cancelled: 1, terminated: 1 })
      const again = await client.delete(`/reports/${id}`)
      expect(again.status).toBe(409)
    })
  })

  it('DELETE of a report that checks its signal answers cancelled within the 2 s wait', async () => {
    const { svc, app, clock } = setup({ reportSeconds: 60 })
    await withTestClient(svc, app, async (client) => {
      const { job_id: id } = (await (await client.post('/reports/generate', { json: {} })).json()) as { job_id: string }
      await clock.advance('10s')
      const res = await client.delete(`/reports/${id}`)
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ status: 'cancelled' })
      expect(await (await client.get(`/reports/${id}/status`)).json()).toMatchObject({ status: 'cancelled', state: 'cancelled' })
      expect(svc.offload.stats.terminated).toBe(0)
    })
  })

  it('runs a durable report through the queue with the same handler, status and cancel endpoints', async () => {
    const { svc, app, clock } = setup({ reportSeconds: 60 })
    await withTestClient(svc, app, async (client) => {
      const res = await client.post('/reports/generate', { json: { durable: true, region: 'apac' } })
      expect(res.status).toBe(202)
      const { job_id: id } = (await res.json()) as { job_id: string }
      await clock.advance(0)
      expect(await (await client.get(`/reports/${id}/status`)).json()).toMatchObject({ job_id: id, status: 'running', state: 'running' })
      const deleting = client.delete(`/reports/${id}`)
      await clock.advance('2s') // the worker's heartbeat (lease/3) carries the cancel to the handler
      const cancelled = await deleting
      expect(cancelled.status).toBe(200)
      expect(await (await client.get(`/reports/${id}/status`)).json()).toMatchObject({ status: 'cancelled', state: 'cancelled' })
    })
  })
})
