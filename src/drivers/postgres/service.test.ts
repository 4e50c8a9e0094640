import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { silentLogger } from '../../core/logger.js'
import { createService } from '../../service.js'
import { waitForEvent } from '../../testing/wait-for-event.js'
import { postgres } from './driver.js'
import { migrations } from './migrations.js'

const url = process.env.AFTERWORK_TEST_PG_URL
const schema = `aw_svc_${process.pid}_${Date.now().toString(36)}`

describe.skipIf(!url)('durable queue on PostgreSQL (service level)', () => {
  afterAll(async () => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await client.query(`DROP SCHEMA IF EXISTS "${schema}_check" CASCADE`)
    await client.end()
  })

  function service(opts: { worker: boolean }) {
    const svc = createService({
      logger: silentLogger,
      queue: postgres({ url: url as string, schema, max: 2 }),
      // A poll interval far beyond the test: only NOTIFY can wake the worker in time.
      worker: opts.worker ? { pollInterval: '10m' } : false,
    })
    const task = svc.task('note', { schema: z.object({ text: z.string() }) }, async () => {})
    return { svc, task }
  }

  it('enqueues inside the caller\'s transaction: a rollback leaves no job, a commit is picked up through NOTIFY', async () => {
    const producer = service({ worker: false })
    const consumer = service({ worker: true })
    await producer.svc.start()
    await consumer.svc.start()
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      await client.query('BEGIN')
      const rolledBack = await producer.task.enqueue({ text: 'never' }, { tx: client })
      await client.query('ROLLBACK')
      expect(await producer.task.get(rolledBack.id)).toBeUndefined()

      await client.query('BEGIN')
      const committed = await producer.task.enqueue({ text: 'kept' }, { tx: client })
      // Not visible, and not notified, before the commit.
      expect(await producer.task.get(committed.id)).toBeUndefined()
      const done = waitForEvent(consumer.svc, 'job:succeeded', (e) => e.id === committed.id)
      await client.query('COMMIT')
      await done
      expect((await producer.task.get(committed.id))?.state).toBe('succeeded')
    } finally {
      await client.end()
      await producer.svc.stop()
      await consumer.svc.stop()
    }
  })

  it("refuses to start with migrate: 'check' while migrations are pending, until they are applied", async () => {
    const check = postgres({ url: url as string, schema: `${schema}_check`, migrate: 'check', max: 1 })
    await expect(check.migrate()).rejects.toMatchObject({ code: 'ERR_QUEUE_MIGRATION_PENDING', message: expect.stringContaining(`needs ${migrations.length} migration(s): run \`afterwork migrate`) })
    await check.migrate({ apply: true })
    await check.close()
    const again = postgres({ url: url as string, schema: `${schema}_check`, migrate: 'check', max: 1 })
    await expect(again.migrate()).resolves.toBeUndefined()
    await again.close()
  })
})
