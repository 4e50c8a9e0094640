import { pino } from 'pino'
import { BackgroundRunner, type BackgroundTasks } from './core/background-tasks.js'
import { cheapAsyncContext } from './core/request-context.js'
import { systemClock, withDeadline, type Clock } from './core/clock.js'
import { toMs, type Duration } from './core/duration.js'
import { AfterworkError, errorMessage, invalidOption } from './core/errors.js'
import { Events, type EventMap, type EventName, type Listener } from './core/events.js'
import { Jobs } from './core/jobs.js'
import { OffloadPool, type OffloadOptions } from './core/offload/pool.js'
import { Lifecycle, type Lifespan, type LifespanOption, type LifespanState, type Lifespans, type YieldedState } from './core/lifecycle.js'
import type { RunContext } from './core/run-context.js'
import { cronTrigger } from './core/schedule/cron.js'
import { dateTrigger } from './core/schedule/date.js'
import { intervalTrigger } from './core/schedule/interval.js'
import { Scheduler, type ScheduleOptions, type ScheduleProducer } from './core/schedule/scheduler.js'
import type { Trigger, TriggerBounds } from './core/schedule/trigger.js'
import { Supervisor, type ChildOptions, type SupervisorOptions, type SupervisorStatus } from './core/supervisor.js'
import type { Logger } from './core/logger.js'
import type { Readiness } from './core/readiness.js'
import { ServiceMetrics, type ServiceMetricsOptions } from './metrics.js'
import type { QueueDriver } from './queue/driver.js'
import { Queue, Task } from './queue/queue.js'
import type { TaskHandler, TaskOptions } from './queue/task.js'
import { Worker, type WorkerOptions } from './queue/worker.js'
import type { StandardSchemaV1 } from '@standard-schema/spec'

/** Deadlines for each shutdown step. Their sum should stay under your orchestrator's kill timeout (Kubernetes: 30 s). */
export interface ShutdownOptions {
  /** In-flight HTTP requests (used by `serve()`). @default '10s' */
  http?: Duration
  /** Post-response background tasks. @default '5s' */
  background?: Duration
  /**
   * Running jobs, schedule runs and supervised children, stopped together. Jobs and schedule runs
   * may finish until 1 s before the end, when their signals abort; children stop one at a time,
   * last started first, each given its own `shutdown` time after its signal aborts. @default '8s'
   */
  work?: Duration
  /** Lifespan teardown, all of them together. @default '5s' */
  lifespan?: Duration
}

export interface ServiceOptions<L extends LifespanOption | undefined = undefined> {
  /** Used in logs and metrics. @default 'afterwork' */
  name?: string
  /** One lifespan, or an array run in order. Their yields become `service.state`. */
  lifespan?: L
  /** @default systemClock */
  clock?: Clock
  /** A pino-compatible logger. @default pino at level LOG_LEVEL or 'info' */
  logger?: Logger
  /** All lifespans must reach their yield within this. @default '30s' */
  startupTimeout?: Duration
  shutdown?: ShutdownOptions
  background?: {
    /** Tasks added and not finished, process-wide, before `add()` answers 503. @default 10000 */
    maxPending?: number
    /**
     * Carry the request id into tasks with AsyncLocalStorage, for `currentRequestId()`. Failures
     * are logged with the request id either way.
     * @default true on Node 24 and later; false before, where AsyncLocalStorage slows every promise of the process
     */
    requestContext?: boolean
  }
  metrics?: ServiceMetricsOptions
  /** In-process jobs: how long finished jobs are kept, and how many. */
  jobs?: {
    /** @default '1h' */
    retention?: Duration
    /** @default 10000 */
    maxFinished?: number
  }
  /** The root supervisor's intensity (see `supervisor()`). @default { restarts: 5, within: '1m' } */
  supervision?: Pick<SupervisorOptions, 'intensity' | 'onGiveUp'>
  /** Source of randomness for jitter, injectable for tests. @default Math.random */
  random?: () => number
  /** The durable queue's storage: `sqlite({ path })`, `postgres({ url })`, or `memory()` in tests. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the transaction type is the driver's
  queue?: QueueDriver<any>
  /** The in-process worker for durable tasks; `false` for a process that only enqueues. @default {} */
  worker?: WorkerOptions | false
  /** The worker-thread pool for CPU-heavy work (`svc.offload`). Threads start on first use. */
  offload?: OffloadOptions
}

