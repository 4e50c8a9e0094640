#!/usr/bin/env node
// The afterwork command: run a service's workers without HTTP, and look into its queue.
import { realpathSync } from 'node:fs'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { onShutdownSignals } from './adapters/node/signals.js'
import type { JobState } from './core/job-state.js'
import type { AnyService } from './service.js'
import { Service } from './service.js'

const USAGE = `Usage: afterwork <command> <module> [options]

The module's default export is the Service; importing it must start nothing.

Commands:
  worker <module>   Run the service without HTTP: lifespans, schedules, supervised tasks and the
                    durable-queue worker. SIGTERM or SIGINT stops it gracefully; a second one exits.
  queues <module>   Jobs by queue, task and state.
  jobs <module>     Recent jobs, newest first.
  migrate <module>  Create or upgrade the queue's schema (for deployments whose service role has no
                    DDL rights and uses postgres({ migrate: 'check' })).

Options:
  --state <state>   jobs: only this state (queued, running, retrying, failed, ...)
  --name <task>     jobs: only this task
  --limit <n>       jobs: how many (default 20)
  --progress        worker: print queue progress every second (default: when stderr is a terminal)
  --json            queues, jobs: print JSON
  -h, --help        this text
`

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      state: { type: 'string' },
      name: { type: 'string' },
      limit: { type: 'string', default: '20' },
      progress: { type: 'boolean' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  const [command, modulePath] = positionals
  if (values.help || !command) {
    process.stdout.write(USAGE)
    return values.help ? 0 : 2
  }
  if (!['worker', 'queues', 'jobs', 'migrate'].includes(command)) {
    process.stderr.write(`afterwork: unknown command "${command}"\n\n${USAGE}`)
    return 2
  }
  if (!modulePath) {
    process.stderr.write(`afterwork ${command}: name the module whose default export is the Service\n`)
    return 2
  }
  const svc = await loadService(modulePath)
  switch (command) {
    case 'worker':
      return runWorker(svc, values.progress ?? process.stderr.isTTY === true)
    case 'queues':
      return printQueues(svc, values.json)
    case 'migrate':
      await svc.queue.driver.migrate({ apply: true })
      await svc.queue.driver.close()
      process.stdout.write(`afterwork: the ${svc.queue.driver.kind} queue schema is up to date\n`)
      return 0
    default:
      return printJobs(svc, { state: values.state as JobState | undefined, name: values.name, limit: Number(values.limit), json: values.json })
  }
}

async function loadService(modulePath: string): Promise<AnyService> {
  const mod = (await import(pathToFileURL(resolve(modulePath)).href)) as { default?: unknown }
  const svc = mod.default
  // Duck-typed too: the module may hold its own copy of afterwork (a linked or bundled one).
  if (svc instanceof Service || (typeof svc === 'object' && svc !== null && 'start' in svc && 'stop' in svc && 'jobs' in svc)) {
    return svc as AnyService
  }
  throw new Error(`${modulePath} has no Service as its default export (export default createService(...))`)
}

async function runWorker(svc: AnyService, progress: boolean): Promise<number> {
  await svc.start()
  const done = new Promise<void>((resolveDone) => {
    let stopping = false
    const remove = onShutdownSignals(
      svc.log,
      async () => {
        stopping = true
        clearInterval(timer)
        await svc.stop()
        remove()
        resolveDone()
      },
      () => stopping,
    )
    const offStop = svc.on('service:stop-requested', () => {
      process.exitCode = 1
      offStop()
      if (!stopping) process.kill(process.pid, 'SIGTERM')
    })
    const timer = progress ? setInterval(() => void showProgress(svc), 1_000) : undefined
    timer?.unref()
  })
  svc.log.info({ workerId: svc.worker?.workerId }, 'worker running; SIGTERM or SIGINT stops it')
  await done
  return Number(process.exitCode ?? 0)
}

let lastSucceeded: number | undefined

async function showProgress(svc: AnyService): Promise<void> {
  try {
    const counts = await svc.queue.counts()
    const by = (state: string) => counts.filter((c) => c.state === state).reduce((sum, c) => sum + c.count, 0)
    const succeeded = by('succeeded')
    const rate = lastSucceeded === undefined ? 0 : succeeded - lastSucceeded
    lastSucceeded = succeeded
    process.stderr.write(
      `\r${by('queued') + by('scheduled')} waiting, ${by('running')} running, ${by('retrying')} retrying, ${succeeded} succeeded (${rate}/s), ${by('failed')} failed   `,
    )
  } catch {
    // Progress is best effort; the worker's own log reports real trouble.
  }
}

async function printQueues(svc: AnyService, json: boolean): Promise<number> {
  const counts = await svc.queue.counts()
  await svc.queue.driver.close()
  if (json) {
    process.stdout.write(`${JSON.stringify(counts, null, 2)}\n`)
    return 0
  }
  const states: JobState[] = ['scheduled', 'queued', 'running', 'cancelling', 'retrying', 'succeeded', 'failed', 'cancelled']
  const rows = new Map<string, Record<string, number>>()
  for (const c of counts) {
    const key = `${c.queue}\t${c.name}`
    rows.set(key, { ...rows.get(key), [c.state]: c.count })
  }
  const table = [['queue', 'task', ...states], ...[...rows].map(([key, byState]) => [...key.split('\t'), ...states.map((s) => String(byState[s] ?? 0))])]
  process.stdout.write(formatTable(table))
  return 0
}

async function printJobs(svc: AnyService, opts: { state: JobState | undefined; name: string | undefined; limit: number; json: boolean }): Promise<number> {
  const jobs = await svc.queue.list({ limit: opts.limit, ...(opts.state ? { state: opts.state } : {}), ...(opts.name ? { name: opts.name } : {}) })
  await svc.queue.driver.close()
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(jobs, null, 2)}\n`)
    return 0
  }
  const table = [
    ['id', 'task', 'state', 'attempt', 'created', 'error'],
    ...jobs.map((j) => [j.id, j.name, j.state, String(j.attempt), j.createdAt, j.error?.message ?? '']),
  ]
  process.stdout.write(formatTable(table))
  return 0
}

function formatTable(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? []
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n') + '\n'
}

/**
 * Whether this module is the program node was asked to run. An installed `afterwork` command is
 * npm's symlink (node_modules/.bin/afterwork), while node names this module by its real path
 * (by the link's, under --preserve-symlinks-main): either may match.
 */
function isEntryPoint(entry: string | undefined): boolean {
  if (entry === undefined) return false
  if (import.meta.url === pathToFileURL(resolve(entry)).href) return true
  try {
    return import.meta.url === pathToFileURL(realpathSync(entry)).href
  } catch {
    return false
  }
}

if (isEntryPoint(process.argv[1])) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code
    },
    (error: unknown) => {
      process.stderr.write(`afterwork: ${error instanceof Error ? error.message : String(error)}\n`)
      process.exitCode = 1
    },
  )
}
