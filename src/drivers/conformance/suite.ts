// The driver conformance suite: every QueueDriver, memory included, runs it. New driver behaviour
// starts here as a test. Not exported from the package.
import { Worker as Thread } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { uuidv7 } from '../../core/ids.js'
import type { JobInsert, QueueDriver } from '../../queue/driver.js'

export interface ConformanceTarget {
  /** A fresh, empty store; a second call with the same key opens another connection to the same store. */
  open(key?: string): Promise<QueueDriver>
  /**
   * How to open the same store from another thread (SQLite): the module and factory export the
   * claimer thread imports, and the options it passes. Absent: the claimers share `open(key)`
   * connections in this thread.
   */
  thread?: (key: string) => { module: string; factory: string; options: unknown }
}

const T0 = Date.parse('2026-03-01T00:00:00Z')
const tsxInThread = new URL('../../core/offload/fixtures/tsx-in-thread.mjs', import.meta.url).href

let n = 0
function job(overrides: Partial<JobInsert> = {}): JobInsert {
  return {
    id: uuidv7(T0),
    queue: 'default',
    name: 'conformance',
    payload: JSON.stringify({ n: n++ }),
    priority: 0,
    runAt: T0,
    maxAttempts: 3,
    ...overrides,
  }
}

const claim = (driver: QueueDriver, opts: { now?: number; limit?: number; workerId?: string; names?: string[]; lease?: number } = {}) =>
  driver.jobClaim({
    queue: 'default',
    names: opts.names ?? ['conformance'],
    workerId: opts.workerId ?? 'w1',
    limit: opts.limit ?? 10,
    lease: opts.lease ?? 6_000,
    now: opts.now ?? T0,
  })

