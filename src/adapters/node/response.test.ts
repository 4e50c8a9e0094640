import { createServer, get, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it, onTestFinished } from 'vitest'
import { AfterworkResponse, echoRequestId } from './response.js'

/** Serves one handler with AfterworkResponse (or Node's own class) and returns the raw response headers of one GET as [name, value] pairs. */
async function rawHeaders(handler: (res: ServerResponse) => void, opts: { plainResponse?: boolean } = {}): Promise<[string, string][]> {
  const server = opts.plainResponse ? createServer((_req, res) => handler(res)) : createServer({ ServerResponse: AfterworkResponse }, (_req, res) => handler(res))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const { port } = server.address() as AddressInfo
  return new Promise((resolve, reject) => {
    get({ port, host: '127.0.0.1', path: '/', agent: false }, (res) => {
      const pairs: [string, string][] = []
      for (let i = 0; i < res.rawHeaders.length; i += 2) pairs.push([res.rawHeaders[i] as string, res.rawHeaders[i + 1] as string])
      res.resume()
      res.on('end', () => resolve(pairs))
    }).on('error', reject)
  })
}

const requestIds = (pairs: [string, string][]) => pairs.filter(([name]) => name.toLowerCase() === 'x-request-id').map(([, value]) => value)

describe('AfterworkResponse', () => {
  it('adds the request id to the headers writeHead is given, leaving the caller’s object as it was', async () => {
    const given = { 'content-type': 'text/plain' }
    const pairs = await rawHeaders((res) => {
      echoRequestId(res, 'req-1')
      res.writeHead(200, given).end('ok')
    })
    expect(requestIds(pairs)).toEqual(['req-1'])
    expect(pairs).toContainEqual(['content-type', 'text/plain'])
    expect(given).toEqual({ 'content-type': 'text/plain' })
  })

  it('echoes with writeHead(status, message, headers), writeHead(status) and implicit headers', async () => {
    const withMessage = await rawHeaders((res) => {
      echoRequestId(res, 'req-2')
      res.writeHead(201, 'Made', { 'content-type': 'text/plain' }).end()
    })
    const statusOnly = await rawHeaders((res) => {
      echoRequestId(res, 'req-3')
      res.writeHead(204).end()
    })
    const implicit = await rawHeaders((res) => {
      echoRequestId(res, 'req-4')
      res.setHeader('content-type', 'text/plain')
      res.end('ok')
    })
    expect([withMessage, statusOnly, implicit].map(requestIds)).toEqual([['req-2'], ['req-3'], ['req-4']])
  })

  it('lets a request id the handler sets win, in any casing and any form, without a second header', async () => {
    const inObject = await rawHeaders((res) => {
      echoRequestId(res, 'ours')
      res.writeHead(200, { 'X-Request-Id': 'theirs' }).end()
    })
    const bySetHeader = await rawHeaders((res) => {
      echoRequestId(res, 'ours')
      res.setHeader('X-REQUEST-ID', 'theirs')
      res.end()
    })
    const rawPairs = await rawHeaders((res) => {
      echoRequestId(res, 'ours')
      res.writeHead(200, ['x-request-id', 'theirs', 'content-type', 'text/plain']).end()
    })
    expect([inObject, bySetHeader, rawPairs].map(requestIds)).toEqual([['theirs'], ['theirs'], ['theirs']])
  })

  it('echoes through setHeader on a response of another class', async () => {
    const pairs = await rawHeaders(
      (res) => {
        echoRequestId(res, 'req-5')
        res.writeHead(200, { 'content-type': 'text/plain' }).end()
      },
      { plainResponse: true },
    )
    expect(requestIds(pairs)).toEqual(['req-5'])
  })
})
