import type { ServerResponse } from 'node:http'
import { readBody, withAfterwork } from 'afterwork/node'
import { routes } from './endpoints.js'
import type { SeedService } from './service.js'

/** The seed's endpoints (endpoints.ts) on a bare node:http listener, with a router of a few lines. */
export function createNodeListener(svc: SeedService) {
  // Each template (/jobs/:name/run) as a pattern with named groups; the template is also the
  // metrics' route label.
  const compiled = routes.map((r) => ({ ...r, pattern: new RegExp(`^${r.path.replace(/:(\w+)/g, '(?<$1>[^/]+)')}$`) }))
  return withAfterwork(svc, async (req, res, ctx) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname
    for (const { method, path: template, pattern, endpoint, schema } of compiled) {
      const match = method === req.method ? pattern.exec(path) : null
      if (!match) continue
      ctx.route = template
      const body = schema ? await readBody(req, schema) : undefined
      const reply = await endpoint(svc, { params: { ...match.groups }, body: body as never, background: ctx.background })
      send(res, reply.status, reply.contentType ?? 'application/json; charset=utf-8', reply.contentType ? String(reply.body) : JSON.stringify(reply.body))
      return
    }
    send(res, 404, 'application/json; charset=utf-8', JSON.stringify({ error: { code: 'ERR_NOT_FOUND', message: `No route for ${req.method} ${path}` } }))
  })
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType }).end(body)
}
