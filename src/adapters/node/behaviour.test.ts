import type { ServerResponse } from 'node:http'
import { runAdapterBehaviourSuite, SignupSchema, writeChunks } from '../behaviour/suite.js'
import { readBody, serve, withAfterwork } from './index.js'

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

runAdapterBehaviourSuite('node:http', async (svc, routes) => {
  const listener = withAfterwork(svc, async (req, res, ctx) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname
    const item = /^\/items\/([^/]+)$/.exec(path)
    ctx.route = item ? '/items/:id' : path
    switch (`${req.method} ${ctx.route}`) {
      case 'GET /work':
        return sendJson(res, 200, await routes.work(ctx))
      case 'GET /stream':
        return writeChunks(res, routes.stream(ctx))
      case 'POST /signup':
        return sendJson(res, 201, routes.signup(ctx, await readBody(req, SignupSchema)))
      case 'GET /items/:id':
        return sendJson(res, 200, routes.item(item?.[1] ?? ''))
      case 'GET /boom':
        return routes.boom()
      case 'GET /health/ready': {
        const { status, body } = await routes.ready()
        return sendJson(res, status, body)
      }
      default:
        ctx.route = '(unmatched)'
        return sendJson(res, 404, { error: { code: 'ERR_NOT_FOUND', message: 'Not Found' } })
    }
  })
  return serve(svc, listener, { port: 0, signals: false })
})
