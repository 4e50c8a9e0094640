/**
 * The CPU afterwork's Hono, Fastify, Express and node:http adapters add to one request, without the
 * network: the servers of bench/http-server.ts (the same apps bench/http-overhead.ts loads over
 * sockets) are handed requests as Node's HTTP parser hands them, `server.emit('request', req, res)`,
 * on a socket that discards what is written. A deterministic companion to bench/http-overhead.ts,
 * whose CPU-per-request figures move by more between rounds on a shared machine than the costs
 * measured here.
 *
 *   node --conditions=afterwork-source --import tsx bench/http-adapter-cpu.ts [--runs 7] [--n 50000] [--frameworks hono,hono-mw,fastify,express,node]
 *
 * Per framework, configurations `bare`, `floor` (one empty hook or middleware), `mw` (afterwork's
 * adapter) and `task` (plus one no-op background task per request), run in turn within each run.
 * Each request is a fresh IncomingMessage and ServerResponse; after the response's `finish` the
 * socket is detached and `close` emitted on the next tick, as Node's server does. Prints ns per
 * request (median of the runs, with min-max), and mw / bare and task / bare paired per run: the
 * ratio the target is set on, without the kernel's and autocannon's share of a request.
 */
import { IncomingMessage, ServerResponse, type Server } from 'node:http'
import { Duplex } from 'node:stream'
import { parseArgs } from 'node:util'
import { median } from './harness.js'
import { expressServer, fastifyServer, honoServer, nodeServer, taskCounts, type Config } from './http-server.js'

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '7' },
    n: { type: 'string', default: '50000' },
    frameworks: { type: 'string', default: 'hono,hono-mw,fastify,express,node' },
  },
})
const runs = Number(values.runs)
const n = Number(values.n)
const builders = { hono: honoServer, 'hono-mw': (c: Config) => honoServer(c, true), fastify: fastifyServer, express: expressServer, node: nodeServer }
type Name = keyof typeof builders
const frameworks = values.frameworks.split(',').filter((f): f is Name => f in builders)
const configs: Config[] = ['bare', 'floor', 'mw', 'task']

/** A connection that takes every write at once and never reads. */
class SinkSocket extends Duplex {
  override _read(): void {}
  override _write(_chunk: unknown, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    callback()
  }
  override _writev(_chunks: unknown[], callback: (error?: Error | null) => void): void {
    callback()
  }
}
const socket = new SinkSocket()
socket.setMaxListeners(0)
Object.assign(socket, { remoteAddress: '127.0.0.1', encrypted: false, setKeepAlive: () => socket, setNoDelay: () => socket, setTimeout: () => socket })
const rawHeaders = ['host', '127.0.0.1:8000', 'connection', 'keep-alive', 'user-agent', 'autocannon']
const headers = { host: '127.0.0.1:8000', connection: 'keep-alive', 'user-agent': 'autocannon' }

/** One GET / through `server`'s request listener; resolves once the response has closed. */
function serveOne(server: Server): Promise<void> {
  const req = new IncomingMessage(socket as never)
  req.method = 'GET'
  req.url = '/'
  req.rawHeaders = rawHeaders
  req.headers = { ...headers }
  req.httpVersionMajor = 1
  req.httpVersionMinor = 1
  req.httpVersion = '1.1'
  req.complete = true
  req.push(null)
  const res = new ServerResponse(req)
  res.shouldKeepAlive = true
  res.assignSocket(socket as never)
  return new Promise<void>((resolve) => {
    res.once('finish', () => {
      res.detachSocket(socket as never)
      process.nextTick(() => {
        res.emit('close')
        req.emit('close')
        resolve()
      })
    })
    server.emit('request', req, res)
  })
}

/** Lets the background tasks of the requests served so far run. */
async function tasksDone(): Promise<void> {
  while (taskCounts().ran < taskCounts().scheduled) await new Promise((resolve) => setImmediate(resolve))
}

async function nsPerRequest(server: Server): Promise<number> {
  const started = process.hrtime.bigint()
  for (let i = 0; i < n; i++) {
    await serveOne(server)
    if ((i & 1023) === 1023) await tasksDone()
  }
  await tasksDone()
  return Number(process.hrtime.bigint() - started) / n
}

const fmt = (xs: number[], digits = 0) => `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)})`
console.log(`node ${process.versions.node}, ${runs} runs of ${n} requests per configuration`)
console.log('| framework | bare ns | floor ns | mw ns | task ns | mw / bare | task / bare | mw - floor ns | task - floor ns |')
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
for (const framework of frameworks) {
  const servers = Object.fromEntries(await Promise.all(configs.map(async (c) => [c, await builders[framework](c)] as const))) as Record<Config, Server>
  for (const c of configs) for (let i = 0; i < 10_000; i++) await serveOne(servers[c])
  await tasksDone()
  const ns: Record<Config, number[]> = { bare: [], floor: [], mw: [], task: [] }
  for (let r = 0; r < runs; r++) for (const c of configs) ns[c].push(await nsPerRequest(servers[c]))
  const ratio = (c: Config) => ns[c].map((x, i) => x / (ns.bare[i] as number))
  const over = (c: Config) => ns[c].map((x, i) => x - (ns.floor[i] as number))
  console.log(`| ${framework} | ${fmt(ns.bare)} | ${fmt(ns.floor)} | ${fmt(ns.mw)} | ${fmt(ns.task)} | ${fmt(ratio('mw'), 3)} | ${fmt(ratio('task'), 3)} | ${fmt(over('mw'))} | ${fmt(over('task'))} |`)
}
const { scheduled, ran } = taskCounts()
console.log(`\nevery scheduled task ran: ${scheduled === ran} (${ran} of ${scheduled})`)
process.exit(0)
