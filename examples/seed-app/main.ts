import { serve } from 'afterwork/hono'
import { createApp } from './app.js'
import svc from './service.js'

const port = Number(process.env.PORT ?? 8000)
const host = process.env.HOST ?? '127.0.0.1'

try {
  await serve(svc, createApp(svc), { port, host })
} catch (error) {
  svc.log.error({ err: error }, 'startup failed; exiting')
  // Like uvicorn's STARTUP_FAILURE: a supervisor can tell "could not start" from "crashed".
  process.exitCode = 3
}
