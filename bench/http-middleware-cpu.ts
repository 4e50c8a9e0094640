/**
 * The CPU afterwork's Hono middleware adds to one request, without the network: each request is a
 * Hono `app.fetch()` handed fresh Node request and response objects, as @hono/node-server hands
 * them, whose headers are then written and whose `close` is emitted. A deterministic companion to
 * bench/http-overhead.ts, whose CPU-per-request figures move more between runs on a shared machine
 * than the differences measured here.
 *
 *   node --conditions=afterwork-source --import tsx bench/http-middleware-cpu.ts [--runs 7] [--n 100000]
 *
 * Configurations: `floor` (one empty async middleware, as in http-overhead), `mw` (afterwork's
 * middleware) and `task` (plus one no-op background task per request). Prints ns per request, the
 * median of the runs, and mw - floor and task - floor.
 */
import { IncomingMessage, ServerResponse } from 'node:http'
import { Socket } from 'node:net'
import { parseArgs } from 'node:util'
import { median } from './harness.js'
import { getRequestListener } from '@hono/node-server'
import { Hono } from 'hono'
import { createService, silentLogger } from 'afterwork'
import { afterwork, type AfterworkEnv } from 'afterwork/hono'

const { values } = parseArgs({ options: { runs: { type: 'string', default: '7' }, n: { type: 'string', default: '100000' } } })
const runs = Number(values.runs)
const n = Number(values.n)

// As in a served app: @hono/node-server swaps in its lightweight Request and Response when it makes a listener.
getRequestListener(() => new Response(null))

const svc = createService({ logger: silentLogger })
await svc.start()
let ran = 0
async function noopTask(): Promise<void> {
  ran++
}

const floor = new Hono()
floor.use(async (_c, next) => {
  await next()
})
floor.get('/', (c) => c.json({ hello: 'world' }))

const withAfterwork = (task: boolean) => {
  const app = new Hono<AfterworkEnv<typeof svc>>()
  app.use(afterwork(svc))
  app.get('/', (c) => {
    if (task) c.var.background.add(noopTask)
    return c.json({ hello: 'world' })
  })
  return app
}
const apps = { floor, mw: withAfterwork(false), task: withAfterwork(true) }

const socket = new Socket()
const request = new Request('http://127.0.0.1/')
const rawHeaders = ['host', '127.0.0.1:8000', 'connection', 'keep-alive', 'user-agent', 'autocannon']

async function serveOne(app: { fetch: (r: Request, env: object) => Response | Promise<Response> }): Promise<void> {
  const incoming = new IncomingMessage(socket)
  incoming.method = 'GET'
  incoming.url = '/'
  incoming.rawHeaders = rawHeaders
  incoming.httpVersionMajor = 1
  incoming.httpVersionMinor = 1
  const outgoing = new ServerResponse(incoming)
  const res = await app.fetch(request, { incoming, outgoing })
  outgoing.writeHead(res.status, { 'Content-Type': 'application/json', 'Content-Length': 17 })
  outgoing.emit('close')
}

async function nsPerRequest(app: (typeof apps)[keyof typeof apps]): Promise<number> {
  const started = process.hrtime.bigint()
  for (let i = 0; i < n; i++) {
    await serveOne(app)
    if ((i & 1023) === 1023) await svc.background.idle()
  }
  await svc.background.idle()
  return Number(process.hrtime.bigint() - started) / n
}

for (const app of Object.values(apps)) for (let i = 0; i < 20_000; i++) await serveOne(app)
await svc.background.idle()
const figures: Record<string, number[]> = { floor: [], mw: [], task: [] }
for (let r = 0; r < runs; r++) for (const [name, app] of Object.entries(apps)) figures[name]?.push(await nsPerRequest(app))
const paired = (name: string) => (figures[name] ?? []).map((x, i) => x - (figures.floor?.[i] ?? NaN))
console.log(`node ${process.versions.node}, ${runs} runs of ${n} requests; every task ran: ${ran === n * runs + 20_000}`)
for (const [name, xs] of Object.entries(figures)) console.log(`${name.padEnd(6)} ${median(xs).toFixed(0)} ns/request (${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)})`)
for (const name of ['mw', 'task']) {
  const d = paired(name)
  console.log(`${name} - floor ${median(d).toFixed(0)} ns (${Math.min(...d).toFixed(0)}-${Math.max(...d).toFixed(0)})`)
}
await svc.stop()
