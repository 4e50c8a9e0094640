import { createServer, IncomingMessage, request, ServerResponse, type OutgoingHttpHeaders } from 'node:http'
import { Socket, type AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { silentLogger } from '../core/logger.js'
import { createService } from '../service.js'
import { attachScope, carryScope, closeOnResponseClose, echoRequestId, RequestScope, requestIdHeader, scopeOf } from './request-scope.js'

// Each path answers in one of the ways a framework or a handler writes its headers.
const shared: OutgoingHttpHeaders = { 'content-type': 'text/plain' }
const answers: Record<string, (res: ServerResponse) => void> = {
  '/object': (res) => res.writeHead(200, { 'content-type': 'text/plain', 'x-other': '1' }).end('ok'),
  '/reason': (res) => res.writeHead(201, 'Made It', { 'x-other': '1' }).end('ok'),
  '/flat': (res) => res.writeHead(200, ['x-other', '1', 'x-other', '2']).end('ok'),
  '/none': (res) => res.writeHead(204).end(),
  '/implicit': (res) => res.end('ok'),
  '/set-then-object': (res) => {
    res.setHeader('x-set', 'yes')
    res.writeHead(200, { 'x-other': '1' }).end('ok')
  },
  '/multi': (res) => res.writeHead(200, { 'set-cookie': ['a=1', 'b=2'] }).end('ok'),
  '/shared': (res) => res.writeHead(200, shared).end('ok'),
  '/own-set': (res) => {
    res.setHeader('X-Request-Id', 'mine')
    res.end('ok')
  },
  '/own-object': (res) => res.writeHead(200, { 'X-Request-Id': 'mine' }).end('ok'),
  '/own-flat': (res) => res.writeHead(200, ['X-REQUEST-ID', 'mine']).end('ok'),
}

let base = ''
const server = createServer((req, res) => {
  echoRequestId(res, 'req-42')
  ;(answers[req.url ?? ''] ?? ((r: ServerResponse) => r.writeHead(404).end()))(res)
})
beforeAll(() => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve())))
beforeAll(() => {
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

interface Answer {
  status: number
  reason: string
  raw: string[]
}

function get(path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    request(`${base}${path}`, { agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reason: res.statusMessage ?? '', raw: res.rawHeaders }))
    })
      .on('error', reject)
      .end()
  })
}

function headerValues(raw: string[], name: string): string[] {
  const found: string[] = []
  for (let i = 0; i < raw.length; i += 2) if (raw[i]?.toLowerCase() === name) found.push(raw[i + 1] as string)
  return found
}

