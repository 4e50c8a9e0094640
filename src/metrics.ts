import type { Registry } from 'prom-client'
import { requireCommonJs } from './core/require-common-js.js'
import { BucketHistogram } from './metrics-histogram.js'
import type { Events } from './core/events.js'
import type { JobCount } from './queue/driver.js'
import type { BackgroundStats } from './core/background-tasks.js'
import type { JobState } from './core/job-state.js'
import type { Readiness } from './core/readiness.js'
import type { ScheduleInfo } from './core/schedule/scheduler.js'
import type { SupervisorStatus } from './core/supervisor.js'

/** Where the metrics read the service's parts at scrape time. */
export interface MetricSources {
  background(): BackgroundStats
  readiness(): Readiness
  jobs(): Record<JobState, number>
  schedules(): ScheduleInfo[]
  supervisors(): SupervisorStatus[]
  /** Durable jobs by queue, task and state, when the service has a queue. */
  queue?: () => Promise<JobCount[]>
  /** Durable job outcomes, lag and run time are counted from these events. */
  events: Events
}

/** The request counts the seed's `/metrics` endpoint shows, plus background task counts. */
export interface MetricsSnapshot {
  requests: number
  errors: number
  background: BackgroundStats
}

export interface ServiceMetricsOptions {
  /** Also export Node's process metrics (CPU, memory, event-loop lag, GC) from this registry. @default false */
  processMetrics?: boolean
}

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const

interface HttpSeries {
  labels: { method: string; route: string; status_class: string }
  requests: number
  errors: number
}

// prom-client loads with the registry, on the first scrape or the first read of `registry`: a
// worker nobody scrapes never pays for it.
const loadPromClient = () => requireCommonJs<typeof import('prom-client')>('prom-client')

/** Durable job attempts finished, by queue, task and outcome. */
interface AttemptSeries {
  labels: { queue: string; task: string; outcome: string }
  count: number
}

/**
 * A Service's metrics, in its own prom-client Registry. Everything is counted in plain numbers and
 * Maps; prom-client reads them at scrape time (`collect`), so counting costs well under a
 * microsecond per request, and the registry itself is built on first use.
 */
export class ServiceMetrics {
  /** Every HTTP series, for the scrape. */
  readonly #http: HttpSeries[] = []
  /** The same series by route, then method, then status class (1xx at 0): found per request with no key string built. */
  readonly #httpIndex = new Map<string, Map<string, (HttpSeries | undefined)[]>>()
  #requests = 0
  #errors = 0
  readonly #background: () => BackgroundStats
  readonly #sources: MetricSources
  readonly #opts: ServiceMetricsOptions
  #registry: Registry | undefined
  readonly #attempts = new Map<string, AttemptSeries>()
  readonly #lag = new BucketHistogram('afterwork_queue_lag_seconds', "From a durable job's run time to its claim", [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120])
  readonly #runTime = new BucketHistogram('afterwork_queue_run_seconds', 'Durable job attempt run time, by queue and task', [0.001, 0.01, 0.1, 0.5, 1, 5, 30, 120, 600])
  #rescued = 0

  constructor(sources: MetricSources, opts: ServiceMetricsOptions = {}) {
    this.#background = sources.background
    this.#sources = sources
    this.#opts = opts
    if (sources.queue) this.#countQueueEvents(sources.events)
    // Process metrics sample GC and event-loop delay from the moment they are registered.
    if (opts.processMetrics) this.#registry = this.#build()
  }

  /** The service's own prom-client Registry; add your metrics to it. Built (and prom-client loaded) on first use. */
  get registry(): Registry {
    this.#registry ??= this.#build()
    return this.#registry
  }

