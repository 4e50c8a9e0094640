/**
 * What one request's post-response task list costs, without HTTP: create the list, add one no-op
 * async task, start it (as a response's close does), let it run. Against the least a server can do
 * instead: call the task and catch its rejection (`void fn().catch(log)`), which has no ordering,
 * no bound, no count and no drain at shutdown.
 *
 *   node --conditions=afterwork-source --import tsx bench/background-tasks.ts [--runs 9] [--n 200000] [--context]
 *
 * Configurations, alternating within each run: `bare` (the call and catch) and `list` (afterwork's
 * list without the request context), or with `--context` `bare` and `context` (the list with
 * `currentRequestId()` inside the task, through AsyncLocalStorage; on by default from Node 24), and
 * the same list started from a tick of its own (`tick`) or as a response's 'close' starts it
 * (`close`, which enters the id for the rest of the tick instead of running the list inside it).
 * Runs with and without `--context` never share a process: on Node 20 the first AsyncLocalStorage
 * run turns on promise hooks, which slow every promise of the process from then on. Prints ns per
 * request (median of the runs, min-max) and each configuration over bare, paired per run.
 */
import { parseArgs } from 'node:util'
import { median } from './harness.js'
import { createService, silentLogger } from 'afterwork'

const { values } = parseArgs({ options: { runs: { type: 'string', default: '9' }, n: { type: 'string', default: '200000' }, context: { type: 'boolean', default: false } } })
const runs = Number(values.runs)
const n = Number(values.n)
const afterworkConfig = values.context ? 'context' : 'list'

let ran = 0
async function noopTask(): Promise<void> {
  ran++
}

const svc = createService({ logger: silentLogger, background: { requestContext: values.context } })
await svc.start()

let pending = 0
const settled = (): void => void pending--
async function bareRound(): Promise<number> {
  const started = process.hrtime.bigint()
  for (let i = 0; i < n; i++) {
    pending++
    noopTask().then(settled, settled)
    if ((i & 63) === 63) while (pending > 0) await undefined
  }
  while (pending > 0) await undefined
  return Number(process.hrtime.bigint() - started) / n
}

/** How a list is started: at once, from a tick of its own, or from a tick as a response's 'close' listener starts it. */
type Start = 'now' | 'tick' | 'close'

function listRound(how: Start): () => Promise<number> {
  return async () => {
    const started = process.hrtime.bigint()
    for (let i = 0; i < n; i++) {
      const tasks = svc.createBackgroundTasks('req-1')
      tasks.add(noopTask)
      if (how === 'now') tasks.start()
      else if (how === 'tick') process.nextTick(() => tasks.start())
      else process.nextTick(() => tasks.start(true))
      if ((i & 63) === 63) await svc.background.idle()
    }
    await svc.background.idle()
    return Number(process.hrtime.bigint() - started) / n
  }
}

// With --context, the list is also started from a tick (as Node emits a response's 'close'), where
// the request id is entered for the rest of the tick (`close`) rather than run around the list (`tick`).
const configs: Record<string, () => Promise<number>> = values.context
  ? { bare: bareRound, [afterworkConfig]: listRound('now'), tick: listRound('tick'), close: listRound('close') }
  : { bare: bareRound, [afterworkConfig]: listRound('now') }
for (const round of Object.values(configs)) for (let i = 0; i < 5; i++) await round()
const ns: Record<string, number[]> = Object.fromEntries(Object.keys(configs).map((name) => [name, []]))
for (let r = 0; r < runs; r++) for (const [name, round] of Object.entries(configs)) ns[name]?.push(await round())

const fmt = (xs: number[], digits = 0) => `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)})`
console.log(`node ${process.versions.node}, ${runs} runs of ${n} requests; every task ran: ${ran === n * (runs + 5) * Object.keys(configs).length}`)
console.log('| config | ns per request | over bare, paired | minus bare, ns |')
console.log('| --- | --- | --- | --- |')
for (const [name, xs] of Object.entries(ns)) {
  const ratio = xs.map((x, i) => x / (ns.bare?.[i] as number))
  const extra = xs.map((x, i) => x - (ns.bare?.[i] as number))
  console.log(`| ${name} | ${fmt(xs)} | ${fmt(ratio, 2)} | ${fmt(extra)} |`)
}
await svc.stop()
