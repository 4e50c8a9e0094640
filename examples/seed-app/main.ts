import type { HttpHandle, ServeHttpOptions } from 'afterwork/node'
import svc from './service.js'

const port = Number(process.env.PORT ?? 8000)
const host = process.env.HOST ?? '127.0.0.1'
const opts: ServeHttpOptions = { port, host }

// ADAPTER picks the web framework; every one serves the same endpoints (endpoints.ts). Each is
// imported only when chosen, so only its framework loads.
const adapters: Record<string, () => Promise<HttpHandle>> = {
  async hono() {
    const [{ serve }, { createApp }] = await Promise.all([import('afterwork/hono'), import('./app.js')])
    return serve(svc, createApp(svc), opts)
  },
  async fastify() {
    const [{ serve }, { createFastifyApp }] = await Promise.all([import('afterwork/fastify'), import('./fastify-app.js')])
    return serve(svc, await createFastifyApp(svc), opts)
  },
  async express() {
    const [{ serve }, { createExpressApp }] = await Promise.all([import('afterwork/express'), import('./express-app.js')])
    return serve(svc, createExpressApp(svc), opts)
  },
  async node() {
    const [{ serve }, { createNodeListener }] = await Promise.all([import('afterwork/node'), import('./node-app.js')])
    return serve(svc, createNodeListener(svc), opts)
  },
}

const adapter = process.env.ADAPTER || 'hono'
const start = adapters[adapter]
if (start === undefined) {
  svc.log.error({ adapter }, `unknown ADAPTER "${adapter}"; use one of ${Object.keys(adapters).join(', ')}`)
  process.exitCode = 2
} else {
  try {
    svc.log.info({ adapter }, 'serving the reference service')
    await start()
  } catch (error) {
    svc.log.error({ err: error }, 'startup failed; exiting')
    // Like uvicorn's STARTUP_FAILURE: a supervisor can tell "could not start" from "crashed".
    process.exitCode = 3
  }
}
