import type { JobState } from '../../core/job-state.js'
import { pickClaimable } from '../../queue/claim-rules.js'
import {
  liveStates,
  type Completion,
  type JobCount,
  type JobInsert,
  type JobInsertResult,
  type JobRow,
  type QueueDriver,
} from '../../queue/driver.js'
import { LEASE_EXPIRED } from '../job-row.js'

interface StoredJob extends JobRow {
  rateKey: string | null
  rateLimit: number | null
  ratePer: number | null
  concurrencyKey: string | null
  concurrencyLimit: number | null
}

const claimable: ReadonlySet<JobState> = new Set(['scheduled', 'queued', 'retrying'])
const runningStates: ReadonlySet<JobState> = new Set(['running', 'cancelling'])
const live: ReadonlySet<JobState> = new Set(liveStates)
const finished: ReadonlySet<JobState> = new Set(['succeeded', 'failed', 'cancelled'])

/**
 * A complete queue driver in memory, for tests and development (Oban's inline engine idea): the same
 * contract and conformance suite as SQLite and PostgreSQL, nothing durable. One instance is one
 * store; share it between services to simulate several processes.
 */
export function memory(): QueueDriver {
  return new MemoryDriver()
}

class MemoryDriver implements QueueDriver {
  readonly kind = 'memory'
  readonly #jobs = new Map<string, StoredJob>()
  readonly #unique = new Map<string, string>()
  readonly #workers = new Map<string, { service: string; heartbeatAt: number }>()
  /** Fired schedule slots by `schedule\0slot`: the schedule, the slot and when it fired. */
  readonly #slots = new Map<string, { schedule: string; slot: number; firedAt: number }>()

  async migrate(): Promise<void> {}

  async close(): Promise<void> {}

  async jobInsertMany({ jobs, now = Date.now() }: { jobs: readonly JobInsert[]; now?: number }): Promise<JobInsertResult[]> {
    return jobs.map((job) => this.#insert(job, now))
  }

  #insert(job: JobInsert, now: number): JobInsertResult {
    if (job.uniqueKey !== undefined) {
      const holder = this.#unique.get(job.uniqueKey)
      if (holder !== undefined && live.has((this.#jobs.get(holder) as StoredJob).state)) {
        return { id: job.id, inserted: false, conflictId: holder }
      }
      this.#unique.set(job.uniqueKey, job.id)
    }
    this.#jobs.set(job.id, {
      id: job.id,
      queue: job.queue,
      name: job.name,
      payload: job.payload,
      state: job.runAt > now ? 'scheduled' : 'queued',
      priority: job.priority,
      attempt: 0,
      maxAttempts: job.maxAttempts,
      runAt: job.runAt,
      createdAt: now,
      startedAt: null,
      finishedAt: null,
      workerId: null,
      leaseUntil: null,
      cancelRequested: false,
      uniqueKey: job.uniqueKey ?? null,
      result: null,
      error: null,
      progress: null,
      timeoutMs: job.timeoutMs ?? null,
      rateKey: job.rateKey ?? null,
      rateLimit: job.rateLimit ?? null,
      ratePer: job.ratePer ?? null,
      concurrencyKey: job.concurrencyKey ?? null,
      concurrencyLimit: job.concurrencyLimit ?? null,
    })
    return { id: job.id, inserted: true }
  }

