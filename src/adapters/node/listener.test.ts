import type { AddressInfo } from 'node:net'
import { createServer } from 'node:http'
import { describe, expect, it, onTestFinished } from 'vitest'
import { z } from 'zod'
import type { Logger } from '../../core/logger.js'
import { silentLogger } from '../../core/logger.js'
import { createService } from '../../service.js'
import { open, responsesClosed, send } from '../behaviour/http.js'
import { readBody, serve, withAfterwork, type NodeHandler } from './index.js'

const Item = z.object({ name: z.string() })

async function served(handler: NodeHandler<object>) {
  const errors: string[] = []
  const logger: Logger = { ...silentLogger, error: (_obj, msg) => void errors.push(msg ?? ''), child: () => logger }
  const svc = createService({ logger })
  const handle = await serve(svc, withAfterwork(svc, handler), { port: 0, signals: false })
  onTestFinished(() => handle.stop())
  return { svc, handle, errors }
}

describe('readBody', () => {
  const echo: NodeHandler<object> = async (req, res) => {
    const body = await readBody(req, Item, { limit: 64 })
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  }
  const post = (body: string, type = 'application/json') => ({ method: 'POST', body, headers: { 'content-type': type } })

  it('reads and validates a JSON body', async () => {
    const { handle } = await served(echo)
    expect(JSON.parse((await send(handle.url, post('{"name":"Ada","extra":1}'))).body)).toEqual({ name: 'Ada' })
    const invalid = await send(handle.url, post('{}'))
    expect(invalid.status).toBe(422)
    expect(JSON.parse(invalid.body)).toMatchObject({ error: { code: 'ERR_VALIDATION', issues: [{ path: 'name' }] } })
  })

  it('answers malformed JSON 400, a body over the limit 413 and a body that is not JSON 415', async () => {
    const { handle } = await served(echo)
    const statuses = await Promise.all([send(handle.url, post('{"name":')), send(handle.url, post(`{"name":"${'x'.repeat(100)}"}`)), send(handle.url, post('name=Ada', 'application/x-www-form-urlencoded'))])
    expect(statuses.map((r) => r.status)).toEqual([400, 413, 415])
    expect(statuses.map((r) => (JSON.parse(r.body) as { error: { code: string } }).error.code)).toEqual(['ERR_HTTP', 'ERR_HTTP', 'ERR_HTTP'])
  })
})

describe('withAfterwork', () => {
  it('cuts the response short and logs when the handler fails after the headers went out', async () => {
    const { handle, errors } = await served(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.write('partial')
      await new Promise((resolve) => setImmediate(resolve))
      throw new Error('late failure')
    })
    const res = await open(handle.url, '/', false)
    const aborted = new Promise<string>((resolve) => {
      res.on('aborted', () => resolve('aborted'))
      res.on('error', () => resolve('aborted'))
      res.on('end', () => resolve('ended'))
      res.resume()
    })
    expect(await aborted).toBe('aborted')
    expect(errors).toEqual(['request failed'])
  })

  it('counts a request under "(unmatched)" unless the handler names its route', async () => {
    const { svc, handle } = await served((req, res, ctx) => {
      if (req.url === '/named/1') ctx.route = '/named/:id'
      res.end('ok')
    })
    const closed = responsesClosed(handle.server, 2)
    await send(handle.url, { path: '/named/1' })
    await send(handle.url, { path: '/raw/path' })
    await closed
    const text = await svc.metrics.prometheus()
    expect(text).toContain('route="/named/:id"')
    expect(text).toContain('route="(unmatched)"')
    expect(text).not.toContain('/raw/path')
  })

  it('answers 503 when the handler reads ctx.state before the service started', async () => {
    const svc = createService({ logger: silentLogger })
    const server = createServer(withAfterwork(svc, (_req, res, ctx) => res.end(JSON.stringify(ctx.state))))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())))
    const res = await send(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
    expect(res.status).toBe(503)
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'ERR_SERVICE_NOT_STARTED' } })
  })
})
