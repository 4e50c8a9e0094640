// scratch: instruction-count variants of the Hono middleware (not committed)
import { serve } from '@hono/node-server'
import { createService, silentLogger } from 'afterwork'
import { afterwork, afterworkErrors } from 'afterwork/hono'
import { Hono } from 'hono'
import { routePath } from 'hono/route'
import { requestIdFrom } from '../src/core/request-context.js'
import { attachScope, closeOnResponseClose, openRequestScope, requestIdHeader } from '../src/adapters/request-scope.js'

const [variant = 'mw', port = '0'] = process.argv.slice(2)
const flags = new Set(variant.split(','))
const svc = createService({ logger: silentLogger })
await svc.start()
const app = new Hono<any>()
if (flags.has('mw')) app.use(afterwork(svc))
else if (!flags.has('bare')) {
  app.use((c: any, next: any) => {
    const incoming = c.env?.incoming
    const outgoing = c.env?.outgoing
    const requestId = flags.has('noid') ? 'abc' : requestIdFrom(requestIdHeader(incoming))
    const scope = flags.has('noscope') ? undefined : openRequestScope(svc, requestId)
    if (scope && !flags.has('noattach')) attachScope(c, scope)
    if (!flags.has('noset')) { c.set('requestId', requestId); c.set('background', scope?.background); c.set('state', svc.state) }
    if (!flags.has('noecho')) outgoing.setHeader('x-request-id', requestId)
    if (!flags.has('noclose')) {
      if (flags.has('nometrics')) outgoing.on('close', () => scope?.background.start())
      else closeOnResponseClose(outgoing, scope!, c.req.method, () => routePath(c, -1))
    }
    return next()
  })
}
if (!flags.has('bare')) app.onError(afterworkErrors)
app.get('/', (c) => c.json({ hello: 'world' }))
serve({ fetch: app.fetch, port: Number(port), hostname: '127.0.0.1' }, (info) => {
  process.stdout.write(`${JSON.stringify({ port: info.port })}\n`)
})