  #build(): Registry {
    const { Counter, Gauge, Registry: PromRegistry, collectDefaultMetrics } = loadPromClient()
    const registry = new PromRegistry()
    const sources = this.#sources
    const { background, readiness } = sources
    const http = this.#http
    const registers = [registry]
    new Counter({
      name: 'afterwork_http_requests_total',
      help: 'HTTP responses closed, by method, route template and status class',
      labelNames: ['method', 'route', 'status_class'],
      registers,
      collect() {
        this.reset()
        for (const s of http) this.inc(s.labels, s.requests)
      },
    })
    new Counter({
      name: 'afterwork_http_errors_total',
      help: 'HTTP requests that answered >= 500 or threw, by method, route template and status class',
      labelNames: ['method', 'route', 'status_class'],
      registers,
      collect() {
        this.reset()
        for (const s of http) if (s.errors > 0) this.inc(s.labels, s.errors)
      },
    })
    new Counter({
      name: 'afterwork_background_tasks_total',
      help: 'Post-response background tasks finished, by outcome',
      labelNames: ['outcome'],
      registers,
      collect() {
        const stats = background()
        this.reset()
        this.inc({ outcome: 'succeeded' }, stats.succeeded)
        this.inc({ outcome: 'failed' }, stats.failed)
      },
    })
    new Gauge({
      name: 'afterwork_background_tasks_pending',
      help: 'Post-response background tasks added and not yet finished',
      registers,
      collect() {
        this.set(background().pending)
      },
    })
    new Gauge({
      name: 'afterwork_service_ready',
      help: '1 while the service is ready to serve, else 0',
      registers,
      collect() {
        this.set(readiness() === 'ready' ? 1 : 0)
      },
    })
    new Gauge({
      name: 'afterwork_jobs',
      help: 'In-process jobs known (running, waiting, or finished and retained), by state',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset()
        for (const [state, count] of Object.entries(sources.jobs())) this.set({ state }, count)
      },
    })
    const perSchedule = (name: string, help: string, field: 'runs' | 'failures' | 'missed' | 'skipped') =>
      new Counter({
        name,
        help,
        labelNames: ['schedule'],
        registers,
        collect() {
          this.reset()
          for (const s of sources.schedules()) this.inc({ schedule: s.name }, s[field])
        },
      })
    perSchedule('afterwork_schedule_runs_total', 'Schedule runs started', 'runs')
    perSchedule('afterwork_schedule_failures_total', 'Schedule runs that threw', 'failures')
    perSchedule('afterwork_schedule_missed_total', 'Schedule fires skipped for being later than their misfire grace', 'missed')
    perSchedule('afterwork_schedule_skipped_total', 'Schedule fires skipped because maxInstances runs were going', 'skipped')
    new Counter({
      name: 'afterwork_supervisor_restarts_total',
      help: 'Restarts of supervised children',
      labelNames: ['supervisor', 'child'],
      registers,
      collect() {
        this.reset()
        for (const s of sources.supervisors()) for (const c of s.children) this.inc({ supervisor: s.name, child: c.name }, c.restarts)
      },
    })
    new Gauge({
      name: 'afterwork_supervisor_gave_up',
      help: '1 when the supervisor gave up on its children, else 0',
      labelNames: ['supervisor'],
      registers,
      collect() {
        this.reset()
        for (const s of sources.supervisors()) this.set({ supervisor: s.name }, s.state === 'gave-up' ? 1 : 0)
      },
    })
    if (sources.queue) this.#queueMetrics(registry, sources.queue, { Counter, Gauge })
    if (this.#opts.processMetrics) collectDefaultMetrics({ register: registry })
    return registry
  }

  /** Counts durable job outcomes, lag and run time as they happen, for the registry to read when scraped. */
  #countQueueEvents(events: Events): void {
    events.on('job:running', (e) => {
      if (e.queue !== undefined && e.lagMs !== undefined) this.#lag.observe({ queue: e.queue }, e.lagMs / 1000)
    })
    const finished = (outcome: string) => (e: { name: string; queue?: string; durationMs?: number }) => {
      if (e.queue === undefined) return
      const key = `${e.queue}\u0000${e.name}\u0000${outcome}`
      let series = this.#attempts.get(key)
      if (series === undefined) this.#attempts.set(key, (series = { labels: { queue: e.queue, task: e.name, outcome }, count: 0 }))
      series.count++
      if (e.durationMs !== undefined) this.#runTime.observe({ queue: e.queue, task: e.name }, e.durationMs / 1000)
    }
    events.on('job:succeeded', finished('succeeded'))
    events.on('job:failed', finished('failed'))
    events.on('job:retrying', finished('retrying'))
    events.on('job:rescued', (e) => void (this.#rescued += e.count))
  }

  #queueMetrics(registry: Registry, counts: () => Promise<JobCount[]>, { Counter, Gauge }: Pick<typeof import('prom-client'), 'Counter' | 'Gauge'>): void {
    const registers = [registry]
    new Gauge({
      name: 'afterwork_queue_jobs',
      help: 'Durable jobs in the store, by queue, task and state',
      labelNames: ['queue', 'task', 'state'],
      registers,
      async collect() {
        this.reset()
        for (const c of await counts()) this.set({ queue: c.queue, task: c.name, state: c.state }, c.count)
      },
    })
    const attempts = this.#attempts
    new Counter({
      name: 'afterwork_queue_attempts_total',
      help: 'Durable job attempts finished by this process, by queue, task and outcome (retrying = failed with attempts left)',
      labelNames: ['queue', 'task', 'outcome'],
      registers,
      collect() {
        this.reset()
        for (const s of attempts.values()) this.inc(s.labels, s.count)
      },
    })
    registry.registerMetric(this.#lag.metric())
    registry.registerMetric(this.#runTime.metric())
    const rescued = () => this.#rescued
    new Counter({
      name: 'afterwork_queue_rescued_total',
      help: 'Durable jobs taken back from workers that stopped heartbeating',
      registers,
      collect() {
        this.reset()
        this.inc(rescued())
      },
    })
  }

  /**
   * Counts one closed response. `route` is the route template (`/reports/:id`), never the raw path,
   * so the number of series stays bounded. `threw` marks a handler error even when it was answered
   * below 500.
   */
  recordRequest(method: string, route: string, status: number, threw: boolean): void {
    const classIndex = status >= 500 ? 4 : status >= 400 ? 3 : status >= 300 ? 2 : status >= 200 ? 1 : 0
    let byMethod = this.#httpIndex.get(route)
    if (byMethod === undefined) this.#httpIndex.set(route, (byMethod = new Map()))
    let byClass = byMethod.get(method)
    if (byClass === undefined) byMethod.set(method, (byClass = []))
    let series = byClass[classIndex]
    if (series === undefined) {
      series = { labels: { method, route, status_class: STATUS_CLASSES[classIndex] as string }, requests: 0, errors: 0 }
      byClass[classIndex] = series
      this.#http.push(series)
    }
    series.requests++
    this.#requests++
    if (threw || status >= 500) {
      series.errors++
      this.#errors++
    }
  }

  /** Totals for a JSON endpoint (the seed's `{"requests": n, "errors": n}`). */
  snapshot(): MetricsSnapshot {
    return { requests: this.#requests, errors: this.#errors, background: this.#background() }
  }

  /** The Prometheus text exposition of every metric in the registry. */
  prometheus(): Promise<string> {
    return this.registry.metrics()
  }

  /** The Content-Type to serve {@link prometheus} with. */
  get contentType(): string {
    return this.registry.contentType
  }
}