  async jobClaim(params: { queue: string; names: readonly string[]; workerId: string; limit: number; lease: number; now?: number }): Promise<JobRow[]> {
    const now = params.now ?? Date.now()
    const names = new Set(params.names)
    const candidates = [...this.#jobs.values()]
      .filter((j) => j.queue === params.queue && names.has(j.name) && claimable.has(j.state) && j.runAt <= now)
      .sort((a, b) => b.priority - a.priority || a.runAt - b.runAt || (a.id < b.id ? -1 : 1))
    const picked = pickClaimable(
      candidates,
      params.limit,
      (key, since) => this.#count((j) => j.rateKey === key && j.startedAt !== null && j.startedAt > since),
      (key) => this.#count((j) => j.concurrencyKey === key && runningStates.has(j.state)),
      now,
    )
    for (const job of picked) {
      job.state = 'running'
      job.attempt++
      job.startedAt = now
      job.workerId = params.workerId
      job.leaseUntil = now + params.lease
    }
    return picked.map(publicRow)
  }

  async jobHeartbeat(params: { workerId: string; ids: readonly string[]; lease: number; now?: number }) {
    const now = params.now ?? Date.now()
    const cancelRequested: string[] = []
    const lost: string[] = []
    for (const id of params.ids) {
      const job = this.#jobs.get(id)
      if (!job || job.workerId !== params.workerId || !runningStates.has(job.state)) {
        lost.push(id)
        continue
      }
      job.leaseUntil = now + params.lease
      if (job.cancelRequested) cancelRequested.push(id)
    }
    return { cancelRequested, lost }
  }

  async jobCompleteMany(params: { workerId: string; completions: readonly Completion[]; now?: number }): Promise<void> {
    const now = params.now ?? Date.now()
    for (const c of params.completions) {
      const job = this.#jobs.get(c.id)
      if (!job || job.workerId !== params.workerId || !runningStates.has(job.state)) continue
      job.workerId = null
      job.leaseUntil = null
      switch (c.outcome) {
        case 'succeeded':
          // Kept when its start counts against a rate window.
          if (c.discard && job.rateKey === null) {
            this.#forget(c.id, job)
            break
          }
          job.state = 'succeeded'
          job.result = c.result
          job.finishedAt = now
          break
        case 'failed':
          job.error = c.error
          if (c.retryAt !== undefined && !job.cancelRequested) {
            job.state = 'retrying'
            job.runAt = c.retryAt
          } else {
            job.state = job.cancelRequested ? 'cancelled' : 'failed'
            job.finishedAt = now
          }
          break
        case 'cancelled':
          job.state = 'cancelled'
          job.error = c.error ?? null
          job.finishedAt = now
          break
        case 'snoozed':
          job.state = 'scheduled'
          job.runAt = c.runAt
          job.attempt--
          break
        case 'released':
          job.state = job.cancelRequested ? 'cancelled' : 'queued'
          if (job.state === 'cancelled') job.finishedAt = now
          job.attempt--
          break
      }
    }
  }

  async jobRescue(params: { now?: number; limit?: number }): Promise<number> {
    const now = params.now ?? Date.now()
    let rescued = 0
    for (const job of this.#jobs.values()) {
      if (!runningStates.has(job.state) || job.leaseUntil === null || job.leaseUntil >= now) continue
      if (params.limit !== undefined && rescued >= params.limit) break
      this.#rescue(job, now)
      rescued++
    }
    return rescued
  }

  #rescue(job: StoredJob, now: number): void {
    job.workerId = null
    job.leaseUntil = null
    job.error = { ...LEASE_EXPIRED }
    if (job.cancelRequested) {
      job.state = 'cancelled'
      job.finishedAt = now
    } else if (job.attempt >= job.maxAttempts) {
      job.state = 'failed'
      job.finishedAt = now
    } else {
      job.state = 'queued'
      job.runAt = now
    }
  }

  async jobCancel(params: { id: string; now?: number }): Promise<JobRow | null> {
    const now = params.now ?? Date.now()
    const job = this.#jobs.get(params.id)
    if (!job) return null
    if (claimable.has(job.state)) {
      job.state = 'cancelled'
      job.finishedAt = now
    } else if (job.state === 'running') {
      job.state = 'cancelling'
      job.cancelRequested = true
    }
    return publicRow(job)
  }

