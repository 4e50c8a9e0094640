import { Hono } from 'hono'
import { afterEach, describe, expect, it } from 'vitest'
import { silentLogger } from '../../core/logger.js'
import { createService } from '../../service.js'
import { countdown, keepAliveAgent, latch, open, send, tryConnect, turn } from '../behaviour/http.js'
import { afterwork, afterworkErrors, serve, type AfterworkEnv, type HttpHandle } from './index.js'

const handles: HttpHandle[] = []
afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.stop()))
})

async function setup<S extends ReturnType<typeof createService>>(svc: S, build: (app: Hono<AfterworkEnv<S>>) => void) {
  const app = new Hono<AfterworkEnv<S>>()
  app.use(afterwork(svc))
  app.onError(afterworkErrors)
  build(app)
  const handle = await serve(svc, app, { port: 0, signals: false })
  handles.push(handle)
  return handle
}

describe('post-response tasks on a real socket', () => {
  it('start only after the last chunk is sent, and do not hold up the next request on the connection', async () => {
    const svc = createService({ logger: silentLogger })
    const lastChunk = latch()
    const taskGate = latch()
    const started = latch()
    const handle = await setup(svc, (app) => {
      app.get('/stream', (c) => {
        c.var.background.add(async () => {
          started.open()
          await taskGate.wait()
        })
        const body = new ReadableStream<Uint8Array>({
          async start(controller) {
            controller.enqueue(new TextEncoder().encode('first;'))
            await lastChunk.wait()
            controller.enqueue(new TextEncoder().encode('last'))
            controller.close()
          },
        })
        return c.body(body)
      })
      app.get('/ping', (c) => c.text('pong'))
    })
    const agent = keepAliveAgent()
    const res = await open(handle.url, '/stream', agent)
    const firstPort = res.socket.localPort
    const chunks: string[] = []
    res.setEncoding('utf8')
    const first = new Promise<void>((resolve) => res.once('data', (c: string) => (chunks.push(c), resolve())))
    await first
    for (let i = 0; i < 10; i++) await turn()
    expect(started.isOpen).toBe(false)

    const ended = new Promise<void>((resolve) => {
      res.on('data', (c: string) => chunks.push(c))
      res.on('end', resolve)
    })
    lastChunk.open()
    await ended
    expect(chunks.join('')).toBe('first;last')
    await started.wait()

    // The task is still blocked: the same keep-alive connection answers the next request anyway.
    const second = await send(handle.url, { path: '/ping', agent })
    expect(second).toMatchObject({ status: 200, body: 'pong', localPort: firstPort })
    expect(taskGate.isOpen).toBe(false)
    taskGate.open()
    await svc.background.idle()
    agent.destroy()
  })
})

describe('graceful shutdown', () => {
  it('lets 50 in-flight handlers finish, runs every task once, then tears down the lifespan', async () => {
    const log: string[] = []
    const svc = createService({
      logger: silentLogger,
      lifespan: async function* resource() {
        try { yield } finally { log.push('teardown') }
      },
    })
    const gate = latch()
    const arrived = countdown(50)
    const handle = await setup(svc, (app) => {
      app.get('/work/:i', async (c) => {
        const i = c.req.param('i')
        c.var.background.add(async () => {
          await turn()
          log.push(`task ${i}`)
        })
        arrived.arrive()
        await gate.wait()
        c.var.background.add(() => void log.push(`after ${i}`))
        return c.json({ i })
      })
    })
    const responses = Array.from({ length: 50 }, (_, i) => send(handle.url, { path: `/work/${i}` }))
    await arrived.done

    let stopped = false
    const stopping = handle.stop().then(() => (stopped = true))
    expect(await tryConnect(handle.port)).toBe('ECONNREFUSED')
    expect(svc.readiness).toBe('draining')
    for (let i = 0; i < 10; i++) await turn()
    expect(stopped).toBe(false)

    gate.open()
    const results = await Promise.all(responses)
    await stopping
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(200))
    expect(results.every((r) => r.headers.connection === 'close')).toBe(true)
    const taskLines = log.filter((l) => l !== 'teardown')
    expect(taskLines).toHaveLength(100)
    expect(new Set(taskLines).size).toBe(100)
    expect(log.at(-1)).toBe('teardown')
    expect(log.indexOf('teardown')).toBe(100)
  })

  it('answers an in-flight keep-alive request with Connection: close and stops within the deadline', async () => {
    const svc = createService({ logger: silentLogger, shutdown: { http: '5s' } })
    const gate = latch()
    const inHandler = latch()
    const handle = await setup(svc, (app) => {
      app.get('/fast', (c) => c.text('ok'))
      app.get('/slow', async (c) => {
        inHandler.open()
        await gate.wait()
        return c.text('done')
      })
    })
    const agent = keepAliveAgent()
    const first = await send(handle.url, { path: '/fast', agent })
    expect(first.headers.connection).toBe('keep-alive')
    const slow = send(handle.url, { path: '/slow', agent })
    await inHandler.wait()
    const began = performance.now()
    const stopping = handle.stop()
    gate.open()
    const answer = await slow
    expect(answer).toMatchObject({ status: 200, body: 'done', localPort: first.localPort })
    expect(answer.headers.connection).toBe('close')
    await stopping
    expect(performance.now() - began).toBeLessThan(5_000)
    agent.destroy()
  })

  it('closes an idle keep-alive connection at once instead of waiting for the client', async () => {
    const svc = createService({ logger: silentLogger, shutdown: { http: '30s' } })
    const handle = await setup(svc, (app) => app.get('/', (c) => c.text('ok')))
    const agent = keepAliveAgent()
    const first = await send(handle.url, { agent })
    expect(first.headers.connection).toBe('keep-alive')
    const began = performance.now()
    await handle.stop()
    // Far below the 30 s drain deadline: the idle socket did not hold the shutdown.
    expect(performance.now() - began).toBeLessThan(5_000)
    agent.destroy()
  })
})
