/**
 * One server for bench/http-overhead.ts: `http-server.ts <bare|mw|task> <port>`.
 *
 * The three configurations differ only in what the HTTP path does, so the CPU per request of `mw`
 * and `task` against `bare` is the cost afterwork adds. All three share the same routes (`GET /`
 * and `GET /__ran`) so the router does the same work. Port 0 picks a free port; the server prints
 * one JSON line `{"port": n}` on stdout once it listens, which the bench waits for.
 */
import { serve } from '@hono/node-server'
import { createService, silentLogger } from 'afterwork'
import { afterwork, afterworkErrors, type AfterworkEnv } from 'afterwork/hono'
import { Hono } from 'hono'

// Only types are exported: importing a value would start a server in the importing process.
const configs = ['bare', 'mw', 'task'] as const
export type Config = (typeof configs)[number]

/** What `GET /__ran` answers: the bench checks that every scheduled task ran. */
export interface RanReport {
  scheduled: number
  ran: number
  /** From the service's own stats; both 0 in `bare`. */
  pending: number
  failed: number
}

let scheduled = 0
let ran = 0

/** The background task of the `task` configuration: as cheap as a task can be, so the overhead shows. */
async function noopTask(): Promise<void> {
  ran++
}

function parseArgs(argv: string[]): { config: Config; port: number } {
  const [config, port = '0'] = argv
  if (!configs.includes(config as Config)) throw new Error(`usage: http-server.ts <${configs.join('|')}> <port>`)
  return { config: config as Config, port: Number(port) }
}

function bareApp(): Hono {
  const app = new Hono()
  app.get('/', (c) => c.json({ hello: 'world' }))
  app.get('/__ran', (c) => c.json({ scheduled, ran, pending: 0, failed: 0 } satisfies RanReport))
  return app
}

async function afterworkApp(withTask: boolean): Promise<Hono<AfterworkEnv<ReturnType<typeof createService>>>> {
  const svc = createService({ logger: silentLogger })
  await svc.start()
  const app = new Hono<AfterworkEnv<typeof svc>>()
  app.use(afterwork(svc))
  app.onError(afterworkErrors)
  app.get('/', (c) => {
    if (withTask) {
      c.var.background.add(noopTask)
      scheduled++
    }
    return c.json({ hello: 'world' })
  })
  app.get('/__ran', (c) => {
    const { pending, failed } = svc.background.stats
    return c.json({ scheduled, ran, pending, failed } satisfies RanReport)
  })
  return app
}

async function main(): Promise<void> {
  const { config, port } = parseArgs(process.argv.slice(2))
  const app = config === 'bare' ? bareApp() : await afterworkApp(config === 'task')
  serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, (info) => {
    process.stdout.write(`${JSON.stringify({ port: info.port })}\n`)
  })
}

await main()
