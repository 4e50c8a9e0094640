import { TIMER_CANCELLED, withDeadline, type Clock } from '../core/clock.js'
import { deferred, type Deferred } from '../core/deferred.js'
import { toMs, type Duration } from '../core/duration.js'
import { AfterworkError, ShutdownError, invalidOption } from '../core/errors.js'
import type { Events } from '../core/events.js'
import type { Logger } from '../core/logger.js'
import { toErrorInfo, type RunContext } from '../core/run-context.js'
import { controllerOf, type LazyAbort } from '../core/lazy-controller.js'
import { validateNow } from '../core/validate.js'
import { CompletionWriter, type Outcome } from './completion-writer.js'
import type { Completion, JobRow } from './driver.js'
import { Lane, type Buffered } from './lane.js'
import type { HandoffSlot, Queue } from './queue.js'
import { isCancelJob, isSnooze } from './task.js'
import { registerWorker } from './worker-identity.js'

export interface WorkerOptions {
  /** Jobs running at once, per queue: one number for every queue, or per queue name. @default 10 */
  concurrency?: number | Record<string, number>
  /** How long a claimed job is leased; renewed every lease/3. A worker silent for this long loses its jobs. @default '6s' */
  lease?: Duration
  /** How often an idle worker looks for jobs another process enqueued (without `listen`). @default '1s' */
  pollInterval?: Duration
  /** Jobs claimed per query at most. @default 500 on PostgreSQL, 100 on SQLite and memory */
  claimBatch?: number
  /**
   * Jobs claimed ahead of the free slots, per queue (one number for every queue, or per queue name),
   * into a local buffer, as graphile-worker's local queue does: a job starts from the buffer as soon
   * as a slot frees, and the buffer is refilled, one claim at a time, when it falls below half. Short
   * jobs then drain at the rate of large claims instead of concurrency ÷ claim latency, and run while
   * a claim is in flight. `0` claims only for free slots.
   *
   * What it costs:
   * - Priority: a job enqueued with a higher priority than the buffered ones waits for the claim that
   *   refills the buffer: about `prefetch / 2` buffered jobs start first (more while that claim is in
   *   flight), then it starts ahead of the rest. Lower `prefetch` where that wait matters.
   * - Spread: buffered jobs belong to this worker; another worker with free slots cannot take them.
   *   With long jobs on several workers, set it low (or `0`).
   * - A buffered job is `running` in the store (its `startedAt` is the claim) and its lease is renewed
   *   with the running jobs'. A graceful stop hands buffered jobs back at once, with the attempt not
   *   counted. After a crash they are rescued once their lease expires, like running jobs, and the
   *   claim has counted one attempt for each, as it has for a running job: a job claimed for its last
   *   attempt then ends `failed` without having run.
   * - Limits: a buffered job counts against its concurrency key (and a schedule's `maxInstances`) in
   *   the store, so those limits hold. A rate limit counts starts at claim, and a buffered job starts
   *   later than counted, so a queue with a rate-limited task is claimed for free slots only (no
   *   prefetch): give rate-limited tasks their own queue to keep prefetching the others.
   * @default adaptive, per queue: it starts at min(1000, max(10, concurrency)), one round of slots
   *   ahead, so a worker holds few jobs another could run (Celery's 4× default is its best-known trap
   *   with long tasks). It doubles, up to two claims' worth (2 × claimBatch), while slots stand idle
   *   waiting for claims on a deep queue (short jobs), and halves back when the queue runs short or
   *   jobs outlast a claim. A number fixes it.
   */
  prefetch?: number | Record<string, number>
  /** Completions written per transaction at most. @default 500 on PostgreSQL, 100 on SQLite and memory */
  completionBatch?: number
  /**
   * Finished jobs are deleted after this long; an object sets succeeded jobs apart from failed and
   * cancelled ones. `succeeded: 0` deletes a succeeded job when its outcome is written, the way
   * graphile-worker always does: the fastest setting, for jobs whose results nobody reads (a job
   * with a rate key is kept all the same, as its start counts against the rate window).
   * @default '7d'
   */
  retention?: Duration | { succeeded?: Duration; failed?: Duration }
  /**
   * A job enqueued in this process starts without a claim when this worker can take it at once: a
   * free slot in its queue, nothing buffered and no claim in flight or pending (so no job known to
   * be waiting is overtaken). The job is inserted already claimed by this worker, one round trip in
   * place of an insert, a wake-up and a claim (PostgreSQL; SQLite and memory claim in-process
   * anyway). Jobs with a delay, a unique key, a rate limit or a concurrency key, jobs enqueued in a
   * caller's transaction and batches always take the claim path. `false`: every job is claimed.
   * @default true
   */
  handoff?: boolean
  /** This worker's identity. @default AFTERWORK_WORKER_ID, else hostname:service:index (the first free index) */
  workerId?: string
}

