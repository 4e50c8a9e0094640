import type { StandardSchemaV1 } from '@standard-schema/spec'
import { TIMER_CANCELLED, withDeadline, type Clock } from './clock.js'
import { deferred, type Deferred } from './deferred.js'
import { toMs, type Duration } from './duration.js'
import { AfterworkError, ShutdownError, invalidOption } from './errors.js'
import type { Events } from './events.js'
import { uuidv7 } from './ids.js'
import { assertTransition, isFinalState, type JobState } from './job-state.js'
import type { Logger } from './logger.js'
import { nameOf, toErrorInfo, type ErrorInfo, type RunContext } from './run-context.js'
import { assertStandardSchema, validateWith } from './validate.js'

/**
 * The status of one job, in-process or durable: the same shape from `svc.jobs.get(id)` and
 * `task.get(id)`. Times are ISO 8601 strings.
 */
export interface JobStatus<R = unknown> {
  id: string
  name: string
  state: JobState
  /** Last reported progress; `fraction` is 0..1. */
  progress: { fraction: number; message?: string }
  /** Set once `succeeded`. */
  result?: R
  /** Set once `failed` (or `cancelled`, with the reason). */
  error?: ErrorInfo
  attempt: number
  createdAt: string
  startedAt?: string
  finishedAt?: string
  /** From start to finish (or to now, while running). */
  durationMs?: number
}

export interface JobKindOptions<S extends StandardSchemaV1 | undefined = undefined> {
  /** The kind's name, unique in the service. @default the handler's function name */
  name?: string
  /** Validates the input at start(); an invalid one throws ValidationError naming the field. */
  schema?: S
  /** Jobs of this kind running at once; the rest wait in order. @default 10 */
  concurrency?: number
  /** Jobs waiting for a slot before start() refuses with ERR_JOB_FULL. @default 1000 */
  maxQueued?: number
  /** Aborts the job's signal after this long and fails it with ERR_TIMEOUT. @default none */
  timeout?: Duration
}

export interface JobsOptions {
  clock: Clock
  log: Logger
  events: Events
  /** How long a finished job's result or error is kept. @default '1h' */
  retention?: Duration
  /** Finished jobs kept at most; the oldest are forgotten first. @default 10000 */
  maxFinished?: number
}

/** What cancel() found: the job now `cancelled`, still `cancelling`, already `finished`, or `not_found`. */
export type CancelOutcome = 'cancelled' | 'cancelling' | 'finished' | 'not_found'

type Handler = (input: unknown, ctx: RunContext) => unknown

interface Kind {
  name: string
  handler: Handler
  schema: StandardSchemaV1 | undefined
  concurrency: number
  maxQueued: number
  timeoutMs: number | undefined
  running: number
  waiting: JobRecord[]
}

interface JobRecord {
  id: string
  kind: Kind
  state: JobState
  input: unknown
  progress: { fraction: number; message?: string }
  result?: unknown
  error?: ErrorInfo
  createdAt: number
  startedAt?: number
  finishedAt?: number
  /** Made when the handler first reads `ctx.signal` or the job is aborted (see {@link controllerOf}). */
  controller?: AbortController
  /** Why the signal was aborted: decides between cancelled and failed when the handler throws. */
  abortedFor?: 'cancel' | 'timeout' | 'shutdown'
  done: Deferred<void>
}

/**
 * In-process long-running jobs: the seed's `asyncio.create_task()` + `_running_jobs` dict, done so
 * nothing is lost. Each job has an id (UUIDv7), a state, progress, and a result or error kept for
 * `retention` after it finishes; unknown ids are "not found", never "complete". Cancel aborts the
 * job's signal: the job reads `cancelling` until the handler stops, then `cancelled`.
 */
export class Jobs {
  readonly #opts: JobsOptions
  readonly #kinds = new Map<string, Kind>()
  readonly #jobs = new Map<string, JobRecord>()
  /** Finished jobs in finishing order, for pruning by age and count. */
  readonly #finished: JobRecord[] = []
  readonly #retentionMs: number
  readonly #maxFinished: number
  #closed = false