  async jobRetry(params: { id: string; now?: number }): Promise<JobRow | null> {
    const now = params.now ?? Date.now()
    const job = this.#jobs.get(params.id)
    if (!job || (job.state !== 'failed' && job.state !== 'cancelled')) return null
    if (job.uniqueKey !== null) {
      const holder = this.#unique.get(job.uniqueKey)
      if (holder !== undefined && holder !== job.id && live.has((this.#jobs.get(holder) as StoredJob).state)) return null
      this.#unique.set(job.uniqueKey, job.id)
    }
    Object.assign(job, { state: 'queued', attempt: 0, runAt: now, finishedAt: null, cancelRequested: false, error: null, result: null })
    return publicRow(job)
  }

  async jobGet(params: { id: string }): Promise<JobRow | null> {
    const job = this.#jobs.get(params.id)
    return job ? publicRow(job) : null
  }

  async jobList(params: { queue?: string; name?: string; state?: JobState; limit: number; before?: string }): Promise<JobRow[]> {
    return [...this.#jobs.values()]
      .filter(
        (j) =>
          (params.queue === undefined || j.queue === params.queue) &&
          (params.name === undefined || j.name === params.name) &&
          (params.state === undefined || j.state === params.state) &&
          (params.before === undefined || j.id < params.before),
      )
      .sort((a, b) => (a.id < b.id ? 1 : -1))
      .slice(0, params.limit)
      .map(publicRow)
  }

  async jobCounts(params: { queue?: string } = {}): Promise<JobCount[]> {
    const counts = new Map<string, JobCount>()
    for (const j of this.#jobs.values()) {
      if (params.queue !== undefined && j.queue !== params.queue) continue
      const key = `${j.queue}\0${j.name}\0${j.state}`
      const entry = counts.get(key) ?? { queue: j.queue, name: j.name, state: j.state, count: 0 }
      entry.count++
      counts.set(key, entry)
    }
    return [...counts.values()]
  }

  async jobProgress(params: { id: string; workerId: string; fraction: number; message?: string }): Promise<void> {
    const job = this.#jobs.get(params.id)
    if (!job || job.workerId !== params.workerId) return
    job.progress = { fraction: params.fraction, ...(params.message === undefined ? {} : { message: params.message }) }
  }

  async jobPrune(params: { before: number; succeededBefore?: number; limit: number }): Promise<number> {
    let pruned = 0
    for (const [id, job] of this.#jobs) {
      if (pruned >= params.limit) break
      const before = job.state === 'succeeded' ? (params.succeededBefore ?? params.before) : params.before
      if (!finished.has(job.state) || (job.finishedAt ?? 0) >= before) continue
      this.#forget(id, job)
      pruned++
    }
    // Old slots go too, but each schedule's last stays: a restart resumes after it.
    const last = new Map<string, number>()
    for (const { schedule, slot } of this.#slots.values()) last.set(schedule, Math.max(slot, last.get(schedule) ?? slot))
    for (const [key, { schedule, slot, firedAt }] of this.#slots) if (firedAt < params.before && slot < (last.get(schedule) as number)) this.#slots.delete(key)
    return pruned
  }

  #forget(id: string, job: StoredJob): void {
    this.#jobs.delete(id)
    if (job.uniqueKey !== null && this.#unique.get(job.uniqueKey) === id) this.#unique.delete(job.uniqueKey)
  }

  async workerHeartbeat(params: { workerId: string; service: string; lease: number; takeover: boolean; now?: number }) {
    const now = params.now ?? Date.now()
    const current = this.#workers.get(params.workerId)
    if (params.takeover && current && current.heartbeatAt > now - params.lease) return { ok: false, reclaimed: 0 }
    let reclaimed = 0
    if (params.takeover) {
      for (const job of this.#jobs.values()) {
        if (job.workerId === params.workerId && runningStates.has(job.state)) {
          this.#rescue(job, now)
          reclaimed++
        }
      }
    }
    this.#workers.set(params.workerId, { service: params.service, heartbeatAt: now })
    return { ok: true, reclaimed }
  }

  async workerRemove(params: { workerId: string }): Promise<void> {
    this.#workers.delete(params.workerId)
  }

  async scheduleFire(params: { schedule: string; slot: number; job: JobInsert; now?: number }) {
    const key = `${params.schedule}\0${params.slot}`
    if (this.#slots.has(key)) return { won: false }
    const result = this.#insert(params.job, params.now ?? Date.now())
    this.#slots.set(key, { schedule: params.schedule, slot: params.slot, firedAt: params.now ?? Date.now() })
    return { won: true, jobId: result.inserted ? result.id : result.conflictId }
  }

  async scheduleLastSlot(params: { schedule: string }): Promise<number | null> {
    let last: number | null = null
    for (const { schedule, slot } of this.#slots.values()) if (schedule === params.schedule && (last === null || slot > last)) last = slot
    return last
  }

  #count(predicate: (job: StoredJob) => boolean): number {
    let n = 0
    for (const job of this.#jobs.values()) if (predicate(job)) n++
    return n
  }
}

function publicRow(job: StoredJob): JobRow {
  const { rateKey: _r, rateLimit: _l, ratePer: _p, concurrencyKey: _c, concurrencyLimit: _cl, ...row } = job
  return { ...row, ...(row.error ? { error: { ...row.error } } : {}), ...(row.progress ? { progress: { ...row.progress } } : {}) }
}