interface Running extends LazyAbort {
  row: JobRow
  lane: Lane
  /** Why the signal was aborted, when it was. */
  abortedFor?: 'cancel' | 'lost' | 'timeout' | 'shutdown'
  /** Handed back or lost: its outcome must not be written. */
  detached: boolean
}

/** The default prefetch starts at the concurrency, at least 10 and at most this. */
const MAX_DEFAULT_PREFETCH = 1_000
/**
 * The default prefetch grows up to this many claims' worth (claimBatch each): the buffer then holds
 * one full claim while the next is out. More would only hold jobs another worker could run.
 */
const ADAPTIVE_CLAIMS = 2

/** The least time a stopping worker gives its last writes to the store (outcomes, then its identity), together. */
const STORE_GRACE_MS = 1_000

/**
 * Runs durable jobs: claims in batches into a buffer ahead of the free slots, runs handlers with a
 * RunContext, writes outcomes in batches, renews leases apart from handler code, rescues jobs whose
 * worker died, and on stop hands back what it could not finish. Delivery is at least once: a job
 * running (or buffered) at a crash runs again.
 */
export class Worker {
  readonly #queue: Queue<unknown>
  readonly #clock: Clock
  readonly #log: Logger
  readonly #events: Events
  readonly #random: () => number
  readonly #service: string
  readonly #concurrency: number | Record<string, number>
  readonly #prefetch: number | Record<string, number> | undefined
  readonly #leaseMs: number
  readonly #pollMs: number
  readonly #claimBatch: number
  /** Failed and cancelled jobs are kept this long. */
  readonly #retentionMs: number
  readonly #succeededRetentionMs: number
  readonly #explicitId: string | undefined
  readonly #handoff: boolean
  /** Hand-offs whose insert is in flight: stop() waits for them, so a job inserted for this worker is started or handed back. */
  readonly #handoffs = new Set<Promise<void>>()
  readonly #running = new Map<string, Running>()
  readonly #lanes = new Map<string, Lane>()
  readonly #outcomes: CompletionWriter
  /** Aborted by stop(): no more claims, rescues or prunes. */
  readonly #stop = new AbortController()
  /** Aborted when stop() is done with the jobs: until then heartbeats keep the leases of jobs finishing during the stop. */
  readonly #halt = new AbortController()
  #workerId = ''
  #loops: Promise<void>[] = []
  #heartbeats: Promise<void> | undefined
  #settled: Deferred<void> | undefined
  #offWake: (() => void) | undefined
  #offRegister: (() => void) | undefined
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
    this.#prefetch = opts.prefetch
    this.#leaseMs = toMs(opts.lease ?? '6s', 'worker.lease')
    this.#pollMs = toMs(opts.pollInterval ?? '1s', 'worker.pollInterval')
    const batchDefaults = queue.driver.batchDefaults
    this.#claimBatch = opts.claimBatch ?? batchDefaults?.claimBatch ?? 100
    const completionBatch = opts.completionBatch ?? batchDefaults?.completionBatch ?? 100
    const retention = typeof opts.retention === 'object' ? opts.retention : { succeeded: opts.retention, failed: opts.retention }
    this.#retentionMs = toMs(retention.failed ?? '7d', 'worker.retention.failed')
    this.#succeededRetentionMs = toMs(retention.succeeded ?? '7d', 'worker.retention.succeeded')
    this.#explicitId = opts.workerId ?? (process.env.AFTERWORK_WORKER_ID || undefined)
    this.#handoff = opts.handoff ?? true
    if (!(this.#claimBatch >= 1)) invalidOption('worker.claimBatch', opts.claimBatch, 'a number >= 1')
    if (!(completionBatch >= 1)) invalidOption('worker.completionBatch', opts.completionBatch, 'a number >= 1')
    if (this.#leaseMs < 300) invalidOption('worker.lease', opts.lease, 'at least 300 ms')
    this.#outcomes = new CompletionWriter({
      queue,
      clock: deps.clock,
      log: deps.log,
      events: deps.events,
      batch: completionBatch,
      retryMs: Math.min(this.#leaseMs / 3, 1_000),
      workerId: () => this.#workerId,
      onIdle: () => this.#checkSettled(),
    })
    const prefetches = typeof opts.prefetch === 'object' && opts.prefetch !== null ? Object.entries(opts.prefetch) : opts.prefetch === undefined ? [] : [['', opts.prefetch] as const]
    for (const [queueName, value] of prefetches) {
      if (!(Number.isInteger(value) && value >= 0)) invalidOption(queueName ? `worker.prefetch.${queueName}` : 'worker.prefetch', value, 'an integer >= 0')
    }
  }

  get workerId(): string {
    return this.#workerId
  }

  /** Jobs this worker is running now. */
  get running(): number {
    return this.#running.size
  }

  /** Jobs this worker has claimed and not started yet (its prefetch buffers). */
  get buffered(): number {
    let n = 0
    for (const lane of this.#lanes.values()) n += lane.buffered
    return n
  }

  /** Registers the worker's identity, then starts claiming. */
  async start(): Promise<void> {
    if (this.#started) return
    // Registered before it counts as started: a stop() after a refused identity must not remove
    // the identity, which belongs to the live process holding it.
    await this.#register()
    this.#started = true
    this.#offWake = this.#queue.onWake((queue) => this.#wakeQueue(queue))
    // Jobs enqueued by other processes: the driver's notifications where it has them ('*' wakes
    // every queue), polling (pollInterval) as the safety net either way.
    await this.#queue.driver.listen?.({
      onWake: (queue) => (queue === '*' ? [...this.#lanes.values()].forEach((lane) => this.#wake(lane)) : this.#wakeQueue(queue)),
      signal: this.#stop.signal,
    })
    for (const [queue, names] of this.#queue.namesByQueue()) this.#loops.push(this.#claimLoop(this.#lane(queue, names)))
    this.#offRegister = this.#queue.onRegister((queue) => this.#taskRegistered(queue))
    if (this.#handoff) this.#queue.setHandoff((queue, name) => this.#offerSlot(queue, name))
    this.#heartbeats = this.#every(this.#leaseMs / 3, this.#halt.signal, () => this.#heartbeat())
    this.#loops.push(this.#every(this.#leaseMs, this.#stop.signal, () => this.#rescue()))
    this.#loops.push(this.#every(600_000, this.#stop.signal, () => this.#prune()))
  }

  /**
   * Stops claiming and hands back the buffered jobs at once, lets running jobs finish for
   * `timeoutMs` (their leases still renewed), then aborts the rest and hands them back too (another
   * worker may take them), writes every outcome and removes the identity.
   */
  async stop(timeoutMs: number): Promise<void> {
    if (!this.#started || this.#stop.signal.aborted) return
    this.#stop.abort(new ShutdownError())
    this.#offWake?.()
    this.#offRegister?.()
    this.#queue.setHandoff(undefined)
    for (const lane of this.#lanes.values()) {
      lane.wake()
      lane.sleep?.abort(TIMER_CANCELLED)
    }
    this.#releaseBuffered()
    // Every wait on the store below has a deadline: a store that does not answer (a database
    // down at shutdown) must not keep the process from exiting. Claims in flight end here; the
    // jobs they bring are handed back as they arrive (#accept), and so are those of hand-offs
    // whose insert is in flight.
    const until = (at: number) => Math.max(0, at - this.#clock.monotonic())
    const deadline = this.#clock.monotonic() + timeoutMs
    await withDeadline(this.#clock, until(deadline), Promise.all([...this.#loops, ...this.#handoffs]))
    if ((await withDeadline(this.#clock, until(deadline), this.#settle())).timedOut && this.#running.size > 0) {
      const released: Outcome[] = []
      for (const run of this.#running.values()) {
        run.detached = true
        run.abortedFor ??= 'shutdown'
        controllerOf(run).abort(new ShutdownError())
        this.#untrack(run)
        released.push({ completion: { id: run.row.id, outcome: 'released' }, row: run.row, durationMs: 0 })
      }
      this.#log.warn({ jobs: released.map((r) => r.row.id) }, `${released.length} job(s) still running at the shutdown deadline; handed back`)
      this.#events.emit('shutdown:abandoned', { step: 'worker', detail: `${released.length} job(s) handed back to the queue` })
      void this.#outcomes.addNow(released)
    }
    // The last writes (outcomes, then the identity) share what is left of the deadline, and at
    // least a second: the service gives the worker its step's time less that second.
    const last = Math.max(deadline, this.#clock.monotonic() + STORE_GRACE_MS)
    if ((await withDeadline(this.#clock, until(last), this.#outcomes.flush())).timedOut) {
      const { dropped, inFlight } = this.#outcomes.abandon()
      this.#log.error(
        { outcomes: dropped, inFlight },
        `the store did not take ${dropped} job outcome(s) before the shutdown deadline (${inFlight} more in a write still out); their jobs run again when their leases expire`,
      )
      this.#events.emit('shutdown:abandoned', { step: 'worker', detail: `${dropped} job outcome(s) not written` })
    }
    this.#halt.abort(new ShutdownError())
    let late = false
    const removed = (async () => {
      await this.#heartbeats
      await this.#queue.driver.workerRemove({ workerId: this.#workerId })
    })().catch((error: unknown) => {
      // After the deadline the driver is closing under it: nothing worth saying then.
      if (!late) this.#log.warn({ err: error }, 'could not remove the worker identity')
    })
    if ((await withDeadline(this.#clock, until(last), removed)).timedOut) {
      late = true
      this.#log.warn({}, 'the store did not answer in time to remove the worker identity; it lapses with its lease')
    }
  }

  /**
   * Runs until nothing is claimable now and nothing runs (jobs delayed into the future stay). For
   * tests: `await svc.queue.drain()`.
   */
  async drain(): Promise<void> {
    for (;;) {
      let claimed = 0
      for (const [queue, names] of this.#queue.namesByQueue()) claimed += (await this.#claim(this.#lane(queue, names))).claimed
      if (claimed === 0 && this.#idle()) return
      await this.#settle()
    }
  }

  async #register(): Promise<void> {
    const { workerId, reclaimed } = await registerWorker({
      driver: this.#queue.driver,
      service: this.#service,
      lease: this.#leaseMs,
      explicitId: this.#explicitId,
      now: this.#queue.now,
    })
    this.#workerId = workerId
    this.#log.info({ workerId, reclaimed }, 'worker registered')
    if (reclaimed > 0) this.#events.emit('job:rescued', { count: reclaimed })
  }

  /** The lane of `queue`, created on first use; its task names follow registrations made since. */
  #lane(queue: string, names: readonly string[]): Lane {
    const lane = this.#lanes.get(queue)
    if (lane && lane.names.length === names.length) return lane
    const { min, max } = this.#prefetchOf(queue, names)
    if (lane) {
      lane.names = names
      lane.bound(min, max)
      return lane
    }
    const created = new Lane(queue, names, this.#concurrencyOf(queue), min, max)
    this.#lanes.set(queue, created)
    return created
  }

  /**
   * A task registered after start: its queue's lane claims its name from now on, and a queue new to
   * this worker gets a claim loop of its own. Without this only `drain()` ever claimed such tasks.
   */
  #taskRegistered(queue: string): void {
    if (this.#stop.signal.aborted) return
    const known = this.#lanes.has(queue)
    const lane = this.#lane(queue, this.#queue.namesByQueue().get(queue) ?? [])
    if (known) this.#wake(lane)
    else this.#loops.push(this.#claimLoop(lane))
  }

  /**
   * A slot for a job enqueued in this process (see `handoff`), or undefined. The slot is counted as
   * running from now, so claims and other hand-offs leave it alone while the insert is out.
   */
  #offerSlot(queue: string, name: string): HandoffSlot | undefined {
    const lane = this.#lanes.get(queue)
    if (this.#stop.signal.aborted || !lane || !lane.names.includes(name)) return undefined
    // Anything claimed, being claimed or known to wait in the store goes first.
    if (lane.claiming || lane.more || lane.buffered > 0 || lane.running >= lane.concurrency) return undefined
    lane.running++
    const pending = deferred<void>()
    this.#handoffs.add(pending.promise)
    const release = () => {
      lane.running--
      this.#handoffs.delete(pending.promise)
      pending.resolve()
    }
    return {
      workerId: this.#workerId,
      lease: this.#leaseMs,
      start: (row) => {
        release()
        if (this.#stop.signal.aborted) this.#handBack([row])
        else this.#start(lane, { row, claimedAt: this.#clock.monotonic() })
      },
      // The slot was never in #running, so only a claim it held off may be due.
      cancel: () => {
        release()
        this.#refill(lane)
      },
    }
  }

  #concurrencyOf(queue: string): number {
    return typeof this.#concurrency === 'number' ? this.#concurrency : (this.#concurrency[queue] ?? 10)
  }

  /** The bounds of the lane's buffer: one number when the user chose it, else the adaptive default's. */
  #prefetchOf(queue: string, names: readonly string[]): { min: number; max: number } {
    // The store counts a rate limit's starts at claim: a buffered job would start later than counted.
    if (names.some((name) => this.#queue.definition(name)?.rateLimit !== undefined)) return { min: 0, max: 0 }
    const chosen = typeof this.#prefetch === 'object' ? this.#prefetch[queue] : this.#prefetch
    if (chosen !== undefined) return { min: chosen, max: chosen }
    const min = Math.min(MAX_DEFAULT_PREFETCH, Math.max(10, this.#concurrencyOf(queue)))
    return { min, max: Math.max(min, ADAPTIVE_CLAIMS * this.#claimBatch) }
  }

  async #claimLoop(lane: Lane): Promise<void> {
    let failures = 0
    while (!this.#stop.signal.aborted) {
      const previous = lane.sleep
      lane.sleep = undefined
      lane.passBegins()
      const pass = this.#claimPass(lane)
      // The last wait's timer is cancelled once this turn is over, when the claim has gone out (pg's
      // pool sends it on the next tick): dispatching the abort cost 0.05 ms on the way from a wake-up
      // to its claim.
      if (previous) setImmediate(() => previous.abort(TIMER_CANCELLED))
      try {
        const again = await pass
        failures = 0
        if (again) continue
      } catch (error) {
        failures++
        this.#log.error({ err: error, queue: lane.queue }, 'claiming jobs failed; retrying')
      }
      const waitMs = failures > 0 ? Math.min(30_000, this.#pollMs * 2 ** failures) : this.#pollMs
      await lane.wait(() => {
        if (this.#stop.signal.aborted) return Promise.resolve()
        const sleep = new AbortController()
        lane.sleep = sleep
        return this.#clock.sleep(waitMs, sleep.signal)
      })
    }
    lane.sleep?.abort(TIMER_CANCELLED)
  }

  /** Claims if the lane needs jobs; true when it should claim again at once. */
  async #claimPass(lane: Lane): Promise<boolean> {
    if (!lane.needsClaim()) {
      // No room now (slots busy, buffer above half): claim as soon as there is.
      lane.more = true
      return false
    }
    const { claimed, limit } = await this.#claim(lane)
    // A full batch means more may be waiting: claim again at once, or when room opens.
    if (limit === 0 || claimed < limit) return false
    if (lane.needsClaim()) return true
    lane.more = true
    return false
  }

  /** One claim for the lane, after the one in flight if any; its jobs go to the buffer and free slots. */
  async #claim(lane: Lane): Promise<{ claimed: number; limit: number }> {
    while (lane.claiming) await lane.claiming.catch(() => {})
    const limit = Math.min(lane.room(), this.#claimBatch)
    if (limit <= 0 || this.#stop.signal.aborted) return { claimed: 0, limit: 0 }
    const now = this.#queue.now
    lane.more = false
    lane.wokenDuringClaim = false
    lane.claimBegins()
    const claiming = this.#queue.driver.jobClaim({
      queue: lane.queue,
      names: lane.names,
      workerId: this.#workerId,
      limit,
      lease: this.#leaseMs,
      ...(now === undefined ? {} : { now }),
    })
    lane.claiming = claiming
    let rows: JobRow[]
    try {
      rows = await claiming
    } finally {
      lane.claiming = undefined
    }
    lane.claimEnds(rows.length, limit)
    this.#accept(lane, rows)
    // A wake-up during the claim may be for a job committed after the claim read the queue: look
    // again now, once for all such wake-ups, rather than at the next poll.
    if (lane.wokenDuringClaim) this.#wake(lane)
    return { claimed: rows.length, limit }
  }

  /** Claimed rows: buffered and started as slots allow; handed straight back when stopping. */
  #accept(lane: Lane, rows: JobRow[]): void {
    if (this.#stop.signal.aborted) {
      this.#handBack(rows)
      return
    }
    lane.add(rows, this.#clock.monotonic())
    this.#startBuffered(lane)
  }

  #startBuffered(lane: Lane): void {
    for (let next = lane.take(); next; next = lane.take()) this.#start(lane, next)
  }

  #wakeQueue(queue: string): void {
    const lane = this.#lanes.get(queue)
    if (lane) this.#wake(lane)
  }

  /**
   * A wake-up (an enqueue here, a notification, a rescue). While a claim is in flight it is only
   * noted, and that claim's end looks again once: duplicate wake-ups (the enqueue's own and its
   * NOTIFY) cost one claim, not two in a row. Without room it waits for room to open.
   */
  #wake(lane: Lane): void {
    if (lane.claiming) lane.wokenDuringClaim = true
    else if (lane.needsClaim()) lane.wake()
    else lane.more = true
  }

  /** After a slot or buffer place frees: claim if jobs may be waiting and the lane needs them. */
  #refill(lane: Lane): void {
    if (lane.more && !lane.claiming && lane.needsClaim()) lane.wake()
  }

  #start(lane: Lane, { row, claimedAt }: Buffered): void {
    const run: Running = { row, lane, controller: undefined, detached: false }
    this.#running.set(row.id, run)
    lane.running++
    lane.started++
    // The store's lag runs to the claim; time spent in the buffer is lag too.
    const lagMs = Math.max(0, (row.startedAt ?? row.runAt) - row.runAt) + (this.#clock.monotonic() - claimedAt)
    this.#events.emit('job:running', { id: row.id, name: row.name, attempt: row.attempt, queue: lane.queue, lagMs })
    const started = this.#clock.monotonic()
    void this.#execute(run).then(
      (completion) => this.#finish(run, completion, started, undefined),
      (error: unknown) => this.#finish(run, this.#failure(run, error), started, error),
    )
  }

  async #execute(run: Running): Promise<Completion> {
    const { row } = run
    const def = this.#queue.definition(row.name)
    if (!def) throw new AfterworkError('ERR_QUEUE_UNKNOWN_TASK', `No task is named "${row.name}" in this worker`)
    let payload: unknown
    try {
      const validated = validateNow(def.schema, JSON.parse(row.payload), `payload of "${row.name}"`)
      payload = validated instanceof Promise ? await validated : validated
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
          controllerOf(run).abort(new AfterworkError('ERR_TIMEOUT', `Job "${row.name}" ran longer than its timeout (${timeoutMs} ms)`))
        },
        () => {},
      )
    }
    // The child logger is made when the handler first reads it: most no-op-fast handlers never do,
    // and a pino child costs a few microseconds per job.
    const log = this.#log
    let childLog: Logger | undefined
    const ctx: RunContext = {
      id: row.id,
      get signal() {
        return controllerOf(run).signal
      },
      attempt: row.attempt,
      progress: (fraction, message) => this.#progress(run, fraction, message),
      get log() {
        childLog ??= log.child({ task: row.name, jobId: row.id, attempt: row.attempt })
        return childLog
      },
    }
    try {
      const value = await def.handler(payload, ctx)
      if (isSnooze(value)) return { id: row.id, outcome: 'snoozed', runAt: this.#clock.now() + value.afterworkSnooze }
      if (isCancelJob(value)) return { id: row.id, outcome: 'cancelled', error: { name: 'Cancelled', message: value.afterworkCancel } }
      const result = value === undefined ? null : JSON.stringify(value)
      return this.#succeededRetentionMs === 0 ? { id: row.id, outcome: 'succeeded', result, discard: true } : { id: row.id, outcome: 'succeeded', result }
    } finally {
      timer?.abort(TIMER_CANCELLED)
    }
  }

  /** The completion for a handler that threw: cancelled when a cancel aborted it, else a retry or `failed`. */
  #failure(run: Running, error: unknown): Completion {
    const { row } = run
    if (run.abortedFor === 'cancel') return { id: row.id, outcome: 'cancelled', error: toErrorInfo(controllerOf(run).signal.reason) }
    const info = toErrorInfo(run.abortedFor === 'timeout' ? controllerOf(run).signal.reason : error)
    const def = this.#queue.definition(row.name)
    const delay = def?.retry.delayAfter(row.attempt, this.#random) ?? null
    return delay === null ? { id: row.id, outcome: 'failed', error: info } : { id: row.id, outcome: 'failed', error: info, retryAt: this.#clock.now() + delay }
  }

  #finish(run: Running, completion: Completion, started: number, error: unknown): void {
    if (!run.detached) {
      this.#outcomes.add({ completion, row: run.row, durationMs: this.#clock.monotonic() - started, error })
    }
    this.#freed(run)
    this.#checkSettled()
  }

  /** Forgets a running job (finished or lost), freeing its slot. */
  #untrack(run: Running): void {
    if (this.#running.get(run.row.id) !== run) return
    this.#running.delete(run.row.id)
    run.lane.running--
  }

  /** Frees the job's slot and, unless stopping, fills it from the buffer and tops the buffer up. */
  #freed(run: Running): void {
    this.#untrack(run)
    if (this.#stop.signal.aborted) return
    const { lane } = run
    this.#startBuffered(lane)
    lane.slotFreed()
    this.#refill(lane)
  }

  /** Hands back every buffered job (stop): queued again at once, the attempt not counted. */
  #releaseBuffered(): void {
    const rows: JobRow[] = []
    for (const lane of this.#lanes.values()) for (const b of lane.clear()) rows.push(b.row)
    if (rows.length === 0) return
    this.#log.info({ count: rows.length }, 'handing back buffered jobs')
    this.#handBack(rows)
  }

  #handBack(rows: readonly JobRow[]): void {
    if (rows.length === 0) return
    // At once, not after the running jobs: another worker may take them now.
    void this.#outcomes.addNow(rows.map((row) => ({ completion: { id: row.id, outcome: 'released' }, row, durationMs: 0 })))
  }

  #progress(run: Running, fraction: number, message: string | undefined): void {
    if (!Number.isFinite(fraction) || run.detached) return
    const clamped = Math.min(1, Math.max(0, fraction))
    this.#queue.driver
      .jobProgress({ id: run.row.id, workerId: this.#workerId, fraction: clamped, ...(message === undefined ? {} : { message }) })
      .catch((error: unknown) => this.#log.warn({ err: error, jobId: run.row.id }, 'could not record progress'))
  }

  /** Renews the identity and the leases of running and buffered jobs; carries cancels and lost leases back. */
  async #heartbeat(): Promise<void> {
    const driver = this.#queue.driver
    const now = this.#queue.now
    const at = now === undefined ? {} : { now }
    await driver.workerHeartbeat({ workerId: this.#workerId, service: this.#service, lease: this.#leaseMs, takeover: false, ...at })
    // A buffered job's lease must outlast its wait for a slot, so it is renewed like a running one.
    const ids = [...this.#running.keys()]
    for (const lane of this.#lanes.values()) ids.push(...lane.ids())
    if (ids.length === 0) return
    const { cancelRequested, lost } = await driver.jobHeartbeat({ workerId: this.#workerId, ids, lease: this.#leaseMs, ...at })
    for (const id of cancelRequested) this.#cancelled(id)
    for (const id of lost) this.#lost(id)
  }

  /** A cancel asked in the store: abort the handler, or end a buffered job without running it. */
  #cancelled(id: string): void {
    const run = this.#running.get(id)
    if (run) {
      if (run.controller?.signal.aborted) return
      run.abortedFor = 'cancel'
      controllerOf(run).abort(new AfterworkError('ERR_JOB_CANCELLED', 'The job was cancelled'))
      return
    }
    const buffered = this.#unbuffer(id)
    if (!buffered) return
    const error = toErrorInfo(new AfterworkError('ERR_JOB_CANCELLED', 'The job was cancelled before it started'))
    this.#outcomes.add({ completion: { id, outcome: 'cancelled', error }, row: buffered.row, durationMs: 0 })
  }

  /** Another worker took the job after our lease ran out: stop it (or drop it unstarted), and write nothing for it. */
  #lost(id: string): void {
    const run = this.#running.get(id)
    if (!run) {
      if (this.#unbuffer(id)) this.#log.warn({ jobId: id }, 'lost the lease of a buffered job (was the event loop blocked longer than the lease?)')
      return
    }
    run.detached = true
    run.abortedFor ??= 'lost'
    controllerOf(run).abort(new AfterworkError('ERR_JOB_CANCELLED', 'This worker lost the job\'s lease; it runs elsewhere'))
    this.#log.warn({ jobId: id }, 'lost the lease of a running job (was the event loop blocked longer than the lease?)')
    this.#freed(run)
  }

  /** Takes a job out of its lane's buffer, if it is there, and lets the lane refill. */
  #unbuffer(id: string): Buffered | undefined {
    for (const lane of this.#lanes.values()) {
      const buffered = lane.remove(id)
      if (buffered) {
        this.#refill(lane)
        this.#checkSettled()
        return buffered
      }
    }
    return undefined
  }

  async #rescue(): Promise<void> {
    const now = this.#queue.now
    const count = await this.#queue.driver.jobRescue({ limit: 1_000, ...(now === undefined ? {} : { now }) })
    if (count > 0) {
      this.#log.warn({ count }, 'rescued jobs whose worker stopped heartbeating')
      this.#events.emit('job:rescued', { count })
      for (const lane of this.#lanes.values()) this.#wake(lane)
    }
  }

  async #prune(): Promise<void> {
    const now = this.#clock.now()
    await this.#queue.driver.jobPrune({ before: now - this.#retentionMs, succeededBefore: now - this.#succeededRetentionMs, limit: 1_000 })
  }

  /** Runs `task` every `ms` until `signal` aborts; a failure is logged and the next round still runs. */
  async #every(ms: number, signal: AbortSignal, task: () => Promise<void>): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.#clock.sleep(ms, signal)
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

  /** Nothing runs or waits in a buffer, and every outcome is written. */
  #idle(): boolean {
    return this.#running.size === 0 && this.buffered === 0 && this.#outcomes.idle
  }

  /** Resolves when the worker is idle. */
  #settle(): Promise<void> {
    if (this.#idle()) return Promise.resolve()
    this.#settled ??= deferred()
    return this.#settled.promise
  }

  #checkSettled(): void {
    if (this.#settled && this.#idle()) {
      this.#settled.resolve()
      this.#settled = undefined
    }
  }
}
