import { hostname } from 'node:os'
import { TIMER_CANCELLED, withDeadline, type Clock } from '../core/clock.js'
import { deferred, type Deferred } from '../core/deferred.js'
import { toMs, type Duration } from '../core/duration.js'
import { AfterworkError, ShutdownError, invalidOption } from '../core/errors.js'
import type { Events } from '../core/events.js'
import type { Logger } from '../core/logger.js'
import { toErrorInfo, type RunContext } from '../core/run-context.js'
import { validateWith } from '../core/validate.js'
import type { Completion, JobRow } from './driver.js'
import type { Queue } from './queue.js'
import { isCancelJob, isSnooze } from './task.js'

export interface WorkerOptions {
  /** Jobs running at once, per queue: one number for every queue, or per queue name. @default 10 */
  concurrency?: number | Record<string, number>
  /** How long a claimed job is leased; renewed every lease/3. A worker silent for this long loses its jobs. @default '6s' */
  lease?: Duration
  /** How often an idle worker looks for jobs another process enqueued (without `listen`). @default '1s' */
  pollInterval?: Duration
  /** Jobs claimed per query at most. @default 100 */
  claimBatch?: number
  /** Completions written per transaction at most. @default 100 */
  completionBatch?: number
  /** Finished jobs are deleted after this long. @default '7d' */
  retention?: Duration
  /** This worker's identity. @default AFTERWORK_WORKER_ID, else hostname:service:index (the first free index) */
  workerId?: string
}

interface Running {
  row: JobRow
  queue: string
  controller: AbortController
  /** Why the signal was aborted, when it was. */
  abortedFor?: 'cancel' | 'lost' | 'timeout' | 'shutdown'
  /** Handed back or lost: its outcome must not be written. */
  detached: boolean
}

interface Pending {
  completion: Completion
  row: JobRow
  durationMs: number
  error?: unknown
}

const MAX_IDENTITY_INDEX = 1_000

/**
 * Runs durable jobs: claims in batches, runs handlers with a RunContext, writes outcomes in batches,
 * renews leases apart from handler code, rescues jobs whose worker died, and on stop hands back what
 * it could not finish. Delivery is at least once: a job running at a crash runs again.
 */
export class Worker {
  readonly #queue: Queue<unknown>
  readonly #clock: Clock
  readonly #log: Logger
  readonly #events: Events
  readonly #random: () => number
  readonly #service: string
  readonly #concurrency: number | Record<string, number>
  readonly #leaseMs: number
  readonly #pollMs: number
  readonly #claimBatch: number
  readonly #completionBatch: number
  readonly #retentionMs: number
  readonly #explicitId: string | undefined
  readonly #running = new Map<string, Running>()
  readonly #pending: Pending[] = []
  readonly #wakes = new Map<string, AbortController>()
  readonly #full = new Set<string>()
  /** Slots promised to claims still in flight, per queue: two concurrent claims must not overfill. */
  readonly #reserved = new Map<string, number>()
  readonly #stop = new AbortController()
  #workerId = ''
  #flushing: Promise<void> | undefined
  #flushScheduled = false
  #loops: Promise<void>[] = []
  #settled: Deferred<void> | undefined
  #offWake: (() => void) | undefined
  #started = false

