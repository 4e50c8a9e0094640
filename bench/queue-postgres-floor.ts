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
 * most of it), and `insert+notify+claim` (the floor of a pick-up).
 */
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { median as medianOf, num } from './harness.js'

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '100' },
    gap: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    url: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
  },
})
const jobs = Number(values.jobs)
const gap = Number(values.gap)
const table = `floor_${process.pid}`
const channel = `floor_${process.pid}`

const median = (xs: number[]) => num(medianOf(xs), 2)

const producer = new pg.Client({ connectionString: values.url })
const listener = new pg.Client({ connectionString: values.url })
await producer.connect()
await listener.connect()
await producer.query(`CREATE TABLE ${table} (id integer PRIMARY KEY, state text NOT NULL)`)
await listener.query(`LISTEN ${channel}`)
await listener.query('SET synchronous_commit = off')
const notified = () => new Promise<void>((resolve) => listener.once('notification', () => resolve()))

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
      await producer.query(`SELECT pg_notify('${channel}', 'q')`)
      await wake
      bare.push(performance.now() - t0)
    }
    for (let i = 0; i < jobs; i++) {
      await sleep(gap)
      const row = ++id
      const t0 = performance.now()
      const picked = notified().then(async () => {
        arrived.push(performance.now() - t0)
        await listener.query(`UPDATE ${table} SET state = 'running' WHERE id = $1 AND state = 'queued' RETURNING id`, [row])
        claimed.push(performance.now() - t0)
      })
      await producer.query(`WITH ins AS (INSERT INTO ${table} VALUES ($1, 'queued') RETURNING id) SELECT pg_notify('${channel}', 'q') FROM ins`, [row])
      await picked
    }
    console.log(`round ${round}: notify ${median(bare)} ms, insert+notify ${median(arrived)} ms, insert+notify+claim ${median(claimed)} ms (medians of ${jobs})`)
  }
} finally {
  await producer.query(`DROP TABLE ${table}`)
  await producer.end()
  await listener.end()
}
