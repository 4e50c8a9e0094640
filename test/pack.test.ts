import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execute, repoRoot, type Executed } from './process.js'

// Packs the package as npm would publish it and uses it from a fresh consumer project: the
// subpath exports resolve, their types check under NodeNext + strict, and the built code runs.

const repo = repoRoot
const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc')

/** The parent `npm test` leaves its own package's variables in the environment: keep them from the children. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_(package|lifecycle)_/i.test(key) || /^(npm_config_local_prefix|INIT_CWD)$/i.test(key)) continue
    env[key] = value
  }
  return env
}

function run(command: string, args: string[], cwd: string, timeoutMs?: number): Promise<Executed> {
  return execute(command, args, { cwd, env: childEnv(), ...(timeoutMs === undefined ? {} : { timeoutMs }) })
}

async function mustRun(command: string, args: string[], cwd: string): Promise<string> {
  const r = await run(command, args, cwd)
  if (r.code !== 0) throw new Error(`${command} ${args.join(' ')} (in ${cwd}) exited ${r.code}\n${r.stdout}\n${r.stderr}`)
  return r.stdout
}

/** The version the repo has installed, so the consumer's install is served from npm's cache. */
async function installedVersion(name: string): Promise<string> {
  const json = JSON.parse(await readFile(join(repo, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }
  return json.version
}

const consumerTs = `
import { createService, silentLogger } from 'afterwork'
import { afterwork, serve, validate, afterworkErrors, type AfterworkEnv, type HttpHandle } from 'afterwork/hono'
import { readBody, serveHttp, withAfterwork } from 'afterwork/node'
import { afterwork as expressAfterwork, afterworkErrors as expressErrors, validate as expressValidate } from 'afterwork/express'
import { afterwork as fastifyAfterwork, validate as fastifyValidate } from 'afterwork/fastify'
import { ManualClock, withTestClient } from 'afterwork/testing'
import type { StandardSchemaV1 } from '@standard-schema/spec'
import express from 'express'
import Fastify from 'fastify'
import { Hono } from 'hono'
import { createServer } from 'node:http'

interface Signup {
  email: string
}

const signupSchema: StandardSchemaV1<unknown, Signup> = {
  '~standard': {
    version: 1,
    vendor: 'consumer',
    validate: (value) =>
      typeof value === 'object' && value !== null && typeof (value as { email?: unknown }).email === 'string'
        ? { value: { email: (value as { email: string }).email } }
        : { issues: [{ message: 'email is required', path: ['email'] }] },
  },
}

const clock = new ManualClock(Date.parse('2026-03-08T00:00:00Z'))

export const svc = createService({
  name: 'consumer',
  clock,
  logger: silentLogger,
  lifespan: [
    async function* db() {
      const pool = { query: async (sql: string): Promise<number> => sql.length, close: async (): Promise<void> => {} }
      try {
        yield { pool }
      } finally {
        await pool.close()
      }
    },
    { name: 'cache', run: async function* cache() { yield { cache: new Map<string, string>() } } },
    // The context needs no annotation.
    async function* flags({ signal, clock }) { yield { flags: { live: !signal.aborted, since: clock.now() } } },
  ],
})

// The state type is inferred from every lifespan's yield.
export const rows: Promise<number> = svc.state.pool.query('select 1')
export const cached: string | undefined = svc.state.cache.get('k')
export const since: number = svc.state.flags.since
// @ts-expect-error -- no lifespan yields 'missing'
export const missing: unknown = svc.state.missing

export const app = new Hono<AfterworkEnv<typeof svc>>()
app.use(afterwork(svc))
app.onError(afterworkErrors)
app.post('/signup', validate(signupSchema), (c) => {
  const body: Signup = c.req.valid('json')
  c.var.background.add(async (email: string) => {
    c.var.state.cache.set(email, 'welcome sent')
  }, body.email)
  const requestId: string = c.var.requestId
  return c.json({ email: body.email, requestId }, 201)
})

// Express and Fastify type their request objects by declaration merging; the state type comes from
// the service registered once.
declare module 'afterwork/express' {
  interface AfterworkRegister {
    service: typeof svc
  }
}

export const expressApp = express()
expressApp.use(expressAfterwork(svc))
expressApp.use(express.json())
expressApp.post('/signup', expressValidate(signupSchema), async (req, res) => {
  const email: string = req.body.email
  const rows: number = await req.state.pool.query('select 1')
  req.background.add((id: string) => void id, req.requestId)
  res.status(201).json({ email, rows })
})
expressApp.use(expressErrors)

export async function fastifyApp() {
  const app = Fastify()
  await app.register(fastifyAfterwork(svc))
  app.post('/signup', fastifyValidate(signupSchema), async (request) => {
    const email: string = request.body.email
    request.background.add(() => {})
    return { email, rows: await request.state.pool.query('select 1'), requestId: request.requestId }
  })
  return app
}

export const listener = withAfterwork(svc, async (req, res, ctx) => {
  const body: Signup = await readBody(req, signupSchema)
  ctx.route = '/signup'
  ctx.background.add(() => {})
  res.end(JSON.stringify({ email: body.email, rows: await ctx.state.pool.query('select 1') }))
})

export async function main(): Promise<void> {
  const status = await withTestClient(svc, app, async (client) => {
    const res = await client.post('/signup', { json: { email: 'ada@example.com' } })
    await client.drainBackground()
    return res.status
  })
  const handle: HttpHandle = await serve(createService({ logger: silentLogger }), new Hono(), { port: 0, signals: false })
  await handle.stop()
  const plain = await serveHttp(createService(), createServer(), { port: 0, host: '127.0.0.1', drainTimeout: '1s' })
  await plain.stop()
  await clock.advance(5 * 60_000)
  console.log(status, handle.url, plain.port)
}
`

const consumerJs = `
import { createService, silentLogger } from 'afterwork'
import { afterwork, serve, validate, afterworkErrors } from 'afterwork/hono'
import { serveHttp } from 'afterwork/node'
import { ManualClock, withTestClient } from 'afterwork/testing'
import * as expressAdapter from 'afterwork/express'
import * as fastifyAdapter from 'afterwork/fastify'
import * as nodeAdapter from 'afterwork/node'
import express from 'express'
import Fastify from 'fastify'
import { Hono } from 'hono'

console.log('exports', [afterwork, serve, validate, afterworkErrors, serveHttp, ManualClock, withTestClient].map((f) => typeof f).join(','))
console.log('adapters', [expressAdapter.afterwork, expressAdapter.afterworkErrors, expressAdapter.validate, expressAdapter.serve, fastifyAdapter.afterwork, fastifyAdapter.afterworkErrors, fastifyAdapter.validate, fastifyAdapter.serve, nodeAdapter.withAfterwork, nodeAdapter.readBody, nodeAdapter.serve].map((f) => typeof f).join(','))

const steps = []
const svc = createService({
  name: 'consumer',
  logger: silentLogger,
  lifespan: async function* db() {
    steps.push('open')
    try {
      yield { db: { name: 'fake-db' } }
    } finally {
      steps.push('close')
    }
  },
})
console.log('readiness', svc.readiness)
await svc.start()
console.log('readiness', svc.readiness)
console.log('state', JSON.stringify(svc.state))
await svc.stop()
console.log('readiness', svc.readiness)
console.log('lifespan', steps.join(','))

const tested = createService({
  logger: silentLogger,
  clock: new ManualClock(),
  lifespan: async function* greeting() {
    yield { greeting: 'hello' }
  },
})
const app = new Hono()
app.use(afterwork(tested))
app.onError(afterworkErrors)
let ran = false
app.get('/hi', (c) => {
  c.var.background.add(() => {
    ran = true
  })
  return c.text(c.var.state.greeting)
})
const answer = await withTestClient(tested, app, async (client) => {
  const res = await client.get('/hi')
  await client.drainBackground()
  return res.status + ' ' + (await res.text())
})
console.log('hono', answer, 'background ran:', ran, tested.readiness)

const served = createService({ logger: silentLogger })
const servedApp = new Hono()
servedApp.use(afterwork(served))
servedApp.onError(afterworkErrors)
const handle = await serve(served, servedApp, { port: 0, signals: false })
const res = await fetch(handle.url + '/nowhere')
await res.arrayBuffer()
await handle.stop()
console.log('served', res.status, served.readiness)

const expressService = createService({ logger: silentLogger })
const expressApp = express()
expressApp.use(expressAdapter.afterwork(expressService))
expressApp.get('/id', (req, res) => {
  req.background.add(() => {})
  res.json({ requestId: req.requestId })
})
expressApp.use(expressAdapter.afterworkErrors)
const expressHandle = await expressAdapter.serve(expressService, expressApp, { port: 0, signals: false })
const expressAnswer = await (await fetch(expressHandle.url + '/id', { headers: { 'x-request-id': 'req-pack' } })).json()
await expressHandle.stop()
console.log('express', expressAnswer.requestId, expressService.readiness)

const fastifyService = createService({ logger: silentLogger })
const fastifyApp = Fastify()
await fastifyApp.register(fastifyAdapter.afterwork(fastifyService))
fastifyApp.get('/id', async (request) => ({ requestId: request.requestId }))
const fastifyHandle = await fastifyAdapter.serve(fastifyService, fastifyApp, { port: 0, signals: false })
const fastifyAnswer = await (await fetch(fastifyHandle.url + '/id', { headers: { 'x-request-id': 'req-pack' } })).json()
await fastifyHandle.stop()
console.log('fastify', fastifyAnswer.requestId, fastifyService.readiness)
`

const expectedOutput = [
  'exports function,function,function,function,function,function,function',
  `adapters ${Array(11).fill('function').join(',')}`,
  'readiness idle',
  'readiness ready',
  'state {"db":{"name":"fake-db"}}',
  'readiness stopped',
  'lifespan open,close',
  'hono 200 hello background ran: true stopped',
  'served 404 stopped',
  'express req-pack stopped',
  'fastify req-pack stopped',
  '',
].join('\n')

describe('the packed package', () => {
  const temps: string[] = []
  let packDir = ''
  let consumer = ''
  let tarball = ''

  beforeAll(async () => {
    packDir = await mkdtemp(join(tmpdir(), 'afterwork-pack-'))
    temps.push(packDir)
    consumer = await mkdtemp(join(tmpdir(), 'afterwork-consumer-'))
    temps.push(consumer)

    await mustRun('npm', ['run', 'build', '--silent'], repo)
    await mustRun('npm', ['pack', '--silent', '--pack-destination', packDir], repo)
    const packed = (await readdir(packDir)).filter((f) => f.endsWith('.tgz'))
    expect(packed).toHaveLength(1)
    tarball = join(packDir, packed[0] ?? '')

    await writeFile(join(consumer, 'package.json'), JSON.stringify({ name: 'afterwork-consumer', private: true, type: 'module' }, null, 2))
    await writeFile(
      join(consumer, 'tsconfig.json'),
      JSON.stringify(
        {
          compilerOptions: {
            target: 'ES2023',
            lib: ['ES2023'],
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            types: ['node'],
            strict: true,
            noEmit: true,
            skipLibCheck: true,
          },
          include: ['consumer.ts'],
        },
        null,
        2,
      ),
    )
    await writeFile(join(consumer, 'consumer.ts'), consumerTs)
    await writeFile(join(consumer, 'consumer.js'), consumerJs)

    // The tarball comes from disk; its dependencies and the peers come from npm's cache when it has them.
    const peers = await Promise.all(['hono', '@hono/node-server', 'fastify', 'fastify-plugin', 'express', '@types/express', '@types/node'].map(async (name) => `${name}@${await installedVersion(name)}`))
    await mustRun('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error', tarball, ...peers], consumer)
  }, 180_000)

  afterAll(async () => {
    await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })))
  })

  it('ships the built entry points and no tests', async () => {
    const out = await mustRun('npm', ['pack', '--dry-run', '--json', '--silent'], repo)
    const [info] = JSON.parse(out) as { files: { path: string }[] }[]
    const files = (info?.files ?? []).map((f) => f.path)
    for (const entry of ['index', 'adapters/hono/index', 'adapters/fastify/index', 'adapters/express/index', 'adapters/node/index', 'testing/index']) {
      expect(files).toContain(`dist/${entry}.js`)
      expect(files).toContain(`dist/${entry}.d.ts`)
    }
    expect(files).toContain('package.json')
    expect(files.filter((f) => /\.test(-d)?\.|(^|\/)(test|__tests__)\//.test(f))).toEqual([])
    expect(files.filter((f) => f.startsWith('src/') || f.startsWith('examples/'))).toEqual([])
  })

  it('type-checks a consumer under NodeNext and strict', async () => {
    const r = await run(process.execPath, [tsc, '-p', '.'], consumer)
    expect(r.stdout + r.stderr).toBe('')
    expect(r.code).toBe(0)
  })

  it("installs the afterwork command, which runs through npm's symlink", async () => {
    const r = await run(join(consumer, 'node_modules', '.bin', 'afterwork'), ['--help'], consumer, 30_000)
    expect(r.stderr).toBe('')
    expect(r.stdout).toMatch(/^Usage: afterwork <command> <module>/)
    expect(r.code).toBe(0)
  })

  it('runs a consumer: a service with a lifespan starts, serves and stops', async () => {
    const r = await run(process.execPath, ['consumer.js'], consumer, 30_000)
    expect(r.stderr).toBe('')
    expect(r.stdout).toBe(expectedOutput)
    expect(r.code).toBe(0)
  })
})