  constructor(
    queue: Queue<unknown>,
    deps: { clock: Clock; log: Logger; events: Events; random: () => number; service: string },
    opts: WorkerOptions = {},
  ) {
    this.#queue = queue
    this.#clock = deps.clock
    this.#log = deps.log
    this.#events = deps.events
    this.#random = deps.random
    this.#service = deps.service
    this.#concurrency = opts.concurrency ?? 10
    this.#leaseMs = toMs(opts.lease ?? '6s', 'worker.lease')
    this.#pollMs = toMs(opts.pollInterval ?? '1s', 'worker.pollInterval')
    this.#claimBatch = opts.claimBatch ?? 100
    this.#completionBatch = opts.completionBatch ?? 100
    this.#retentionMs = toMs(opts.retention ?? '7d', 'worker.retention')
    this.#explicitId = opts.workerId ?? (process.env.AFTERWORK_WORKER_ID || undefined)
    if (!(this.#claimBatch >= 1)) invalidOption('worker.claimBatch', opts.claimBatch, 'a number >= 1')
    if (!(this.#completionBatch >= 1)) invalidOption('worker.completionBatch', opts.completionBatch, 'a number >= 1')
    if (this.#leaseMs < 300) invalidOption('worker.lease', opts.lease, 'at least 300 ms')
  }

  get workerId(): string {
    return this.#workerId
  }

  /** Jobs this worker is running now. */
  get running(): number {
    return this.#running.size
  }

  /** Registers the worker's identity, then starts claiming. */
  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    await this.#register()
    this.#offWake = this.#queue.onWake((queue) => this.#wake(queue))
    // Jobs enqueued by other processes: the driver's notifications where it has them ('*' wakes
    // every queue), polling (pollInterval) as the safety net either way.
    await this.#queue.driver.listen?.({
      onWake: (queue) => (queue === '*' ? [...this.#wakes.keys()].forEach((q) => this.#wake(q)) : this.#wake(queue)),
      signal: this.#stop.signal,
    })
    for (const [queue, names] of this.#queue.namesByQueue()) this.#loops.push(this.#claimLoop(queue, names))
    this.#loops.push(this.#every(this.#leaseMs / 3, () => this.#heartbeat()))
    this.#loops.push(this.#every(this.#leaseMs, () => this.#rescue()))
    this.#loops.push(this.#every(600_000, () => this.#prune()))
  }

  /**
   * Stops claiming, lets running jobs finish for `timeoutMs`, then aborts the rest and hands them
   * back at once (another worker may take them), writes every outcome and removes the identity.
   */
  async stop(timeoutMs: number): Promise<void> {
    if (!this.#started || this.#stop.signal.aborted) return
    this.#stop.abort(new ShutdownError())
    this.#offWake?.()
    for (const wake of this.#wakes.values()) wake.abort(TIMER_CANCELLED)
    await Promise.all(this.#loops)
    if ((await withDeadline(this.#clock, timeoutMs, this.#settle())).timedOut && this.#running.size > 0) {
      const released: Pending[] = []
      for (const run of this.#running.values()) {
        run.detached = true
        run.abortedFor ??= 'shutdown'
        run.controller.abort(new ShutdownError())
        released.push({ completion: { id: run.row.id, outcome: 'released' }, row: run.row, durationMs: 0 })
      }
      this.#log.warn({ jobs: released.map((r) => r.row.id) }, `${released.length} job(s) still running at the shutdown deadline; handed back`)
      this.#events.emit('shutdown:abandoned', { step: 'worker', detail: `${released.length} job(s) handed back to the queue` })
      this.#pending.push(...released)
      this.#running.clear()
    }
    await this.#flush()
    await this.#queue.driver.workerRemove({ workerId: this.#workerId }).catch((error: unknown) => this.#log.warn({ err: error }, 'could not remove the worker identity'))
  }

  /**
   * Runs until nothing is claimable now and nothing runs (jobs delayed into the future stay). For
   * tests: `await svc.queue.drain()`.
   */
  async drain(): Promise<void> {
    for (;;) {
      let claimed = 0
      for (const [queue, names] of this.#queue.namesByQueue()) claimed += await this.#claim(queue, names)
      if (claimed === 0 && this.#running.size === 0 && this.#pending.length === 0) return
      await this.#settle()
    }
  }

  async #register(): Promise<void> {
    const driver = this.#queue.driver
    const now = this.#queue.now
    const attempt = async (workerId: string) =>
      driver.workerHeartbeat({ workerId, service: this.#service, lease: this.#leaseMs, takeover: true, ...(now === undefined ? {} : { now }) })
    if (this.#explicitId !== undefined) {
      const result = await attempt(this.#explicitId)
      if (!result.ok) {
        throw new AfterworkError('ERR_QUEUE_WORKER_ID_IN_USE', `Worker id "${this.#explicitId}" is held by a live process (heartbeat younger than the lease)`)
      }
      this.#identity(this.#explicitId, result.reclaimed)
      return
    }
    for (let index = 0; index < MAX_IDENTITY_INDEX; index++) {
      const workerId = `${hostname()}:${this.#service}:${index}`
      const result = await attempt(workerId)
      if (result.ok) return this.#identity(workerId, result.reclaimed)
    }
    throw new AfterworkError('ERR_QUEUE_WORKER_ID_IN_USE', `All ${MAX_IDENTITY_INDEX} worker identities of "${this.#service}" on this host are live`)
  }

  #identity(workerId: string, reclaimed: number): void {
    this.#workerId = workerId
    this.#log.info({ workerId, reclaimed }, 'worker registered')
    if (reclaimed > 0) this.#events.emit('job:rescued', { count: reclaimed })
  }

  #concurrencyOf(queue: string): number {
    return typeof this.#concurrency === 'number' ? this.#concurrency : (this.#concurrency[queue] ?? 10)
  }

  #runningIn(queue: string): number {
    let n = this.#reserved.get(queue) ?? 0
    for (const run of this.#running.values()) if (run.queue === queue) n++
    return n
  }

  async #claimLoop(queue: string, names: string[]): Promise<void> {
    let failures = 0
    while (!this.#stop.signal.aborted) {
      const wake = new AbortController()
      this.#wakes.set(queue, wake)
      try {
        const limit = Math.min(this.#concurrencyOf(queue) - this.#runningIn(queue), this.#claimBatch)
        const claimed = limit > 0 ? await this.#claim(queue, names) : 0
        failures = 0
        // A full batch means more may be waiting: claim again at once, or when a slot frees.
        if (limit > 0 && claimed === limit && this.#runningIn(queue) < this.#concurrencyOf(queue)) continue
        if (this.#runningIn(queue) >= this.#concurrencyOf(queue) || claimed === limit) this.#full.add(queue)
      } catch (error) {
        failures++
        this.#log.error({ err: error, queue }, 'claiming jobs failed; retrying')
      }
      const waitMs = failures > 0 ? Math.min(30_000, this.#pollMs * 2 ** failures) : this.#pollMs
      await this.#clock.sleep(waitMs, wake.signal).catch(() => {})
    }
  }

  async #claim(queue: string, names: string[]): Promise<number> {
    const limit = Math.min(this.#concurrencyOf(queue) - this.#runningIn(queue), this.#claimBatch)
    if (limit <= 0 || this.#stop.signal.aborted) return 0
    const now = this.#queue.now
    this.#reserved.set(queue, (this.#reserved.get(queue) ?? 0) + limit)
    let rows: JobRow[]
    try {
      rows = await this.#queue.driver.jobClaim({
        queue,
        names,
        workerId: this.#workerId,
        limit,
        lease: this.#leaseMs,
        ...(now === undefined ? {} : { now }),
      })
    } finally {
      this.#reserved.set(queue, (this.#reserved.get(queue) as number) - limit)
    }
    for (const row of rows) this.#start(queue, row)
    return rows.length
  }

  #wake(queue: string): void {
    this.#wakes.get(queue)?.abort(TIMER_CANCELLED)
  }

  #start(queue: string, row: JobRow): void {
    const run: Running = { row, queue, controller: new AbortController(), detached: false }
    this.#running.set(row.id, run)
    this.#events.emit('job:running', { id: row.id, name: row.name, attempt: row.attempt, queue, lagMs: Math.max(0, (row.startedAt ?? row.runAt) - row.runAt) })
    const started = this.#clock.monotonic()
    void this.#execute(run).then(
      (completion) => this.#finish(run, completion, started, undefined),
      (error: unknown) => this.#finish(run, this.#failure(run, error), started, error),
    )
  }

  async #execute(run: Running): Promise<Completion> {
    const { row, controller } = run
    const def = this.#queue.definition(row.name)
    if (!def) throw new AfterworkError('ERR_QUEUE_UNKNOWN_TASK', `No task is named "${row.name}" in this worker`)
    let payload: unknown
    try {
      payload = await validateWith(def.schema, JSON.parse(row.payload), `payload of "${row.name}"`)
    } catch (error) {
      // A payload that no longer fits its schema will not fit on retry either.
      return { id: row.id, outcome: 'failed', error: toErrorInfo(error) }
    }
    const timeoutMs = row.timeoutMs ?? def.timeoutMs
    // Only a job with a timeout gets a timer: most jobs have none, and each costs an allocation.
    const timer = timeoutMs === undefined ? undefined : new AbortController()
    if (timer && timeoutMs !== undefined) {
      this.#clock.sleep(timeoutMs, timer.signal).then(
        () => {
          run.abortedFor ??= 'timeout'
          controller.abort(new AfterworkError('ERR_TIMEOUT', `Job "${row.name}" ran longer than its timeout (${timeoutMs} ms)`))
        },
        () => {},
      )
    }
    const ctx: RunContext = {
      id: row.id,
      signal: controller.signal,
      attempt: row.attempt,
      progress: (fraction, message) => this.#progress(run, fraction, message),
      log: this.#log.child({ task: row.name, jobId: row.id, attempt: row.attempt }),
    }
    try {
      const value = await def.handler(payload, ctx)
      if (isSnooze(value)) return { id: row.id, outcome: 'snoozed', runAt: this.#clock.now() + value.afterworkSnooze }
      if (isCancelJob(value)) return { id: row.id, outcome: 'cancelled', error: { name: 'Cancelled', message: value.afterworkCancel } }
      return { id: row.id, outcome: 'succeeded', result: value === undefined ? null : JSON.stringify(value) }
    } finally {
      timer?.abort(TIMER_CANCELLED)
    }
  }

  /** The completion for a handler that threw: cancelled when a cancel aborted it, else a retry or `failed`. */
  #failure(run: Running, error: unknown): Completion {
    const { row } = run
    if (run.abortedFor === 'cancel') return { id: row.id, outcome: 'cancelled', error: toErrorInfo(run.controller.signal.reason) }
    const info = toErrorInfo(run.abortedFor === 'timeout' ? run.controller.signal.reason : error)
    const def = this.#queue.definition(row.name)
    const delay = def?.retry.delayAfter(row.attempt, this.#random) ?? null
    return delay === null ? { id: row.id, outcome: 'failed', error: info } : { id: row.id, outcome: 'failed', error: info, retryAt: this.#clock.now() + delay }
  }

  #finish(run: Running, completion: Completion, started: number, error: unknown): void {
    if (this.#running.get(run.row.id) === run) this.#running.delete(run.row.id)
    if (!run.detached) {
      this.#pending.push({ completion, row: run.row, durationMs: this.#clock.monotonic() - started, error })
      this.#scheduleFlush()
    }
    if (this.#full.delete(run.queue)) this.#wake(run.queue)
    this.#checkSettled()
  }

  #scheduleFlush(): void {
    if (this.#pending.length >= this.#completionBatch) {
      void this.#flush()
      return
    }
    if (this.#flushScheduled) return
    this.#flushScheduled = true
    // Completions of jobs that finish in the same turn of the event loop share one transaction.
    setImmediate(() => {
      this.#flushScheduled = false
      void this.#flush()
    })
  }

  /** Writes pending outcomes in batches; a failed write keeps them for the next try (nothing is lost). */
  #flush(): Promise<void> {
    this.#flushing ??= (async () => {
      try {
        while (this.#pending.length > 0) {
          const batch = this.#pending.slice(0, this.#completionBatch)
          const now = this.#queue.now
          try {
            await this.#queue.driver.jobCompleteMany({ workerId: this.#workerId, completions: batch.map((p) => p.completion), ...(now === undefined ? {} : { now }) })
          } catch (error) {
            this.#log.error({ err: error, count: batch.length }, 'writing job outcomes failed; retrying')
            await this.#clock.sleep(Math.min(this.#leaseMs / 3, 1_000)).catch(() => {})
            continue
          }
          this.#pending.splice(0, batch.length)
          for (const p of batch) this.#report(p)
        }
      } finally {
        this.#flushing = undefined
        this.#checkSettled()
      }
    })()
    return this.#flushing
  }

  #report({ completion, row, durationMs, error }: Pending): void {
    const { id, name } = row
    switch (completion.outcome) {
      case 'succeeded':
        this.#events.emit('job:succeeded', { id, name, durationMs, queue: row.queue })
        break
      case 'failed':
        if (completion.retryAt !== undefined) {
          this.#log.warn({ err: error, task: name, jobId: id, attempt: row.attempt }, 'job attempt failed; retrying')
          this.#events.emit('job:retrying', { id, name, attempt: row.attempt, retryAt: new Date(completion.retryAt), error, queue: row.queue, durationMs })
        } else {
          this.#log.error({ err: error ?? completion.error, task: name, jobId: id, attempt: row.attempt }, 'job failed')
          this.#events.emit('job:failed', { id, name, durationMs, error: error ?? completion.error, queue: row.queue })
        }
        break
      case 'cancelled':
        this.#events.emit('job:cancelled', { id, name, durationMs })
        break
      default:
        break
    }
  }

  #progress(run: Running, fraction: number, message: string | undefined): void {
    if (!Number.isFinite(fraction) || run.detached) return
    const clamped = Math.min(1, Math.max(0, fraction))
    this.#queue.driver
      .jobProgress({ id: run.row.id, workerId: this.#workerId, fraction: clamped, ...(message === undefined ? {} : { message }) })
      .catch((error: unknown) => this.#log.warn({ err: error, jobId: run.row.id }, 'could not record progress'))
  }

  async #heartbeat(): Promise<void> {
    const driver = this.#queue.driver
    const now = this.#queue.now
    const at = now === undefined ? {} : { now }
    await driver.workerHeartbeat({ workerId: this.#workerId, service: this.#service, lease: this.#leaseMs, takeover: false, ...at })
    const ids = [...this.#running.keys()]
    if (ids.length === 0) return
    const { cancelRequested, lost } = await driver.jobHeartbeat({ workerId: this.#workerId, ids, lease: this.#leaseMs, ...at })
    for (const id of cancelRequested) {
      const run = this.#running.get(id)
      if (!run || run.controller.signal.aborted) continue
      run.abortedFor = 'cancel'
      run.controller.abort(new AfterworkError('ERR_JOB_CANCELLED', 'The job was cancelled'))
    }
    for (const id of lost) {
      const run = this.#running.get(id)
      if (!run) continue
      // Rescued by another worker after our lease ran out: stop it, and write nothing for it.
      run.detached = true
      run.abortedFor ??= 'lost'
      run.controller.abort(new AfterworkError('ERR_JOB_CANCELLED', 'This worker lost the job\'s lease; it runs elsewhere'))
      this.#running.delete(id)
      this.#log.warn({ jobId: id }, 'lost the lease of a running job (was the event loop blocked longer than the lease?)')
    }
  }

  async #rescue(): Promise<void> {
    const now = this.#queue.now
    const count = await this.#queue.driver.jobRescue({ limit: 1_000, ...(now === undefined ? {} : { now }) })
    if (count > 0) {
      this.#log.warn({ count }, 'rescued jobs whose worker stopped heartbeating')
      this.#events.emit('job:rescued', { count })
      for (const queue of this.#wakes.keys()) this.#wake(queue)
    }
  }

  async #prune(): Promise<void> {
    await this.#queue.driver.jobPrune({ before: this.#clock.now() - this.#retentionMs, limit: 1_000 })
  }

  /** Runs `task` every `ms` until stop; a failure is logged and the next round still runs. */
  async #every(ms: number, task: () => Promise<void>): Promise<void> {
    while (!this.#stop.signal.aborted) {
      try {
        await this.#clock.sleep(ms, this.#stop.signal)
      } catch {
        return
      }
      try {
        await task()
      } catch (error) {
        this.#log.error({ err: error }, 'worker maintenance failed')
      }
    }
  }

  /** Resolves when nothing runs and every outcome is written. */
  #settle(): Promise<void> {
    if (this.#running.size === 0 && this.#pending.length === 0 && !this.#flushing) return Promise.resolve()
    this.#settled ??= deferred()
    return this.#settled.promise
  }

  #checkSettled(): void {
    if (this.#settled && this.#running.size === 0 && this.#pending.length === 0 && !this.#flushing) {
      this.#settled.resolve()
      this.#settled = undefined
    }
  }
}