  constructor(opts: JobsOptions) {
    this.#opts = opts
    this.#retentionMs = toMs(opts.retention ?? '1h', 'jobs.retention')
    this.#maxFinished = opts.maxFinished ?? 10_000
    if (!Number.isInteger(this.#maxFinished) || this.#maxFinished < 0) invalidOption('jobs.maxFinished', opts.maxFinished, 'an integer >= 0')
  }

  /**
   * Defines a kind of job. Returns a typed handle to start, get, list and cancel jobs of that kind.
   *
   * @example
   * const report = svc.jobs.define(async function report(params: { from: string }, ctx) {
   *   for (let i = 0; i < 10; i++) { ctx.signal.throwIfAborted(); ctx.progress(i / 10); await step(i) }
   *   return { rows: 10 }
   * })
   * const id = await report.start({ from: '2026-01-01' })
   */
  define<I, R, S extends StandardSchemaV1 | undefined = undefined>(
    handler: (input: S extends StandardSchemaV1 ? StandardSchemaV1.InferOutput<S> : I, ctx: RunContext) => R | Promise<R>,
    opts: JobKindOptions<S> = {},
  ): JobKind<S extends StandardSchemaV1 ? StandardSchemaV1.InferInput<S> : I, Awaited<R>> {
    if (typeof handler !== 'function') invalidOption('jobs.define(handler)', handler, 'a function')
    const name = nameOf(handler, opts.name, 'A job kind')
    if (this.#kinds.has(name)) throw new AfterworkError('ERR_NAME_DUPLICATE', `A job kind named "${name}" is already defined`)
    if (opts.schema !== undefined) assertStandardSchema(opts.schema, `jobs.define("${name}").schema`)
    const concurrency = opts.concurrency ?? 10
    if (!(concurrency >= 1)) invalidOption(`jobs.define("${name}").concurrency`, concurrency, 'a number >= 1')
    const maxQueued = opts.maxQueued ?? 1_000
    if (!(maxQueued >= 0)) invalidOption(`jobs.define("${name}").maxQueued`, maxQueued, 'a number >= 0')
    const kind: Kind = {
      name,
      handler: handler as Handler,
      schema: opts.schema,
      concurrency,
      maxQueued,
      timeoutMs: opts.timeout === undefined ? undefined : toMs(opts.timeout, `jobs.define("${name}").timeout`),
      running: 0,
      waiting: [],
    }
    this.#kinds.set(name, kind)
    return new JobKind(this, name)
  }

  /** The status of a job, or undefined for an unknown or forgotten id. */
  get(id: string): JobStatus | undefined {
    this.#prune()
    const job = this.#jobs.get(id)
    return job && this.#status(job)
  }

  /** Every known job, newest first, optionally of one kind or state. */
  list(filter: { name?: string; state?: JobState } = {}): JobStatus[] {
    this.#prune()
    const out: JobStatus[] = []
    for (const job of this.#jobs.values()) {
      if (filter.name !== undefined && job.kind.name !== filter.name) continue
      if (filter.state !== undefined && job.state !== filter.state) continue
      out.push(this.#status(job))
    }
    return out.reverse()
  }

  /** @internal Starts a job of a defined kind; JobKind.start is the public door. */
  async start(name: string, input: unknown): Promise<string> {
    const kind = this.#kinds.get(name)
    if (!kind) throw new AfterworkError('ERR_JOB_NOT_FOUND', `No job kind is named "${name}"`)
    if (this.#closed) throw new AfterworkError('ERR_SERVICE_STOPPED', 'The service is stopping and starts no new jobs')
    const value = kind.schema ? await validateWith(kind.schema, input, `input of job "${name}"`) : input
    if (kind.running >= kind.concurrency && kind.waiting.length >= kind.maxQueued) {
      throw new AfterworkError('ERR_JOB_FULL', `${kind.waiting.length} "${name}" jobs are already waiting (maxQueued ${kind.maxQueued}); try again later`)
    }
    const job: JobRecord = {
      id: uuidv7(this.#opts.clock.now()),
      kind,
      state: 'queued',
      input: value,
      progress: { fraction: 0 },
      createdAt: this.#opts.clock.now(),
      done: deferred(),
    }
    this.#jobs.set(job.id, job)
    if (kind.running < kind.concurrency) this.#run(job)
    else kind.waiting.push(job)
    return job.id
  }

  /**
   * Asks a job to stop. A queued job is cancelled at once; a running one has its signal aborted and
   * reads `cancelling` until its handler stops.
   */
  cancel(id: string, reason?: unknown): CancelOutcome {
    const job = this.#jobs.get(id)
    if (!job) return 'not_found'
    if (isFinalState(job.state)) return 'finished'
    if (job.state === 'cancelling') return 'cancelling'
    const why = reason ?? new AfterworkError('ERR_JOB_CANCELLED', 'The job was cancelled')
    if (job.state === 'queued') {
      job.kind.waiting.splice(job.kind.waiting.indexOf(job), 1)
      this.#finish(job, 'cancelled', undefined, why)
      return 'cancelled'
    }
    this.#setState(job, 'cancelling')
    job.abortedFor = 'cancel'
    controllerOf(job).abort(why)
    this.#opts.events.emit('job:cancelling', { id: job.id, name: job.kind.name })
    return 'cancelling'
  }

  /**
   * Resolves with the job's status once it is final, or with its current status when `timeout`
   * passes first. Rejects with ERR_JOB_NOT_FOUND for an unknown id.
   */
  async wait(id: string, opts: { timeout?: Duration } = {}): Promise<JobStatus> {
    const job = this.#jobs.get(id)
    if (!job) throw new AfterworkError('ERR_JOB_NOT_FOUND', `No job has id "${id}"`)
    if (opts.timeout === undefined) await job.done.promise
    else await withDeadline(this.#opts.clock, toMs(opts.timeout, 'timeout'), job.done.promise)
    return this.#status(job)
  }

  /** Counts by state, for metrics and health. */
  counts(): Record<JobState, number> {
    const counts = { scheduled: 0, queued: 0, running: 0, cancelling: 0, retrying: 0, succeeded: 0, failed: 0, cancelled: 0 }
    for (const job of this.#jobs.values()) counts[job.state]++
    return counts
  }

  /**
   * Shutdown: starts nothing new, cancels waiting jobs, lets running ones finish until `timeoutMs`,
   * then aborts their signals with a ShutdownError and gives them `graceMs` to stop.
   */
  async stop(timeoutMs: number, graceMs = 1_000): Promise<void> {
    this.#closed = true
    const shutdown = new ShutdownError()
    for (const kind of this.#kinds.values()) {
      for (const job of kind.waiting.splice(0)) this.#finish(job, 'cancelled', undefined, shutdown)
    }
    const running = () => [...this.#jobs.values()].filter((j) => !isFinalState(j.state))
    const all = () => Promise.all(running().map((j) => j.done.promise))
    if (!(await withDeadline(this.#opts.clock, timeoutMs, all())).timedOut) return
    for (const job of running()) {
      if (job.state === 'running') this.#setState(job, 'cancelling')
      job.abortedFor ??= 'shutdown'
      controllerOf(job).abort(shutdown)
    }
    if (!(await withDeadline(this.#opts.clock, graceMs, all())).timedOut) return
    const left = running()
    const detail = `${left.length} job(s) still running after their signals were aborted: ${left.map((j) => `${j.kind.name}/${j.id}`).join(', ')}`
    this.#opts.log.warn({ jobs: left.map((j) => j.id) }, `${detail}; abandoned`)
    this.#opts.events.emit('shutdown:abandoned', { step: 'jobs', detail })
  }

  #run(job: JobRecord): void {
    const { clock, events, log } = this.#opts
    const kind = job.kind
    kind.running++
    job.startedAt = clock.now()
    this.#setState(job, 'running')
    events.emit('job:running', { id: job.id, name: kind.name, attempt: 1 })
    const ctx: RunContext = {
      id: job.id,
      get signal() {
        return controllerOf(job).signal
      },
      attempt: 1,
      progress: (fraction, message) => {
        if (!Number.isFinite(fraction)) return
        job.progress = { fraction: Math.min(1, Math.max(0, fraction)), ...(message === undefined ? {} : { message }) }
      },
      // Made on first use: a child logger per job is a large share of a short job's cost.
      get log() {
        childLog ??= log.child({ job: kind.name, jobId: job.id })
        return childLog
      },
    }
    let childLog: Logger | undefined
    const timer = kind.timeoutMs === undefined ? undefined : new AbortController()
    if (timer && kind.timeoutMs !== undefined) {
      const timeoutMs = kind.timeoutMs
      clock.sleep(timeoutMs, timer.signal).then(
        () => {
          job.abortedFor ??= 'timeout'
          controllerOf(job).abort(new AfterworkError('ERR_TIMEOUT', `Job "${kind.name}" ran longer than its timeout (${timeoutMs} ms)`))
        },
        () => {},
      )
    }
    // Started on a later microtask so start() returns the id before any handler code runs.
    Promise.resolve()
      .then(() => kind.handler(job.input, ctx))
      .then(
        (result) => this.#finish(job, 'succeeded', result, undefined),
        (error: unknown) => {
          const signal = job.controller?.signal
          if (signal?.aborted && job.abortedFor === 'timeout') this.#finish(job, 'failed', undefined, signal.reason)
          else if (signal?.aborted) this.#finish(job, 'cancelled', undefined, signal.reason)
          else this.#finish(job, 'failed', undefined, error)
        },
      )
      .finally(() => {
        timer?.abort(TIMER_CANCELLED)
        kind.running--
        const next = kind.waiting.shift()
        if (next) this.#run(next)
      })
  }

  #finish(job: JobRecord, state: 'succeeded' | 'failed' | 'cancelled', result: unknown, error: unknown): void {
    const { clock, events, log } = this.#opts
    this.#setState(job, state)
    job.finishedAt = clock.now()
    const durationMs = job.startedAt === undefined ? 0 : job.finishedAt - job.startedAt
    if (state === 'succeeded') {
      job.result = result
      job.progress = { ...job.progress, fraction: 1 }
      events.emit('job:succeeded', { id: job.id, name: job.kind.name, durationMs })
    } else if (state === 'failed') {
      job.error = toErrorInfo(error)
      log.error({ err: error, job: job.kind.name, jobId: job.id }, 'job failed')
      events.emit('job:failed', { id: job.id, name: job.kind.name, durationMs, error })
    } else {
      job.error = toErrorInfo(error)
      events.emit('job:cancelled', { id: job.id, name: job.kind.name, durationMs })
    }
    job.input = undefined
    this.#finished.push(job)
    job.done.resolve()
    this.#prune()
  }

  #setState(job: JobRecord, state: JobState): void {
    assertTransition(job.state, state)
    job.state = state
  }

  #prune(): void {
    const horizon = this.#opts.clock.now() - this.#retentionMs
    while (this.#finished.length > 0) {
      const oldest = this.#finished[0] as JobRecord
      if (this.#finished.length <= this.#maxFinished && (oldest.finishedAt as number) > horizon) break
      this.#finished.shift()
      this.#jobs.delete(oldest.id)
    }
  }

  #status(job: JobRecord): JobStatus {
    const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString())
    const end = job.finishedAt ?? (job.startedAt === undefined ? undefined : this.#opts.clock.now())
    return {
      id: job.id,
      name: job.kind.name,
      state: job.state,
      progress: { ...job.progress },
      ...(job.state === 'succeeded' ? { result: job.result } : {}),
      ...(job.error ? { error: job.error } : {}),
      attempt: 1,
      createdAt: iso(job.createdAt) as string,
      ...(job.startedAt === undefined ? {} : { startedAt: iso(job.startedAt) }),
      ...(job.finishedAt === undefined ? {} : { finishedAt: iso(job.finishedAt) }),
      ...(job.startedAt === undefined || end === undefined ? {} : { durationMs: end - job.startedAt }),
    }
  }
}

/** A typed handle on one kind of job. */
export class JobKind<I, R> {
  readonly name: string
  readonly #jobs: Jobs

  /** @internal */
  constructor(jobs: Jobs, name: string) {
    this.#jobs = jobs
    this.name = name
  }

  /** Starts a job and returns its id at once; the job runs in the background. */
  start(input: I): Promise<string> {
    return this.#jobs.start(this.name, input)
  }

  get(id: string): JobStatus<R> | undefined {
    const status = this.#jobs.get(id)
    return status?.name === this.name ? (status as JobStatus<R>) : undefined
  }

  list(filter: { state?: JobState } = {}): JobStatus<R>[] {
    return this.#jobs.list({ ...filter, name: this.name }) as JobStatus<R>[]
  }

  cancel(id: string, reason?: unknown): CancelOutcome {
    return this.get(id) ? this.#jobs.cancel(id, reason) : 'not_found'
  }

  async wait(id: string, opts: { timeout?: Duration } = {}): Promise<JobStatus<R>> {
    return (await this.#jobs.wait(id, opts)) as JobStatus<R>
  }
}

/**
 * The job's AbortController, made on first need: most short jobs never read their signal, and one
 * controller per job was the largest cost of starting one after the id.
 */
function controllerOf(job: JobRecord): AbortController {
  job.controller ??= new AbortController()
  return job.controller
}