describe('echoRequestId', () => {
  it.each(['/object', '/reason', '/flat', '/none', '/implicit', '/set-then-object', '/multi', '/shared'])('sends the id once, beside the headers of %s', async (path) => {
    const { raw } = await get(path)
    expect(headerValues(raw, 'x-request-id')).toEqual(['req-42'])
  })

  it('keeps every header and the reason phrase the response was written with', async () => {
    expect(headerValues((await get('/object')).raw, 'x-other')).toEqual(['1'])
    expect(await get('/reason')).toMatchObject({ status: 201, reason: 'Made It' })
    expect(headerValues((await get('/flat')).raw, 'x-other')).toEqual(['1', '2'])
    expect(headerValues((await get('/set-then-object')).raw, 'x-set')).toEqual(['yes'])
    expect(headerValues((await get('/multi')).raw, 'set-cookie')).toEqual(['a=1', 'b=2'])
  })

  it('never changes the header object it is handed', async () => {
    await get('/shared')
    expect(shared).toEqual({ 'content-type': 'text/plain' })
  })

  it.each(['/own-set', '/own-object', '/own-flat'])('leaves an id the app set itself (%s) as the only one', async (path) => {
    expect(headerValues((await get(path)).raw, 'x-request-id')).toEqual(['mine'])
  })


  it('leaves writeHead alone, so a wrapper installed earlier still runs and sees the headers it was handed', () => {
    const res = new ServerResponse(new IncomingMessage(new Socket()))
    const seen: unknown[] = []
    const original = res.writeHead
    res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
      seen.push(args)
      return (original as (...a: unknown[]) => ServerResponse).apply(this, args)
    } as ServerResponse['writeHead']
    echoRequestId(res, 'req-7')
    res.writeHead(200, { 'x-other': '1' })
    expect(seen).toEqual([[200, { 'x-other': '1' }]])
    expect(headerLines(res)).toEqual(['x-request-id: req-7', 'x-other: 1'])
  })

  it("goes through writeHead when something else replaced the response's _storeHeader, which still runs", () => {
    const res = new ServerResponse(new IncomingMessage(new Socket())) as ServerResponse & { _storeHeader(line: string, headers: unknown): void }
    const own = res._storeHeader
    const stored: unknown[] = []
    res._storeHeader = function (this: typeof res, line: string, headers: unknown) {
      stored.push(headers)
      own.call(this, line, headers)
    }
    echoRequestId(res, 'req-9')
    res.writeHead(200, { 'x-other': '1' })
    expect(stored).toEqual([['x-other', '1', 'x-request-id', 'req-9']])
    expect(headerLines(res)).toEqual(['x-other: 1', 'x-request-id: req-9'])
  })

  it('echoes the last id once when installed twice on one response (an app and its sub-app)', () => {
    const res = new ServerResponse(new IncomingMessage(new Socket()))
    echoRequestId(res, 'req-outer')
    echoRequestId(res, 'req-inner')
    res.writeHead(200, { 'x-other': '1' })
    expect(headerLines(res)).toEqual(['x-request-id: req-inner', 'x-other: 1'])
  })

  it('keeps the headers of writeHead(status, undefined, headers)', () => {
    const res = new ServerResponse(new IncomingMessage(new Socket()))
    echoRequestId(res, 'req-8')
    ;(res.writeHead as (...args: unknown[]) => ServerResponse)(200, undefined, { 'x-app': 'yes' })
    expect(headerLines(res)).toEqual(['x-request-id: req-8', 'x-app: yes'])
  })
})

/** The header lines a response wrote (its status line left out). */
function headerLines(res: ServerResponse): string[] {
  const written = (res as ServerResponse & { _header: string })._header
  return written.split('\r\n').slice(1).filter((line) => line !== '' && !/^(date|connection|transfer-encoding|keep-alive):/i.test(line))
}

describe('RequestScope', () => {
  it('makes the task list only when a handler asks for it, and starts it when the scope closes', async () => {
    const svc = createService({ logger: silentLogger })
    await svc.start()
    const made = vi.spyOn(svc, 'createBackgroundTasks')
    new RequestScope(svc, 'quiet').close('GET', '/', 200)
    expect(made).not.toHaveBeenCalled()
    const scope = new RequestScope(svc, 'busy')
    const ran: string[] = []
    scope.background.add(() => void ran.push('task'))
    expect(scope.background).toBe(scope.background)
    expect(made).toHaveBeenCalledTimes(1)
    // Every microtask a started task would have needed has run by the next macrotask.
    await new Promise((resolve) => setImmediate(resolve))
    expect(ran).toEqual([])
    scope.close('GET', '/', 200)
    await svc.background.idle()
    expect(ran).toEqual(['task'])
    await svc.stop()
  })

  it('runs a task added after the scope closed, when the list was first asked for then', async () => {
    const svc = createService({ logger: silentLogger })
    await svc.start()
    const scope = new RequestScope(svc, 'late')
    scope.close('GET', '/', 200)
    const ran: string[] = []
    scope.background.add(() => void ran.push('late task'))
    await svc.background.idle()
    expect(ran).toEqual(['late task'])
    expect(svc.background.stats.pending).toBe(0)
    await svc.stop()
  })
})