/** What a health check receives. */
export interface HealthCheckContext<S> {
  state: S
  signal: AbortSignal
}

/** A dependency check: resolve (or return true) when healthy; throw or return false when not. */
export type HealthCheck<S> = (ctx: HealthCheckContext<S>) => unknown

export interface HealthReport {
  /** `ok` only when ready, every check passed and no supervisor gave up. */
  status: 'ok' | 'unavailable'
  readiness: Readiness
  checks: Record<string, { status: 'ok' | 'error'; error?: string; durationMs: number }>
  /** Each supervisor with its children, when any child is supervised. */
  supervisors?: SupervisorStatus[]
}

const HEALTH_CHECK_TIMEOUT_MS = 2_000
/** How long stop() waits for the queue driver to close (a PostgreSQL pool ends when its clients are back). */
const DRIVER_CLOSE_MS = 2_000

/**
 * Owns everything around a web service's responses: lifespans and their typed state, post-response
 * tasks, and (in later capabilities) jobs, schedules, supervision, offload and the durable queue.
 * Adapters plug it into a web framework; `serve()` runs it.
 */
/** `S` is the lifespans' state; `Tx` the queue driver's transaction type (`never` without one, or on SQLite). */
export class Service<S extends object = {}, Tx = never> {
  readonly name: string
  readonly clock: Clock
  readonly log: Logger
  readonly events: Events
  readonly metrics: ServiceMetrics
  /** The process-wide side of post-response tasks: stats, and `idle()` for tests. */
  readonly background: BackgroundRunner
  readonly shutdownTimeouts: { httpMs: number; backgroundMs: number; workMs: number; lifespanMs: number }
  /** In-process jobs with status, progress, results and cancellation. */
  readonly jobs: Jobs
  /** Every schedule: list, pause, resume, runNow, reschedule, remove. */
  readonly schedules: Scheduler
  /**
   * CPU-heavy work on worker threads, so it never blocks the event loop: `svc.offload.run(new
   * URL('./heavy.js', import.meta.url), 'fib', 40, { signal })`.
   */
  readonly offload: OffloadPool
  readonly #queue: Queue<unknown> | undefined
  readonly #worker: Worker | undefined

  readonly #lifecycle: Lifecycle
  readonly #startupTimeoutMs: number
  readonly #healthChecks = new Map<string, HealthCheck<S>>()
  readonly #supervisors: Supervisor[] = []
  readonly #random: () => number
  #readiness: Readiness = 'idle'
  #state: S | undefined
  #starting: Promise<void> | undefined
  #stopping: Promise<void> | undefined