/** Runs the whole contract against one driver. */
export function runDriverConformance(name: string, target: ConformanceTarget): void {
  describe(`QueueDriver conformance: ${name}`, () => {
    it('stores a job and returns it by id; unknown ids are null', async () => {
      const d = await target.open()
      const j = job({ payload: '{"to":"ada@example.com"}' })
      expect(await d.jobInsertMany({ jobs: [j], now: T0 })).toEqual([{ id: j.id, inserted: true }])
      expect(await d.jobGet({ id: j.id })).toMatchObject({ id: j.id, state: 'queued', attempt: 0, payload: '{"to":"ada@example.com"}', createdAt: T0 })
      expect(await d.jobGet({ id: 'nope' })).toBeNull()
      await d.close()
    })

    it('hands each job to exactly one of 8 claimers draining 2,000 jobs', async () => {
      const key = `exclusive-${uuidv7(Date.now())}`
      const d = await target.open(key)
      const jobs = Array.from({ length: 2_000 }, () => job({ runAt: 0 }))
      for (let i = 0; i < jobs.length; i += 500) await d.jobInsertMany({ jobs: jobs.slice(i, i + 500), now: 0 })
      const claimers = Array.from({ length: 8 }, (_, i) => claimer(target, key, `claimer-${i}`))
      const claimed = (await Promise.all(claimers)).flat()
      expect(claimed).toHaveLength(2_000)
      expect(new Set(claimed).size).toBe(2_000)
      expect((await d.jobCounts()).filter((c) => c.state === 'succeeded').reduce((a, c) => a + c.count, 0)).toBe(2_000)
      await d.close()
    }, 60_000)

    it('claims by priority (higher first), then run time, then id, and only due jobs', async () => {
      const d = await target.open()
      const low = job({ priority: 0, runAt: T0 - 2 })
      const high = job({ priority: 5, runAt: T0 })
      const older = job({ priority: 0, runAt: T0 - 5 })
      const later = job({ priority: 9, runAt: T0 + 60_000 })
      await d.jobInsertMany({ jobs: [low, high, older, later], now: T0 - 10 })
      expect((await d.jobGet({ id: later.id }))?.state).toBe('scheduled')
      expect((await claim(d)).map((r) => r.id)).toEqual([high.id, older.id, low.id])
      expect(await claim(d, { now: T0 + 59_999 })).toEqual([])
      expect((await claim(d, { now: T0 + 60_000 })).map((r) => r.id)).toEqual([later.id])
      await d.close()
    })

    it('claims only the task names asked for; others stay queued', async () => {
      const d = await target.open()
      const other = job({ name: 'unregistered' })
      await d.jobInsertMany({ jobs: [other, job()], now: T0 })
      expect((await claim(d)).map((r) => r.name)).toEqual(['conformance'])
      expect((await d.jobGet({ id: other.id }))?.state).toBe('queued')
      await d.close()
    })

    it('marks a claimed job running with its attempt, worker and lease', async () => {
      const d = await target.open()
      const j = job()
      await d.jobInsertMany({ jobs: [j], now: T0 })
      const [row] = await claim(d, { workerId: 'host:svc:0', lease: 6_000 })
      expect(row).toMatchObject({ id: j.id, state: 'running', attempt: 1, workerId: 'host:svc:0', leaseUntil: T0 + 6_000, startedAt: T0 })
      await d.close()
    })

    it('extends leases by heartbeat and reports jobs the worker no longer owns', async () => {
      const d = await target.open()
      const j = job()
      await d.jobInsertMany({ jobs: [j], now: T0 })
      await claim(d, { workerId: 'w1' })
      expect(await d.jobHeartbeat({ workerId: 'w1', ids: [j.id, 'gone'], lease: 6_000, now: T0 + 2_000 })).toEqual({ cancelRequested: [], lost: ['gone'] })
      expect((await d.jobGet({ id: j.id }))?.leaseUntil).toBe(T0 + 8_000)
      expect(await d.jobHeartbeat({ workerId: 'w2', ids: [j.id], lease: 6_000, now: T0 + 2_000 })).toEqual({ cancelRequested: [], lost: [j.id] })
      await d.close()
    })

    it('rescues a job whose lease expired: queued again, or failed on its last attempt', async () => {
      const d = await target.open()
      const again = job({ maxAttempts: 2 })
      const last = job({ maxAttempts: 1 })
      await d.jobInsertMany({ jobs: [again, last], now: T0 })
      await claim(d, { lease: 6_000 })
      expect(await d.jobRescue({ now: T0 + 6_000 })).toBe(0)
      expect(await d.jobRescue({ now: T0 + 6_001 })).toBe(2)
      expect(await d.jobGet({ id: again.id })).toMatchObject({ state: 'queued', workerId: null, error: { name: 'LeaseExpired' } })
      expect(await d.jobGet({ id: last.id })).toMatchObject({ state: 'failed', finishedAt: T0 + 6_001 })
      // The dead worker's late completion is ignored.
      await d.jobCompleteMany({ workerId: 'w1', completions: [{ id: again.id, outcome: 'succeeded', result: null }], now: T0 + 7_000 })
      expect((await d.jobGet({ id: again.id }))?.state).toBe('queued')
      expect((await claim(d, { now: T0 + 7_000, workerId: 'w2' })).map((r) => [r.id, r.attempt])).toEqual([[again.id, 2]])
      await d.close()
    })

    it('records outcomes in batches: succeeded with result, retrying at its backoff time, failed after the last attempt', async () => {
      const d = await target.open()
      const ok = job()
      const flaky = job({ maxAttempts: 2 })
      await d.jobInsertMany({ jobs: [ok, flaky], now: T0 })
      await claim(d)
      const error = { name: 'Error', message: 'boom' }
      await d.jobCompleteMany({
        workerId: 'w1',
        completions: [
          { id: ok.id, outcome: 'succeeded', result: '{"rows":3}' },
          { id: flaky.id, outcome: 'failed', error, retryAt: T0 + 1_000 },
        ],
        now: T0 + 10,
      })
      expect(await d.jobGet({ id: ok.id })).toMatchObject({ state: 'succeeded', result: '{"rows":3}', finishedAt: T0 + 10 })
      expect(await d.jobGet({ id: flaky.id })).toMatchObject({ state: 'retrying', runAt: T0 + 1_000, error, finishedAt: null })
      expect(await claim(d, { now: T0 + 999 })).toEqual([])
      expect((await claim(d, { now: T0 + 1_000 })).map((r) => r.attempt)).toEqual([2])
      await d.jobCompleteMany({ workerId: 'w1', completions: [{ id: flaky.id, outcome: 'failed', error }], now: T0 + 1_010 })
      expect(await d.jobGet({ id: flaky.id })).toMatchObject({ state: 'failed', attempt: 2, finishedAt: T0 + 1_010 })
      expect((await d.jobRetry({ id: flaky.id, now: T0 + 2_000 }))?.state).toBe('queued')
      expect(await d.jobRetry({ id: ok.id, now: T0 + 2_000 })).toBeNull()
      await d.close()
    })

    it('puts back snoozed and released jobs without counting the attempt', async () => {
      const d = await target.open()
      const snoozed = job()
      const released = job()
      await d.jobInsertMany({ jobs: [snoozed, released], now: T0 })
      await claim(d)
      await d.jobCompleteMany({
        workerId: 'w1',
        completions: [
          { id: snoozed.id, outcome: 'snoozed', runAt: T0 + 30_000 },
          { id: released.id, outcome: 'released' },
        ],
        now: T0,
      })
      expect(await d.jobGet({ id: snoozed.id })).toMatchObject({ state: 'scheduled', attempt: 0, runAt: T0 + 30_000 })
      expect(await d.jobGet({ id: released.id })).toMatchObject({ state: 'queued', attempt: 0 })
      await d.close()
    })

    it('refuses a second live job with the same unique key and frees the key when it finishes', async () => {
      const d = await target.open()
      const first = job({ uniqueKey: 'report:2026-03-01' })
      const second = job({ uniqueKey: 'report:2026-03-01' })
      expect(await d.jobInsertMany({ jobs: [first], now: T0 })).toEqual([{ id: first.id, inserted: true }])
      expect(await d.jobInsertMany({ jobs: [second], now: T0 })).toEqual([{ id: second.id, inserted: false, conflictId: first.id }])
      expect(await d.jobGet({ id: second.id })).toBeNull()
      await claim(d)
      await d.jobCompleteMany({ workerId: 'w1', completions: [{ id: first.id, outcome: 'succeeded', result: null }], now: T0 })
      expect((await d.jobInsertMany({ jobs: [second], now: T0 }))[0]?.inserted).toBe(true)
      await d.close()
    })

    it('starts at most rateLimit jobs per window across claimers', async () => {
      const d = await target.open()
      const jobs = Array.from({ length: 10 }, () => job({ rateKey: 'conformance:api', rateLimit: 3, ratePer: 1_000 }))
      await d.jobInsertMany({ jobs, now: T0 })
      const started: number[] = []
      for (let t = 0; t < 4_000; t += 250) {
        const a = await claim(d, { now: T0 + t, workerId: 'a' })
        const b = await claim(d, { now: T0 + t, workerId: 'b' })
        for (let i = 0; i < a.length + b.length; i++) started.push(t)
      }
      expect(started).toHaveLength(10)
      for (const t of started) expect(started.filter((s) => s > t - 1_000 && s <= t).length).toBeLessThanOrEqual(3)
      await d.close()
    })

    it('runs at most concurrencyLimit jobs with one key at once', async () => {
      const d = await target.open()
      const same = Array.from({ length: 4 }, () => job({ concurrencyKey: 'conformance:tenant-1', concurrencyLimit: 2 }))
      const other = job({ concurrencyKey: 'conformance:tenant-2', concurrencyLimit: 2 })
      await d.jobInsertMany({ jobs: [...same, other], now: T0 })
      const first = await claim(d)
      expect(first).toHaveLength(3)
      expect(await claim(d)).toEqual([])
      await d.jobCompleteMany({ workerId: 'w1', completions: [{ id: first[0]?.id as string, outcome: 'succeeded', result: null }], now: T0 })
      expect(await claim(d)).toHaveLength(1)
      await d.close()
    })

    it('cancels a waiting job at once and flags a running one for its worker, through another connection', async () => {
      const key = `cancel-${uuidv7(Date.now())}`
      const d = await target.open(key)
      const other = await target.open(key)
      const waiting = job({ runAt: T0 + 60_000 })
      const running = job()
      await d.jobInsertMany({ jobs: [waiting, running], now: T0 })
      await claim(d)
      expect((await other.jobCancel({ id: waiting.id, now: T0 }))?.state).toBe('cancelled')
      expect((await other.jobCancel({ id: running.id, now: T0 }))?.state).toBe('cancelling')
      expect(await d.jobHeartbeat({ workerId: 'w1', ids: [running.id], lease: 6_000, now: T0 })).toEqual({ cancelRequested: [running.id], lost: [] })
      await d.jobCompleteMany({ workerId: 'w1', completions: [{ id: running.id, outcome: 'cancelled' }], now: T0 })
      expect((await d.jobGet({ id: running.id }))?.state).toBe('cancelled')
      expect(await other.jobCancel({ id: 'nope' })).toBeNull()
      await other.close()
      await d.close()
    })

    it('lets an identity be taken over only when its heartbeat is older than the lease, reclaiming its jobs', async () => {
      const d = await target.open()
      const j = job()
      await d.jobInsertMany({ jobs: [j], now: T0 })
      expect(await d.workerHeartbeat({ workerId: 'host:svc:0', service: 'svc', lease: 6_000, takeover: true, now: T0 })).toEqual({ ok: true, reclaimed: 0 })
      await claim(d, { workerId: 'host:svc:0' })
      expect(await d.workerHeartbeat({ workerId: 'host:svc:0', service: 'svc', lease: 6_000, takeover: true, now: T0 + 5_999 })).toEqual({ ok: false, reclaimed: 0 })
      expect(await d.workerHeartbeat({ workerId: 'host:svc:0', service: 'svc', lease: 6_000, takeover: true, now: T0 + 6_001 })).toEqual({ ok: true, reclaimed: 1 })
      expect((await d.jobGet({ id: j.id }))?.state).toBe('queued')
      await d.workerRemove({ workerId: 'host:svc:0' })
      expect((await d.workerHeartbeat({ workerId: 'host:svc:0', service: 'svc', lease: 6_000, takeover: true, now: T0 + 6_002 })).ok).toBe(true)
      await d.close()
    })

    it('fires each schedule slot once, with its job, and remembers the last slot', async () => {
      const d = await target.open()
      const first = await d.scheduleFire({ schedule: 'digest', slot: T0, job: job(), now: T0 })
      const again = await d.scheduleFire({ schedule: 'digest', slot: T0, job: job(), now: T0 })
      expect(first.won).toBe(true)
      expect(again).toEqual({ won: false })
      expect((await d.jobGet({ id: first.jobId as string }))?.state).toBe('queued')
      await d.scheduleFire({ schedule: 'digest', slot: T0 + 60_000, job: job(), now: T0 })
      expect(await d.scheduleLastSlot({ schedule: 'digest' })).toBe(T0 + 60_000)
      expect(await d.scheduleLastSlot({ schedule: 'other' })).toBeNull()
      await d.close()
    })

    it("prunes old schedule slots but each schedule's last, so a weekly schedule still resumes after a restart", async () => {
      const d = await target.open()
      const week = 7 * 86_400_000
      await d.scheduleFire({ schedule: 'weekly', slot: T0, job: job(), now: T0 })
      await d.scheduleFire({ schedule: 'weekly', slot: T0 + week, job: job(), now: T0 + week })
      await d.scheduleFire({ schedule: 'minutely', slot: T0, job: job(), now: T0 })
      await d.scheduleFire({ schedule: 'minutely', slot: T0 + 60_000, job: job(), now: T0 + 60_000 })
      await d.jobPrune({ before: T0 + 2 * week, limit: 100 })
      expect(await d.scheduleLastSlot({ schedule: 'weekly' })).toBe(T0 + week)
      expect(await d.scheduleLastSlot({ schedule: 'minutely' })).toBe(T0 + 60_000)
      // The older slots are gone: firing one again (a schedule never would) is no longer refused.
      expect((await d.scheduleFire({ schedule: 'weekly', slot: T0, job: job(), now: T0 + 2 * week })).won).toBe(true)
      expect((await d.scheduleFire({ schedule: 'minutely', slot: T0, job: job(), now: T0 + 2 * week })).won).toBe(true)
      await d.close()
    })

    it('records progress, lists newest first, counts by state, and prunes old finished jobs', async () => {
      const d = await target.open()
      const jobs = [job(), job(), job()]
      await d.jobInsertMany({ jobs, now: T0 })
      const [a] = await claim(d, { limit: 1 })
      await d.jobProgress({ id: a?.id as string, workerId: 'w1', fraction: 0.5, message: 'half' })
      expect((await d.jobGet({ id: a?.id as string }))?.progress).toEqual({ fraction: 0.5, message: 'half' })
      await d.jobCompleteMany({ workerId: 'w1', completions: [{ id: a?.id as string, outcome: 'succeeded', result: null }], now: T0 + 100 })
      expect((await d.jobList({ limit: 10 })).map((r) => r.id)).toEqual([...jobs].reverse().map((j) => j.id))
      expect((await d.jobList({ limit: 10, state: 'queued' })).map((r) => r.id)).toEqual([jobs[2]?.id, jobs[1]?.id])
      expect((await d.jobList({ limit: 1, before: jobs[2]?.id })).map((r) => r.id)).toEqual([jobs[1]?.id])
      const counts = Object.fromEntries((await d.jobCounts()).map((c) => [c.state, c.count]))
      expect(counts).toEqual({ queued: 2, succeeded: 1 })
      expect(await d.jobPrune({ before: T0 + 100, limit: 100 })).toBe(0)
      expect(await d.jobPrune({ before: T0 + 101, limit: 100 })).toBe(1)
      expect(await d.jobGet({ id: a?.id as string })).toBeNull()
      await d.close()
    })

    it('deletes discarded succeeded jobs it owns, keeps rate-keyed ones as succeeded, and writes a mixed batch whole', async () => {
      const d = await target.open()
      const [plain, keyed, kept, failing, other] = [job(), job({ rateKey: 'conformance:discard', rateLimit: 100, ratePer: 1_000 }), job(), job(), job()]
      await d.jobInsertMany({ jobs: [plain, keyed, kept, failing, other], now: T0 })
      const mine = await claim(d, { limit: 4 })
      expect(mine.map((r) => r.id).sort()).toEqual([plain, keyed, kept, failing].map((j) => j.id).sort())
      const [theirs] = await claim(d, { workerId: 'w2', limit: 1 })
      expect(theirs?.id).toBe(other.id)
      // w1 cannot discard w2's job; the batch mixes kept, discarded and failed outcomes.
      await d.jobCompleteMany({
        workerId: 'w1',
        completions: [
          { id: plain.id, outcome: 'succeeded', result: null, discard: true },
          { id: keyed.id, outcome: 'succeeded', result: '1', discard: true },
          { id: kept.id, outcome: 'succeeded', result: '2' },
          { id: failing.id, outcome: 'failed', error: { name: 'Error', message: 'no' } },
          { id: other.id, outcome: 'succeeded', result: null, discard: true },
        ],
        now: T0 + 10,
      })
      expect(await d.jobGet({ id: plain.id })).toBeNull()
      expect(await d.jobGet({ id: keyed.id })).toMatchObject({ state: 'succeeded', result: '1', workerId: null })
      expect(await d.jobGet({ id: kept.id })).toMatchObject({ state: 'succeeded', result: '2', finishedAt: T0 + 10 })
      expect(await d.jobGet({ id: failing.id })).toMatchObject({ state: 'failed' })
      expect(await d.jobGet({ id: other.id })).toMatchObject({ state: 'running', workerId: 'w2' })
      // An all-discarded batch (the common one) on its own.
      await d.jobCompleteMany({ workerId: 'w2', completions: [{ id: other.id, outcome: 'succeeded', result: null, discard: true }], now: T0 + 20 })
      expect(await d.jobGet({ id: other.id })).toBeNull()
      await d.close()
    })

    it('prunes succeeded jobs on their own retention when it is given', async () => {
      const d = await target.open()
      const [ok, bad] = [job(), job()]
      await d.jobInsertMany({ jobs: [ok, bad], now: T0 })
      await claim(d, { limit: 2 })
      await d.jobCompleteMany({
        workerId: 'w1',
        completions: [
          { id: ok.id, outcome: 'succeeded', result: null },
          { id: bad.id, outcome: 'failed', error: { name: 'Error', message: 'no' } },
        ],
        now: T0 + 100,
      })
      // Failed jobs kept past the cutoff that prunes succeeded ones, and the other way round.
      expect(await d.jobPrune({ before: T0 + 100, succeededBefore: T0 + 101, limit: 100 })).toBe(1)
      expect(await d.jobGet({ id: ok.id })).toBeNull()
      expect(await d.jobGet({ id: bad.id })).toMatchObject({ state: 'failed' })
      expect(await d.jobPrune({ before: T0 + 101, succeededBefore: T0, limit: 100 })).toBe(1)
      expect(await d.jobGet({ id: bad.id })).toBeNull()
      await d.close()
    })
  })
}

async function claimer(target: ConformanceTarget, key: string, workerId: string): Promise<string[]> {
  if (!target.thread) {
    const d = await target.open(key)
    const claimed: string[] = []
    for (let empty = 0; empty < 3; ) {
      const rows = await d.jobClaim({ queue: 'default', names: ['conformance'], workerId, limit: 10, lease: 60_000 })
      if (rows.length === 0) {
        empty++
        await new Promise((resolve) => setImmediate(resolve))
        continue
      }
      empty = 0
      claimed.push(...rows.map((r) => r.id))
      await d.jobCompleteMany({ workerId, completions: rows.map((r) => ({ id: r.id, outcome: 'succeeded' as const, result: null })) })
    }
    return claimed
  }
  const thread = new Thread(new URL('./claimer-thread.ts', import.meta.url), {
    workerData: { ...target.thread(key), workerId, batch: 10 },
    execArgv: ['--import', tsxInThread],
  })
  const [claimed] = (await Promise.race([
    new Promise((resolve) => thread.once('message', (m) => resolve([m]))),
    new Promise((_, reject) => thread.once('error', reject)),
  ])) as [string[]]
  await thread.terminate()
  return claimed
}