describe('requestIdHeader', () => {
  function withRaw(rawHeaders: string[]): IncomingMessage {
    const req = new IncomingMessage(new Socket())
    req.rawHeaders = rawHeaders
    return req
  }

  it('finds x-request-id in any case among headers of the same length, and nothing that only looks like it', () => {
    expect(requestIdHeader(withRaw(['Content-Type', 'text/plain', 'X-Request-ID', 'one', 'x-request-id', 'two']))).toBe('one')
    expect(requestIdHeader(withRaw(['x-REQUEST-id', 'three']))).toBe('three')
    // A carriage return (0x0d) differs from '-' (0x2d) only by the bit that tells upper from lower case letters.
    for (const name of ['x\rrequest\rid', 'x_request-id', 'x-request-ie', 'Content-Type']) {
      expect(requestIdHeader(withRaw([name, 'no']))).toBeUndefined()
    }
  })
})

describe('closeOnResponseClose', () => {
  /** A scope that names its route the way an adapter's does: from what the handler set, read at close. */
  class RoutedScope extends RequestScope {
    route = '(unmatched)'
    override routeLabel(): string {
      return this.route
    }
  }

  function response(method: string): ServerResponse {
    const req = new IncomingMessage(new Socket())
    req.method = method
    return new ServerResponse(req)
  }

  it("counts the request when the response closes, under the route named by then, and starts its tasks from the 'close' listener", async () => {
    const svc = createService({ logger: silentLogger })
    await svc.start()
    const counted = vi.spyOn(svc.metrics, 'recordRequest')
    const res = response('POST')
    const scope = new RoutedScope(svc, 'req-1')
    closeOnResponseClose(res, scope)
    const ran: string[] = []
    scope.background.add(() => void ran.push('task'))
    scope.route = '/signup'
    res.statusCode = 201
    expect(counted).not.toHaveBeenCalled()
    res.emit('close')
    expect(counted).toHaveBeenCalledWith('POST', '/signup', 201, false)
    await svc.background.idle()
    expect(ran).toEqual(['task'])
    await svc.stop()
  })

  it('adds one listener shared by every response, and no closure per request', () => {
    const svc = createService({ logger: silentLogger })
    const [a, b] = [response('GET'), response('GET')]
    closeOnResponseClose(a, new RequestScope(svc, 'a'))
    closeOnResponseClose(b, new RequestScope(svc, 'b'))
    expect(a.listeners('close')).toHaveLength(1)
    expect(a.listeners('close')[0]).toBe(b.listeners('close')[0])
  })

  it('closes both scopes of a response afterwork scoped twice (an app and its sub-app), each once', async () => {
    const svc = createService({ logger: silentLogger })
    await svc.start()
    const counted = vi.spyOn(svc.metrics, 'recordRequest')
    const res = response('GET')
    const ran: string[] = []
    for (const id of ['outer', 'inner']) {
      const scope = new RequestScope(svc, id)
      closeOnResponseClose(res, scope)
      scope.background.add(() => void ran.push(id))
    }
    res.emit('close')
    await svc.background.idle()
    expect(ran.sort()).toEqual(['inner', 'outer'])
    expect(counted).toHaveBeenCalledTimes(2)
    await svc.stop()
  })
})

describe('attachScope', () => {
  const svc = createService({ logger: silentLogger })

  it('keeps the scope in the property a request already carries, after its prototype was swapped as Express swaps it', () => {
    const req = new IncomingMessage(new Socket())
    carryScope(req, new RequestScope(svc, 'req-before-express'))
    Object.setPrototypeOf(req, Object.create(IncomingMessage.prototype))
    const scope = new RequestScope(svc, 'req-inside-express')
    attachScope(req, scope)
    expect(Object.getOwnPropertySymbols(req).map(String)).toContain('Symbol(afterwork.scope)')
    expect(scopeOf(req)).toBe(scope)
  })

  it('keeps the scope beside a request that carries none, without changing its shape', () => {
    const req = new IncomingMessage(new Socket())
    const scope = new RequestScope(svc, 'req-plain')
    attachScope(req, scope)
    expect(Object.getOwnPropertySymbols(req).map(String)).not.toContain('Symbol(afterwork.scope)')
    expect(scopeOf(req)).toBe(scope)
  })
})