  constructor(opts: ServiceOptions<LifespanOption | undefined> = {}) {
    this.name = opts.name ?? 'afterwork'
    this.clock = opts.clock ?? systemClock
    this.log = opts.logger ?? pino({ name: this.name, level: process.env.LOG_LEVEL ?? 'info' })
    this.events = new Events((error, event) => this.log.error({ err: error, event }, 'event listener threw'))
    this.#startupTimeoutMs = toMs(opts.startupTimeout ?? '30s', 'startupTimeout')
    this.shutdownTimeouts = {
      httpMs: toMs(opts.shutdown?.http ?? '10s', 'shutdown.http'),
      backgroundMs: toMs(opts.shutdown?.background ?? '5s', 'shutdown.background'),
      workMs: toMs(opts.shutdown?.work ?? '8s', 'shutdown.work'),
      lifespanMs: toMs(opts.shutdown?.lifespan ?? '5s', 'shutdown.lifespan'),
    }
    const maxPending = opts.background?.maxPending ?? 10_000
    if (!Number.isInteger(maxPending) || maxPending < 1) invalidOption('background.maxPending', maxPending, 'an integer >= 1')
    const requestContext = opts.background?.requestContext ?? cheapAsyncContext
    this.background = new BackgroundRunner({ maxPending, requestContext, clock: this.clock, log: this.log, events: this.events })
    this.#lifecycle = new Lifecycle(opts.lifespan, { clock: this.clock, log: this.log, events: this.events })
    this.#random = opts.random ?? Math.random
    this.jobs = new Jobs({ clock: this.clock, log: this.log, events: this.events, ...opts.jobs })
    this.schedules = new Scheduler({ clock: this.clock, log: this.log, events: this.events, random: this.#random })
    this.offload = new OffloadPool({ ...opts.offload, clock: this.clock, log: this.log })
    if (opts.queue) {
      this.#queue = new Queue(opts.queue, { clock: this.clock, events: this.events, log: this.log })
      if (opts.worker !== false) {
        this.#worker = new Worker(this.#queue, { clock: this.clock, log: this.log, events: this.events, random: this.#random, service: this.name }, opts.worker)
      }
    }
    this.#supervisors.push(this.#newSupervisor({ name: 'root', strategy: 'one-for-one', ...opts.supervision }))
    this.metrics = new ServiceMetrics(
      {
        background: () => this.background.stats,
        readiness: () => this.#readiness,
        jobs: () => this.jobs.counts(),
        schedules: () => this.schedules.list(),
        supervisors: () => this.supervision(),
        events: this.events,
        ...(this.#queue ? { queue: () => (this.#queue as Queue<unknown>).counts() } : {}),
      },
      opts.metrics,
    )
  }

  /** `idle`, `starting`, `ready`, `draining` or `stopped`. */
  get readiness(): Readiness {
    return this.#readiness
  }

  /** The merged state the lifespans yielded. Throws `ERR_SERVICE_NOT_STARTED` before start() finishes. */
  get state(): S {
    if (this.#state === undefined) {
      if (this.#readiness === 'stopped') {
        throw new AfterworkError('ERR_SERVICE_STOPPED', `Service "${this.name}" has stopped; its state is closed`)
      }
      throw new AfterworkError(
        'ERR_SERVICE_NOT_STARTED',
        `Service "${this.name}" state was read before start() finished: call serve() or start() first`,
      )
    }
    return this.#state
  }

  /** Listens to a library event; returns a function that removes the listener. */
  on<K extends EventName>(event: K, listener: Listener<K>): () => void {
    return this.events.on(event, listener)
  }

  /**
   * Runs the lifespans in order and marks the service ready. If one throws, those already started
   * are torn down and the returned promise rejects with an error naming it. Calling it again
   * returns the same promise.
   */
  start(): Promise<void> {
    if (this.#stopping) {
      return Promise.reject(new AfterworkError('ERR_SERVICE_STOPPED', `Service "${this.name}" was stopped; create a new one`))
    }
    this.#starting ??= this.#start()
    return this.#starting
  }

  async #start(): Promise<void> {
    this.#setReadiness('starting')
    try {
      await this.offload.start()
      await this.#queue?.driver.migrate()
      this.#state = (await this.#lifecycle.start(this.#startupTimeoutMs)) as S
    } catch (error) {
      await this.#queue?.driver.close().catch(() => {})
      await this.offload.stop(0)
      this.#setReadiness('stopped')
      throw error
    }
    try {
      if (this.#worker && this.#queue) {
        await this.#worker.start()
        const worker = this.#worker
        this.#queue.setDrainer(() => worker.drain())
      }
      for (const supervisor of this.#supervisors) supervisor.start()
      await this.schedules.start()
    } catch (error) {
      // The lifespans are open and some of the rest runs: stop it all, as stop() would, so
      // nothing is left running or holding resources behind a start() that rejected.
      this.log.error({ err: error }, 'service failed to start; stopping what had started')
      await this.#shutdown()
      throw error
    }
    this.#setReadiness('ready')
    this.log.info({ lifespans: this.#lifecycle.names }, 'service started')
  }

  /**
   * Registers a durable task: a named handler with a payload schema, run by a worker with retries,
   * surviving restarts. Returns a typed handle to enqueue, get, cancel and retry jobs.
   *
   * @example
   * const email = svc.task('send-email', { schema: EmailSchema, retry: { attempts: 5 } }, async (msg, ctx) => {
   *   await mailer.send(msg, { signal: ctx.signal })
   * })
   * await email.enqueue({ to: 'ada@example.com' })
   */
  task<Sch extends StandardSchemaV1, R>(name: string, opts: TaskOptions<Sch>, handler: TaskHandler<Sch, R>): Task<StandardSchemaV1.InferInput<Sch>, Awaited<R>, Tx> {
    return this.queue.register(name, opts, handler) as Task<StandardSchemaV1.InferInput<Sch>, Awaited<R>, Tx>
  }

  /** The durable queue's client: enqueue by name, get, cancel, retry, list, counts and (tests) drain. */
  get queue(): Queue<Tx> {
    if (!this.#queue) {
      throw new AfterworkError('ERR_QUEUE_NOT_CONFIGURED', `Service "${this.name}" has no queue: pass queue: sqlite({ path }) (or memory() in tests) to createService`)
    }
    return this.#queue as Queue<Tx>
  }

  /** The in-process worker, when this service has a queue and runs one. */
  get worker(): Worker | undefined {
    return this.#worker
  }

  /**
   * Runs `fn` every `interval`, measured from the planned slot (never from the end of the last run,
   * so it does not drift). The first fire is one interval after start, or at start with `runOnStart`.
   * Returns the schedule's name (default: the function's name).
   *
   * @example
   * svc.every('5m', cleanupExpiredSessions)
   */
  every<I = undefined>(
    interval: Duration,
    fn: ((input: I, ctx: RunContext) => unknown) | Task<I, unknown>,
    opts: ScheduleOptions<I> & TriggerBounds & { timezone?: string } = {},
  ): string {
    return this.#schedule((anchor) => intervalTrigger(interval, { ...bounds(opts), anchor, timezone: opts.timezone ?? 'UTC' }), fn, opts)
  }

  /**
   * Runs `fn` on a cron expression (5 fields, or 6 with seconds; croner syntax) in a time zone
   * (default UTC). DST follows ISC cron: a fixed time in a spring-forward gap fires once at the
   * gap's end, a fixed time in a repeated hour fires once, wildcard hours follow the clock.
   *
   * @example
   * svc.cron('0 9 * * *', dailyDigest, { timezone: 'Asia/Kolkata' })
   */
  cron<I = undefined>(
    expression: string,
    fn: ((input: I, ctx: RunContext) => unknown) | Task<I, unknown>,
    opts: ScheduleOptions<I> & TriggerBounds & { timezone?: string } = {},
  ): string {
    return this.#schedule(cronTrigger(expression, { ...bounds(opts), timezone: opts.timezone ?? 'UTC' }), fn, opts)
  }

  /** Runs `fn` once, at `date`. */
  at<I = undefined>(date: Date | number, fn: ((input: I, ctx: RunContext) => unknown) | Task<I, unknown>, opts: ScheduleOptions<I> = {}): string {
    return this.#schedule(dateTrigger(date), fn, opts)
  }

  /**
   * A function runs in this process at each slot. A durable task makes the schedule a producer:
   * each slot is claimed in the store together with the job it enqueues, so across all processes
   * of the service each slot fires once, and a restart knows which slots ran.
   */
  #schedule<I>(trigger: Trigger | ((anchor: number) => Trigger), fn: ((input: I, ctx: RunContext) => unknown) | Task<I, unknown>, opts: ScheduleOptions<I>): string {
    if (!(fn instanceof Task)) return this.schedules.add(trigger, fn, opts)
    const queue = this.queue
    const name = opts.name ?? fn.name
    const producer: ScheduleProducer = {
      fire: (slot, maxInstances) => queue.fireSchedule(name, fn.name, opts.input, slot, maxInstances),
      lastSlot: () => queue.lastSlot(name),
    }
    return this.schedules.add(trigger, () => {}, { ...opts, name }, producer)
  }

  /**
   * Runs `fn` under the root supervisor (one-for-one): restarted by policy with backoff, given up
   * (readiness 503) past the root's intensity. Added after start, it starts at once.
   *
   * @example
   * svc.supervise('cache-warmer', warmCache, { backoff: { initial: '1s', max: '1m' } })
   */
  supervise<I = undefined>(name: string, fn: (input: I, ctx: RunContext) => unknown, opts: ChildOptions<I> = {}): this {
    ;(this.#supervisors[0] as Supervisor).supervise(name, fn, opts)
    return this
  }

  /**
   * A supervised group with its own strategy and intensity; add children with `.supervise()`. Its
   * children start with the service, in the order added.
   */
  supervisor(opts: SupervisorOptions): Supervisor {
    if (this.#supervisors.some((s) => s.name === opts.name)) {
      throw new AfterworkError('ERR_NAME_DUPLICATE', `A supervisor named "${opts.name}" already exists`)
    }
    const supervisor = this.#newSupervisor(opts)
    this.#supervisors.push(supervisor)
    if (this.#readiness === 'ready') supervisor.start()
    return supervisor
  }

  /** Every supervisor's status, the root first. */
  supervision(): SupervisorStatus[] {
    return this.#supervisors.map((s) => s.status())
  }

  /**
   * Asks whoever runs the service to shut it down (a supervisor that gave up with
   * `onGiveUp: 'stop-service'` does this). `serve()` listens and exits with code 1 after the
   * graceful shutdown; without a listener the service just stops.
   */
  requestStop(reason: Error): void {
    if (this.events.has('service:stop-requested')) this.events.emit('service:stop-requested', { reason })
    else void this.stop()
  }

  #newSupervisor(opts: SupervisorOptions): Supervisor {
    return new Supervisor(opts, {
      clock: this.clock,
      log: this.log,
      events: this.events,
      random: this.#random,
      stopService: (reason) => this.requestStop(reason),
    })
  }

  /**
   * Marks the service draining: readiness turns 503 so load balancers stop sending traffic. `serve()`
   * calls it when shutdown begins, before the HTTP drain; `stop()` calls it too.
   */
  beginDrain(): void {
    if (this.#readiness === 'ready' || this.#readiness === 'starting') this.#setReadiness('draining')
  }

  /**
   * Stops everything that is not HTTP, in order, each step with its deadline: background tasks, then
   * lifespans in reverse. Safe before start() and idempotent (returns the same promise). Never
   * rejects: a step that fails or runs past its deadline is logged and the next step still runs.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop()
    return this.#stopping
  }

  async #stop(): Promise<void> {
    if (this.#starting) await this.#starting.catch(() => {})
    if (this.#readiness === 'stopped') return
    await this.#shutdown()
  }

  /** stop()'s steps, also run by a start() that failed after the lifespans opened. */
  async #shutdown(): Promise<void> {
    this.beginDrain()
    const started = this.clock.monotonic()
    const abandoned = await this.background.drain(this.shutdownTimeouts.backgroundMs)
    // Supervised children and jobs are independent: they stop together, under one deadline.
    const workMs = this.shutdownTimeouts.workMs
    const softMs = Math.max(0, workMs - 1_000)
    const graceMs = Math.min(1_000, workMs)
    const step = (name: string, stopping: Promise<void> | undefined) =>
      stopping?.catch((error: unknown) => this.log.error({ err: error, step: name }, 'a shutdown step failed; going on'))
    await Promise.all([
      step('schedules', this.schedules.stop(softMs, graceMs)),
      ...this.#supervisors.map((s) => step('supervisor', s.stop(workMs))),
      step('jobs', this.jobs.stop(softMs, graceMs)),
      step('worker', this.#worker?.stop(softMs)),
    ])
    // Jobs that offload have stopped by now; what is still queued or running in threads gets the grace.
    await this.offload.stop(graceMs)
    await this.#lifecycle.stop(this.shutdownTimeouts.lifespanMs)
    if (this.#queue) {
      // A store that does not answer (a database behind a dead network) would hold the close forever.
      const closing = this.#queue.driver.close().catch((error: unknown) => this.log.error({ err: error }, 'closing the queue driver failed'))
      if ((await withDeadline(this.clock, DRIVER_CLOSE_MS, closing)).timedOut) {
        this.log.warn({ timeoutMs: DRIVER_CLOSE_MS }, 'the queue driver did not close in time; going on')
        this.events.emit('shutdown:abandoned', { step: 'queue', detail: `the driver did not close within ${DRIVER_CLOSE_MS} ms` })
      }
    }
    this.#state = undefined
    this.#setReadiness('stopped')
    this.log.info({ durationMs: Math.round(this.clock.monotonic() - started), abandonedBackgroundTasks: abandoned }, 'service stopped')
  }

  /** `await using svc = ...` stops the service at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop()
  }

  /** A fresh list of post-response tasks for one request. Adapters call this; handlers get the result. */
  createBackgroundTasks(requestId: string): BackgroundTasks {
    return this.background.create(requestId)
  }

  /**
   * Registers a dependency check for `health()` (and so `/health/ready` and `/status`). Checks run
   * concurrently, each bounded by 2 s and given a signal aborted at that deadline.
   */
  healthCheck(name: string, check: HealthCheck<S>): this {
    if (typeof check !== 'function') invalidOption(`healthCheck("${name}")`, check, 'a function')
    if (this.#healthChecks.has(name)) invalidOption('healthCheck name', name, 'unique in the service')
    this.#healthChecks.set(name, check)
    return this
  }

  /** Readiness plus every health check's outcome. */
  async health(): Promise<HealthReport> {
    const readiness = this.#readiness
    const checks: HealthReport['checks'] = {}
    const state = this.#state
    if (state !== undefined) {
      await Promise.all(
        [...this.#healthChecks].map(async ([name, check]) => {
          const started = this.clock.monotonic()
          const controller = new AbortController()
          let error: string | undefined
          try {
            const outcome = await withDeadline(this.clock, HEALTH_CHECK_TIMEOUT_MS, Promise.resolve().then(() => check({ state, signal: controller.signal })))
            if (outcome.timedOut) error = `no answer within ${HEALTH_CHECK_TIMEOUT_MS} ms`
            else if (outcome.value === false) error = 'check returned false'
          } catch (thrown) {
            error = errorMessage(thrown)
          } finally {
            controller.abort()
          }
          const durationMs = Math.round((this.clock.monotonic() - started) * 10) / 10
          checks[name] = error === undefined ? { status: 'ok', durationMs } : { status: 'error', error, durationMs }
        }),
      )
    }
    const supervisors = this.supervision().filter((s) => s.children.length > 0)
    const healthy =
      readiness === 'ready' && Object.values(checks).every((c) => c.status === 'ok') && supervisors.every((s) => s.state !== 'gave-up')
    return { status: healthy ? 'ok' : 'unavailable', readiness, checks, ...(supervisors.length > 0 ? { supervisors } : {}) }
  }

  #setReadiness(readiness: Readiness): void {
    this.#readiness = readiness
    this.events.emit('service:readiness', { readiness })
  }
}

/** createService's options but the lifespans, whose type each overload gives. */
type CreateServiceOptions<Tx> = Omit<ServiceOptions, 'lifespan' | 'queue'> & { queue?: QueueDriver<Tx> }

/**
 * Creates a Service. Its state type is inferred from the lifespans' yields.
 *
 * (The first two overloads infer each lifespan's yield on its own, which lets a lifespan take its
 * context unannotated, `async function* db({ signal })`; the last takes lifespans typed as a whole.)
 *
 * @example
 * const svc = createService({
 *   lifespan: async function* cache({ signal }) {
 *     const cache = await openCache({ signal })
 *     try { yield { cache } } finally { await cache.close() }
 *   },
 * })
 * // svc.state.cache is typed
 */
export function createService<const T extends readonly unknown[], Tx = never>(
  opts: CreateServiceOptions<Tx> & { lifespan: Lifespans<T> },
): Service<YieldedState<T[number]>, Tx>
export function createService<S = undefined, Tx = never>(opts?: CreateServiceOptions<Tx> & { lifespan?: Lifespan<S> }): Service<YieldedState<S>, Tx>
/** Lifespans typed beforehand as a whole (a `LifespanOption` value, options built elsewhere, a generic wrapper). */
export function createService<const L extends LifespanOption | undefined = undefined, Tx = never>(
  opts: ServiceOptions<L> & { queue?: QueueDriver<Tx> },
): Service<LifespanState<L>, Tx>
export function createService(opts: ServiceOptions<LifespanOption | undefined> = {}): AnyService {
  return new Service(opts)
}

function bounds(opts: TriggerBounds): TriggerBounds {
  return {
    ...(opts.startDate === undefined ? {} : { startDate: opts.startDate }),
    ...(opts.endDate === undefined ? {} : { endDate: opts.endDate }),
  }
}

/** Any Service, whatever its state type (state is contravariant in health checks, so `Service<object>` would not do). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
export type AnyService = Service<any, any>

export type { EventMap }
