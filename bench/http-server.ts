/**
 * One server for bench/http-overhead.ts: `http-server.ts <bare|floor|mw|task> <port> [hono|hono-mw|fastify|express|node]`.
 *
 * The three configurations differ only in what the HTTP path does, so the CPU per request of `mw`
 * and `task` against `bare` is the cost afterwork adds to that framework. All three share the same
 * routes (`GET /` and `GET /__ran`) so the router does the same work. Port 0 picks a free port; the
 * server prints one JSON line `{"port": n}` on stdout once it listens, which the bench waits for.
 * The framework defaults to Hono. `hono` is afterwork's Hono integration as the README shows it:
 * served by afterwork's `serve()`, handlers reading `c.env`, no middleware; `hono-mw` adds the
 * `afterwork(svc)` middleware and reads `c.var`. Express's `mw` and `task` are served by afterwork's
 * Express `serve()` too, as the README shows, with `afterwork(svc)` in the app.
 */
import { createServer, type RequestListener, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pathToFileURL } from 'node:url'
import { createAdaptorServer, serve } from '@hono/node-server'
import { servedFetch } from '../src/adapters/hono/bindings.js'
import { createService, silentLogger, type AnyService } from 'afterwork'
import { afterwork, afterworkErrors, serve as serveWithAfterwork, type AfterworkEnv } from 'afterwork/hono'
import { Hono } from 'hono'

// Importing this module starts nothing: main() runs only when it is the entry script.
// floor: the framework with one empty middleware (or hook): what any middleware costs before afterwork does anything.
const configs = ['bare', 'floor', 'mw', 'task'] as const
export type Config = (typeof configs)[number]
const frameworks = ['hono', 'hono-mw', 'fastify', 'express', 'node'] as const
export type Framework = (typeof frameworks)[number]
const isFramework = (name: string): name is Framework => (frameworks as readonly string[]).includes(name)

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

function parseArgs(argv: string[]): { config: Config; port: number; framework: Framework } {
  const [config, port = '0', framework = 'hono'] = argv
  if (!configs.includes(config as Config) || !isFramework(framework)) {
    throw new Error(`usage: http-server.ts <${configs.join('|')}> <port> [${frameworks.join('|')}]`)
  }
  return { config: config as Config, port: Number(port), framework }
}

function bareApp(withEmptyMiddleware: boolean): Hono {
  const app = new Hono()
  if (withEmptyMiddleware) {
    app.use(async (_c, next) => {
      await next()
    })
  }
  app.get('/', (c) => c.json({ hello: 'world' }))
  app.get('/__ran', (c) => c.json({ scheduled, ran, pending: 0, failed: 0 } satisfies RanReport))
  return app
}

