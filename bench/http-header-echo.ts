/**
 * What echoing `x-request-id` costs one response's writeHead(), without the network: a
 * deterministic companion to bench/http-overhead.ts, whose CPU-per-request figures move more
 * between runs on a shared machine than this difference.
 *
 *   node --conditions=afterwork-source --import tsx bench/http-header-echo.ts [--runs 7] [--n 300000]
 *
 * Four ways, each writing the headers @hono/node-server writes for a small JSON body:
 * - `plain`: no request id (the floor);
 * - `setHeader`: `res.setHeader('x-request-id', id)` first, as afterwork did before (Node then
 *   merges the writeHead() headers into it one setHeader() at a time);
 * - `writeHead`: the id handed to writeHead() with the others (`echoThroughWriteHead()`, afterwork's
 *   way until its twelfth session, and its fallback);
 * - `echo`: afterwork's `echoRequestId()`, which writes the id's line after the status line.
 * Prints ns per response for each (median of the runs), and echo/writeHead and echo - plain paired per run.
 */
import { IncomingMessage, ServerResponse } from 'node:http'
import { Socket } from 'node:net'
import { parseArgs } from 'node:util'
import { median } from './harness.js'
import { echoRequestId, echoThroughWriteHead } from '../src/adapters/request-scope.js'

const { values } = parseArgs({ options: { runs: { type: 'string', default: '7' }, n: { type: 'string', default: '300000' } } })
const runs = Number(values.runs)
const n = Number(values.n)

const req = new IncomingMessage(new Socket())
req.httpVersionMajor = 1
req.httpVersionMinor = 1
req.method = 'GET'
const id = crypto.randomUUID()
const headers = () => ({ 'Content-Type': 'application/json', 'Content-Length': 17 })

const ways: Record<string, (res: ServerResponse) => void> = {
  plain: (res) => res.writeHead(200, headers()),
  setHeader: (res) => {
    res.setHeader('x-request-id', id)
    res.writeHead(200, headers())
  },
  writeHead: (res) => {
    echoThroughWriteHead(res, id)
    res.writeHead(200, headers())
  },
  echo: (res) => {
    echoRequestId(res, id)
    res.writeHead(200, headers())
  },
}

function nsPerResponse(way: (res: ServerResponse) => void): number {
  const started = process.hrtime.bigint()
  for (let i = 0; i < n; i++) way(new ServerResponse(req))
  return Number(process.hrtime.bigint() - started) / n
}

for (const way of Object.values(ways)) for (let i = 0; i < 20_000; i++) way(new ServerResponse(req))
const figures: Record<string, number[]> = { plain: [], setHeader: [], writeHead: [], echo: [] }
for (let r = 0; r < runs; r++) for (const [name, way] of Object.entries(ways)) figures[name]?.push(nsPerResponse(way))
const paired = (f: (echo: number, i: number) => number) => (figures.echo ?? []).map(f)
const ratios = paired((e, i) => e / (figures.writeHead?.[i] ?? NaN))
const overPlain = paired((e, i) => e - (figures.plain?.[i] ?? NaN))
console.log(`node ${process.versions.node}, ${runs} runs of ${n} responses`)
for (const [name, xs] of Object.entries(figures)) console.log(`${name.padEnd(10)} ${median(xs).toFixed(0)} ns (${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)})`)
console.log(`echo/writeHead ${median(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(3)}-${Math.max(...ratios).toFixed(3)})`)
console.log(`echo - plain ${median(overPlain).toFixed(0)} ns (${Math.min(...overPlain).toFixed(0)} to ${Math.max(...overPlain).toFixed(0)})`)
