// One claimer of the exclusivity test, in its own thread with its own driver and connection:
// claims and completes until the queue stays empty, then reports every id it claimed.
import { parentPort, workerData } from 'node:worker_threads'
import type { QueueDriver } from '../../queue/driver.js'

interface Data {
  module: string
  factory: string
  options: unknown
  workerId: string
  batch: number
}

const data = workerData as Data
const mod = (await import(data.module)) as Record<string, (options: unknown) => QueueDriver>
const driver = (mod[data.factory] as (options: unknown) => QueueDriver)(data.options)
await driver.migrate()
const claimed: string[] = []
let empty = 0
while (empty < 3) {
  const rows = await driver.jobClaim({ queue: 'default', names: ['conformance'], workerId: data.workerId, limit: data.batch, lease: 60_000 })
  if (rows.length === 0) {
    empty++
    await new Promise((resolve) => setImmediate(resolve))
    continue
  }
  empty = 0
  for (const row of rows) claimed.push(row.id)
  await driver.jobCompleteMany({ workerId: data.workerId, completions: rows.map((r) => ({ id: r.id, outcome: 'succeeded', result: null })) })
}
await driver.close()
parentPort?.postMessage(claimed)
