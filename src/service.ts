import { pino } from 'pino'
import { BackgroundRunner, type BackgroundTasks } from './core/background-tasks.js'
import { systemClock, withDeadline, type Clock } from './core/clock.js'
import { toMs, type Duration } from './core/duration.js'
import { AfterworkError, errorMessage, invalidOption } from './core/errors.js'
import { Events, type EventMap, type EventName, type Listener } from './core/events.js'
import { Lifecycle, type LifespanOption, type LifespanState } from './core/lifecycle.js'
import type { Logger } from './core/logger.js'
import type { Readiness } from './core/readiness.js'
import { ServiceMetrics, type ServiceMetricsOptions } from './metrics.js'

/** Deadlines for each shutdown step. Their sum should stay under your orchestrator's kill timeout (Kubernetes: 30 s). */
export interface ShutdownOptions {
  /** In-flight HTTP requests (used by `serve()`). @default '10s' */
  http?: Duration
  /** Post-response background tasks. @default '10s' */
  background?: Duration
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
  }
  metrics?: ServiceMetricsOptions
}

/** What a health check receives. */
export interface HealthCheckContext<S> {
  state: S
  signal: AbortSignal
}

/** A dependency check: resolve (or return true) when healthy; throw or return false when not. */
export type HealthCheck<S> = (ctx: HealthCheckContext<S>) => unknown

export interface HealthReport {
  /** `ok` only when ready and every check passed. */
  status: 'ok' | 'unavailable'
  readiness: Readiness
  checks: Record<string, { status: 'ok' | 'error'; error?: string; durationMs: number }>
}

const HEALTH_CHECK_TIMEOUT_MS = 2_000

/**
 * Owns everything around a web service's responses: lifespans and their typed state, post-response
 * tasks, and (in later capabilities) jobs, schedules, supervision, offload and the durable queue.
 * Adapters plug it into a web framework; `serve()` runs it.
 */
export class Service<S extends object = {}> {
  readonly name: string
  readonly clock: Clock
  readonly log: Logger
  readonly events: Events
  readonly metrics: ServiceMetrics
  /** The process-wide side of post-response tasks: stats, and `idle()` for tests. */
  readonly background: BackgroundRunner
  readonly shutdownTimeouts: { httpMs: number; backgroundMs: number; lifespanMs: number }

  readonly #lifecycle: Lifecycle
  readonly #startupTimeoutMs: number
  readonly #healthChecks = new Map<string, HealthCheck<S>>()
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
      backgroundMs: toMs(opts.shutdown?.background ?? '10s', 'shutdown.background'),
      lifespanMs: toMs(opts.shutdown?.lifespan ?? '5s', 'shutdown.lifespan'),
    }
    const maxPending = opts.background?.maxPending ?? 10_000
    if (!Number.isInteger(maxPending) || maxPending < 1) invalidOption('background.maxPending', maxPending, 'an integer >= 1')
    this.background = new BackgroundRunner({ maxPending, clock: this.clock, log: this.log, events: this.events })
    this.#lifecycle = new Lifecycle(opts.lifespan, { clock: this.clock, log: this.log, events: this.events })
    this.metrics = new ServiceMetrics(() => this.background.stats, () => this.#readiness, opts.metrics)
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
      this.#state = (await this.#lifecycle.start(this.#startupTimeoutMs)) as S
    } catch (error) {
      this.#setReadiness('stopped')
      throw error
    }
    this.#setReadiness('ready')
    this.log.info({ lifespans: this.#lifecycle.names }, 'service started')
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
    this.beginDrain()
    const started = this.clock.monotonic()
    const abandoned = await this.background.drain(this.shutdownTimeouts.backgroundMs)
    await this.#lifecycle.stop(this.shutdownTimeouts.lifespanMs)
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
    const healthy = readiness === 'ready' && Object.values(checks).every((c) => c.status === 'ok')
    return { status: healthy ? 'ok' : 'unavailable', readiness, checks }
  }

  #setReadiness(readiness: Readiness): void {
    this.#readiness = readiness
    this.events.emit('service:readiness', { readiness })
  }
}

/**
 * Creates a Service. Its state type is inferred from the lifespans' yields.
 *
 * @example
 * const svc = createService({
 *   lifespan: async function* cache() {
 *     const cache = await openCache()
 *     try { yield { cache } } finally { await cache.close() }
 *   },
 * })
 * // svc.state.cache is typed
 */
export function createService<const L extends LifespanOption | undefined = undefined>(
  opts: ServiceOptions<L> = {},
): Service<LifespanState<L>> {
  return new Service<LifespanState<L>>(opts)
}

/** Any Service, whatever its state type (state is contravariant in health checks, so `Service<object>` would not do). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
export type AnyService = Service<any>

export type { EventMap }
