import { describe, expect, it } from 'vitest'
import { tryConnect } from '../src/adapters/behaviour/http.js'
import { freePort, spawnServer, waitForLine } from './process.js'

const redisUrl = process.env.AFTERWORK_TEST_REDIS_URL

async function startSeedApp(extra: Record<string, string> = {}) {
  const port = await freePort()
  // `npm start`, exactly as the README says: npm must hand SIGTERM to the server it execs.
  return spawnServer('npm', ['start', '--silent'], { PORT: String(port), HOST: '127.0.0.1', ...extra })
}

describe('reference service as a process (npm start)', () => {
  // The same endpoints on every adapter (ADAPTER picks it; Hono when unset).
  it.each(['hono', 'fastify', 'express', 'node'])('on %s: accepts a signup, sends the email after the response, and exits 0 on SIGTERM within 10 s', async (adapter) => {
    const app = await startSeedApp({ ADAPTER: adapter })
    expect(app.lines.some((l) => l.includes('"msg":"serving the reference service"') && l.includes(`"adapter":"${adapter}"`))).toBe(true)
    const res = await fetch(`${app.url}/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'ada@example.com', name: 'Ada' }),
    })
    expect(res.status).toBe(201)
    expect(await res.json()).toEqual({ user_id: 42, email: 'ada@example.com' })
    await waitForLine(app, /"msg":"signup logged"/)
    const outbox = (await (await fetch(`${app.url}/outbox`)).json()) as { to: string }[]
    expect(outbox.map((m) => m.to)).toEqual(['ada@example.com'])

    const invalid = await fetch(`${app.url}/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Ada' }),
    })
    expect(invalid.status).toBe(422)
    expect(((await invalid.json()) as { error: { issues: { path: string }[] } }).error.issues[0]?.path).toBe('email')
    expect((await fetch(`${app.url}/jobs/nope/pause`, { method: 'POST' })).status).toBe(404)
    expect((await fetch(`${app.url}/jobs/dailyDigest/pause`, { method: 'POST' })).status).toBe(200)
    expect((await fetch(`${app.url}/health/ready`)).status).toBe(200)

    const began = performance.now()
    app.child.kill('SIGTERM')
    expect(await app.exited).toBe(0)
    expect(performance.now() - began).toBeLessThan(10_000)
    expect(app.lines.some((l) => l.includes('"msg":"service stopped"'))).toBe(true)
  })

  it('exits with code 3 and listens on nothing when a lifespan cannot start', async () => {
    const port = await freePort()
    const outcome = await spawnServer('npm', ['start', '--silent'], {
      PORT: String(port),
      REDIS_URL: 'redis://127.0.0.1:1',
    }).catch((e: Error) => e)
    expect(outcome).toBeInstanceOf(Error)
    expect((outcome as Error).message).toMatch(/server exited \(3\) before listening/)
    expect((outcome as Error).message).toContain('Lifespan \\"cache\\" failed to start')
    expect(await tryConnect(port)).toBe('ECONNREFUSED')
  })

  it.skipIf(!redisUrl)('uses Redis for its cache when REDIS_URL is set', async () => {
    const app = await startSeedApp({ REDIS_URL: redisUrl as string })
    const status = await fetch(`${app.url}/status`)
    expect(status.status).toBe(200)
    expect(await status.json()).toEqual({ http: 'ok', cache: 'ok' })
    app.child.kill('SIGTERM')
    expect(await app.exited).toBe(0)
  })

  it('exits at once on a second signal while a request hangs', async () => {
    const port = await freePort()
    const server = await spawnServer(process.execPath, ['--conditions=afterwork-source', '--import', 'tsx', 'test/fixtures/hung-server.ts'], { PORT: String(port) })
    const hanging = fetch(`${server.url}/hang`).catch(() => 'reset')
    await waitForLine(server, /"msg":"request received"/)
    server.child.kill('SIGTERM')
    await waitForLine(server, /"msg":"shutting down: draining HTTP"/)
    server.child.kill('SIGTERM')
    expect(await server.exited).toBe(1)
    expect(await hanging).toBe('reset')
    expect(server.lines.some((l) => l.includes('second signal'))).toBe(true)
  })
})
