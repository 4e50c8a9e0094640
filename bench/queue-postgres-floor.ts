/**
 * The floor under a PostgreSQL pick-up on this machine, with no queue library: what
 * bench/queue-postgres.ts's latency group cannot beat (issue 7). Two plain connections: the producer
 * inserts one row and NOTIFYs in one autocommitted statement (a synchronous commit, as an enqueue
 * must be); the listener, on the notification, claims the row with an autocommitted UPDATE (with
 * `synchronous_commit = off`, as afterwork's claim commits). Each step is timed from just before
 * the producer's statement, the way the latency group times a pick-up.
 *
 *   node --import tsx bench/queue-postgres-floor.ts [--jobs 100] [--gap 10] [--rounds 3] [--url postgres://postgres@127.0.0.1:5432/test]
 *
 * Prints, per round, the median of each step in ms: `notify` (a NOTIFY that writes nothing, to the
 * listener), `insert+notify` (the insert's NOTIFY reaching the listener: its commit's WAL flush is
 * most of it), and `insert+notify+claim` (the floor of a pick-up), first with the listener in the
 * producer's process, then (`separate`) in a child process of its own, as a worker process is: its
 * process sleeps between jobs, and waking it is one more wake-up on the way. Across processes the
 * steps are timed on the wall clock (performance.timeOrigin + now()).
 */
import { spawn } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { median as medianOf, num } from './harness.js'

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '100' },
    gap: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    url: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
    // Internal: run as the separate listener of the table and channel given ("table,channel").
    listener: { type: 'string', default: '' },
  },
})
const jobs = Number(values.jobs)
const gap = Number(values.gap)
const median = (xs: number[]) => num(medianOf(xs), 2)
const wallNow = () => performance.timeOrigin + performance.now()
const claimSql = (table: string) => `UPDATE ${table} SET state = 'running' WHERE id = $1 AND state = 'queued' RETURNING id`

if (values.listener !== '') await separateListener(values.listener)
else await main()

/** The listener of the `separate` runs: claims each notified row, printing when its notification arrived and its claim returned. */
async function separateListener(spec: string): Promise<void> {
  const [table, channel] = spec.split(',') as [string, string]
  const client = new pg.Client({ connectionString: values.url })
  await client.connect()
  await client.query('SET synchronous_commit = off')
  client.on('notification', (msg) => {
    const arrived = wallNow()
    const id = Number(msg.payload)
    void client.query(claimSql(table), [id]).then(() => process.stdout.write(`${JSON.stringify({ id, arrived, claimed: wallNow() })}\n`))
  })
  await client.query(`LISTEN ${channel}`)
  process.stdout.write('ready\n')
  process.stdin.resume()
  process.stdin.on('end', () => void client.end().then(() => process.exit(0)))
}

async function main(): Promise<void> {
  const table = `floor_${process.pid}`
  const channel = `floor_${process.pid}`
  const producer = new pg.Client({ connectionString: values.url })
  const listener = new pg.Client({ connectionString: values.url })
  await producer.connect()
  await listener.connect()
  await producer.query(`CREATE TABLE ${table} (id integer PRIMARY KEY, state text NOT NULL)`)
  await listener.query(`LISTEN ${channel}`)
  await listener.query('SET synchronous_commit = off')
  const notified = () => new Promise<void>((resolve) => listener.once('notification', () => resolve()))
  const insert = (row: number) =>
    producer.query(`WITH ins AS (INSERT INTO ${table} VALUES ($1, 'queued') RETURNING id) SELECT pg_notify('${channel}', $1::text) FROM ins`, [row])

  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--url', values.url, '--listener', `${table},${channel}`], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const lines = createInterface({ input: child.stdout })
  const pending = new Map<number, (line: { arrived: number; claimed: number }) => void>()
  const ready = new Promise<void>((resolve) =>
    lines.on('line', (line) => {
      if (line === 'ready') return resolve()
      const report = JSON.parse(line) as { id: number; arrived: number; claimed: number }
      pending.get(report.id)?.(report)
    }),
  )
  await ready

  try {
    let id = 0
    for (let round = 1; round <= Number(values.rounds); round++) {
      const bare: number[] = []
      const arrived: number[] = []
      const claimed: number[] = []
      for (let i = 0; i < jobs; i++) {
        await sleep(gap)
        const t0 = performance.now()
        const wake = notified()
        await producer.query(`SELECT pg_notify('${channel}', '0')`)
        await wake
        bare.push(performance.now() - t0)
      }
      for (let i = 0; i < jobs; i++) {
        await sleep(gap)
        const row = ++id
        const t0 = performance.now()
        const picked = notified().then(async () => {
          arrived.push(performance.now() - t0)
          await listener.query(claimSql(table), [row])
          claimed.push(performance.now() - t0)
        })
        await insert(row)
        await picked
      }
      // The same with the listener in its own process (it ignores the rows this process claimed).
      const farArrived: number[] = []
      const farClaimed: number[] = []
      await listener.query(`UNLISTEN ${channel}`)
      for (let i = 0; i < jobs; i++) {
        await sleep(gap)
        const row = ++id
        const report = new Promise<{ arrived: number; claimed: number }>((resolve) => pending.set(row, resolve))
        const t0 = wallNow()
        await insert(row)
        const { arrived: a, claimed: c } = await report
        pending.delete(row)
        farArrived.push(a - t0)
        farClaimed.push(c - t0)
      }
      await listener.query(`LISTEN ${channel}`)
      console.log(
        `round ${round}: notify ${median(bare)} ms, insert+notify ${median(arrived)} ms, insert+notify+claim ${median(claimed)} ms; ` +
          `listener in a separate process: insert+notify ${median(farArrived)} ms, insert+notify+claim ${median(farClaimed)} ms (medians of ${jobs})`,
      )
    }
  } finally {
    child.stdin.end()
    await producer.query(`DROP TABLE ${table}`)
    await producer.end()
    await listener.end()
  }
}