function afterworkApp(svc: AnyService, withTask: boolean, withMiddleware: boolean): Hono<AfterworkEnv<ReturnType<typeof createService>>> {
  const app = new Hono<AfterworkEnv<typeof svc>>()
  if (withMiddleware) app.use(afterwork(svc))
  app.onError(afterworkErrors)
  app.get('/', (c) => {
    if (withTask) {
      ;(withMiddleware ? c.var : c.env).background.add(noopTask)
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

/** The task counts of `svc`, or of no service in `bare`. */
function ranReport(svc: AnyService | undefined): RanReport {
  const { pending, failed } = svc?.background.stats ?? { pending: 0, failed: 0 }
  return { scheduled, ran, pending, failed }
}

/** Tasks scheduled and run so far, for bench/http-adapter-cpu.ts's check that every one ran. */
export function taskCounts(): { scheduled: number; ran: number } {
  return { scheduled, ran }
}

/**
 * Adds the `task` configuration's background task. Takes the getter's owner, not the list: reading
 * `background` makes the request's list, which `mw` must not pay for.
 */
function addTask(owner: { readonly background: { add(fn: () => Promise<void>): void } } | undefined, withTask: boolean): void {
  if (!owner || !withTask) return
  owner.background.add(noopTask)
  scheduled++
}

async function startedService(config: Config): Promise<AnyService | undefined> {
  if (config === 'bare' || config === 'floor') return undefined
  const svc = createService({ logger: silentLogger })
  await svc.start()
  return svc
}

/**
 * The Hono app of `config` as afterwork's serve() (or, bare, @hono/node-server) serves it, not
 * listening, for bench/http-adapter-cpu.ts; `withMiddleware` is the `hono-mw` variant.
 */
export async function honoServer(config: Config, withMiddleware = false): Promise<Server> {
  const svc = await startedService(config)
  const fetch = svc ? servedFetch(svc, afterworkApp(svc, config === 'task', withMiddleware)) : bareApp(config === 'floor').fetch
  return createAdaptorServer({ fetch: fetch as never }) as Server
}

// The other frameworks load only in their own runs, so Hono's server process stays as it was.
export async function fastifyServer(config: Config): Promise<Server> {
  const [{ default: Fastify }, awFastify] = await Promise.all([import('fastify'), import('afterwork/fastify')])
  const svc = await startedService(config)
  const app = Fastify()
  if (svc) await app.register(awFastify.afterwork(svc))
  if (config === 'floor') app.addHook('onRequest', (_request, _reply, done) => done())
  app.get('/', async (request) => {
    addTask(request, config === 'task')
    return { hello: 'world' }
  })
  app.get('/__ran', async () => ranReport(svc))
  await app.ready()
  return app.server
}

/**
 * Express's server for bench/http-adapter-cpu.ts: bare and floor on a plain `http.Server`; mw and
 * task as the README serves them, by afterwork's `serve()` (on a free port nobody connects to), so
 * the requests handed to it go through the same listener as over the network, which opens their
 * afterwork scope before Express sees them.
 */
export async function expressServer(config: Config): Promise<Server> {
  if (config === 'bare' || config === 'floor') return createServer(await expressApp(config, undefined))
  return (await servedExpress(config, 0)).server
}

/** Express with afterwork as the README serves it: afterwork's `serve()`, which opens each request's scope. */
async function servedExpress(config: Config, port: number): Promise<{ server: Server; port: number }> {
  const svc = createService({ logger: silentLogger })
  const { serve: serveExpress } = await import('afterwork/express')
  return serveExpress(svc, await expressApp(config, svc), { port, host: '127.0.0.1' })
}

async function expressApp(config: Config, svc: AnyService | undefined): Promise<RequestListener> {
  const [{ default: express }, awExpress] = await Promise.all([import('express'), import('afterwork/express')])
  const app = express()
  if (svc) app.use(awExpress.afterwork(svc))
  if (config === 'floor') app.use((_req, _res, next) => next())
  app.get('/', (req, res) => {
    addTask(req, config === 'task')
    res.json({ hello: 'world' })
  })
  app.get('/__ran', (_req, res) => void res.json(ranReport(svc)))
  if (svc) app.use(awExpress.afterworkErrors)
  return app
}

export async function nodeServer(config: Config): Promise<Server> {
  const { withAfterwork } = await import('afterwork/node')
  const svc = await startedService(config)
  const json = (res: ServerResponse, body: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  const bare: RequestListener = (req, res) => json(res, req.url === '/__ran' ? ranReport(svc) : { hello: 'world' })
  // A bare listener has no middleware; its floor is one wrapping function call.
  if (config === 'floor') return createServer((req, res) => bare(req, res))
  if (!svc) return createServer(bare)
  const listener: RequestListener = withAfterwork(svc, (req, res, ctx) => {
    ctx.route = req.url === '/__ran' ? '/__ran' : '/'
    if (ctx.route === '/') addTask(ctx, config === 'task')
    json(res, ctx.route === '/__ran' ? ranReport(svc) : { hello: 'world' })
  })
  return createServer(listener)
}

/** The one line the bench waits for: the port the server listens on. */
function announce(port: number): void {
  process.stdout.write(`${JSON.stringify({ port })}\n`)
}

function listen(server: Server, port: number): void {
  server.listen(port, '127.0.0.1', () => announce((server.address() as AddressInfo).port))
}

async function main(): Promise<void> {
  const { config, port, framework } = parseArgs(process.argv.slice(2))
  if (framework === 'fastify') return listen(await fastifyServer(config), port)
  if (framework === 'express' && (config === 'mw' || config === 'task')) return announce((await servedExpress(config, port)).port)
  if (framework === 'express') return listen(await expressServer(config), port)
  if (framework === 'node') return listen(await nodeServer(config), port)
  if (config === 'mw' || config === 'task') {
    // As a user serves it: afterwork's serve(), with its graceful shutdown.
    const svc = createService({ logger: silentLogger })
    const app = afterworkApp(svc, config === 'task', framework === 'hono-mw')
    return announce((await serveWithAfterwork(svc, app, { port, host: '127.0.0.1' })).port)
  }
  const app = bareApp(config === 'floor')
  serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, (info) => announce(info.port))
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main()
