import type { StandardSchemaV1 } from '@standard-schema/spec'
import { systemClock, type Clock } from '../core/clock.js'
import { toMs, type Duration } from '../core/duration.js'
import { AfterworkError, invalidOption, isAfterworkError } from '../core/errors.js'
import type { Events } from '../core/events.js'
import { uuidv7 } from '../core/ids.js'
import type { CancelOutcome, JobStatus } from '../core/jobs.js'
import { isFinalState, type JobState } from '../core/job-state.js'
import { validateNow, validateWith } from '../core/validate.js'
import { runInline, type InlineRunnable } from '../core/background-tasks.js'
import type { Logger } from '../core/logger.js'
import type { JobCount, JobInsert, JobRow, QueueDriver } from './driver.js'
import { defineTask, payloadJson, survivesJson, type TaskDefinition, type TaskHandler, type TaskOptions } from './task.js'

/** Per-job choices at enqueue. */
export interface EnqueueOptions<Tx = never> {
  /** Run no earlier than this. */
  runAt?: Date | number
  /** Run no earlier than this long from now. */
  delay?: Duration
  /** Overrides the task's priority (higher first). */
  priority?: number
  /** Overrides the task's `unique` key. */
  uniqueKey?: string
  /** The caller's transaction (PostgreSQL): the job exists if and only if it commits. */
  tx?: Tx
}

/** `duplicate: true` when a live job already held the unique key: `id` is that job's. */
export interface EnqueueResult {
  id: string
  duplicate: boolean
}

/**
 * A free slot of the in-process worker, held for one enqueued job: the job is inserted already
 * claimed by `workerId`, then `start`ed; `cancel` gives the slot back when the insert failed.
 */
export interface HandoffSlot {
  workerId: string
  lease: number
  start(row: JobRow): void
  cancel(): void
}

/**
 * The durable queue's client side: the task registry, enqueue with validation, and status, cancel
 * and retry by id. Storage is the driver's; running jobs is the Worker's.
 */
export class Queue<Tx = never> {
  readonly driver: QueueDriver<Tx>
  readonly #clock: Clock
  readonly #events: Events
  readonly #log: Logger
  readonly #tasks = new Map<string, TaskDefinition>()
  readonly #wakeListeners = new Set<(queue: string) => void>()
  readonly #registerListeners = new Set<(queue: string) => void>()
  #drainer: (() => Promise<void>) | undefined
  #handoff: ((queue: string, name: string) => HandoffSlot | undefined) | undefined

  constructor(driver: QueueDriver<Tx>, deps: { clock: Clock; events: Events; log: Logger }) {
    this.driver = driver
    this.#clock = deps.clock
    this.#events = deps.events
    this.#log = deps.log
  }

  /**
   * @internal Runs a task's handler now, in process, without storing a job: what
   * `background.add(task, input)` does. The input is validated; the result is dropped.
   */
  async runInline(name: string, input: unknown, requestId: string): Promise<unknown> {
    const task = this.#tasks.get(name) as TaskDefinition
    const payload = await validateWith(task.schema, input, `payload of "${name}"`)
    const controller = new AbortController()
    return task.handler(payload, {
      id: `${name}@${requestId}`,
      signal: controller.signal,
      attempt: 1,
      progress: () => {},
      log: this.#log.child({ task: name, requestId }),
    })
  }

  /** `now` for driver calls: only under a test clock; otherwise the database's clock decides. */
  get now(): number | undefined {
    return this.#clock === systemClock ? undefined : this.#clock.now()
  }

  /** Registers a task; see `Service.task`. */
  register<S extends StandardSchemaV1, R>(name: string, opts: TaskOptions<S>, handler: TaskHandler<S, R>): Task<StandardSchemaV1.InferInput<S>, Awaited<R>, Tx> {
    if (this.#tasks.has(name)) throw new AfterworkError('ERR_NAME_DUPLICATE', `A task named "${name}" is already registered`)
    const definition = defineTask(name, opts, handler)
    this.#tasks.set(name, definition)
    for (const listener of this.#registerListeners) listener(definition.queue)
    return new Task(this, name)
  }

  /** @internal Lets a started worker claim a task registered after its start, in a new queue too. */
  onRegister(listener: (queue: string) => void): () => void {
    this.#registerListeners.add(listener)
    return () => this.#registerListeners.delete(listener)
  }

  /** @internal The worker reads definitions by name. */
  definition(name: string): TaskDefinition | undefined {
    return this.#tasks.get(name)
  }

  /** @internal Task names by queue, for the worker's claims. */
  namesByQueue(): Map<string, string[]> {
    const byQueue = new Map<string, string[]>()
    for (const t of this.#tasks.values()) byQueue.set(t.queue, [...(byQueue.get(t.queue) ?? []), t.name])
    return byQueue
  }

  /** @internal Lets the in-process worker start a job the moment it is enqueued. */
  onWake(listener: (queue: string) => void): () => void {
    this.#wakeListeners.add(listener)
    return () => this.#wakeListeners.delete(listener)
  }

  /**
   * @internal The in-process worker offers a free slot for a job enqueued here (`worker.handoff`),
   * on drivers that can insert a job already claimed.
   */
  setHandoff(handoff: ((queue: string, name: string) => HandoffSlot | undefined) | undefined): void {
    this.#handoff = handoff
  }

  /** @internal The in-process worker lends its drain to {@link drain}. */
  setDrainer(drainer: () => Promise<void>): void {
    this.#drainer = drainer
  }

  /**
   * Runs jobs in this process until nothing is claimable now and nothing runs (jobs delayed into
   * the future stay): the test helper `await svc.queue.drain()`.
   */
  async drain(): Promise<void> {
    if (!this.#drainer) throw new AfterworkError('ERR_SERVICE_NOT_STARTED', 'drain() needs a started service with a worker')
    await this.#drainer()
  }

  /** Enqueues a job of a registered task by name. Unknown names are refused with ERR_QUEUE_UNKNOWN_TASK. */
  async enqueue(name: string, payload: unknown, opts: EnqueueOptions<Tx> = {}): Promise<EnqueueResult> {
    const [result] = await this.enqueueMany(name, [payload], opts)
    return result as EnqueueResult
  }

  /**
   * Enqueues many jobs of one task in one transaction. Every payload is validated first: one bad
   * payload stores nothing and the error names its index and field.
   */
  async enqueueMany(name: string, payloads: readonly unknown[], opts: EnqueueOptions<Tx> = {}): Promise<EnqueueResult[]> {
    const task = this.#tasks.get(name)
    if (!task) {
      throw new AfterworkError('ERR_QUEUE_UNKNOWN_TASK', `No task is named "${name}": register it with svc.task("${name}", ...) first`)
    }
    const now = this.#clock.now()
    const runAt = opts.runAt !== undefined ? +opts.runAt : opts.delay !== undefined ? now + toMs(opts.delay, 'delay') : now
    if (!Number.isFinite(runAt)) invalidOption('runAt', opts.runAt, 'a Date or epoch milliseconds')
    if (opts.priority !== undefined && !Number.isInteger(opts.priority)) invalidOption('priority', opts.priority, 'an integer')
    const jobs: JobInsert[] = []
    for (let i = 0; i < payloads.length; i++) {
      const what = payloads.length > 1 ? `payload ${i} of "${name}"` : `payload of "${name}"`
      jobs.push(await this.#buildJob(task, payloads[i], what, now, runAt, opts))
    }
    const handedOff = await this.#insertHandedOff(jobs, opts.tx, now)
    if (handedOff) return [{ id: handedOff, duplicate: false }]
    const results = await this.driver.jobInsertMany({
      jobs,
      ...(this.now === undefined ? {} : { now: this.now }),
      ...(opts.tx === undefined ? {} : { tx: opts.tx }),
    })
    if (opts.tx === undefined && results.some((r) => r.inserted)) for (const wake of this.#wakeListeners) wake(task.queue)
    return results.map((r) => (r.inserted ? { id: r.id, duplicate: false } : { id: r.conflictId, duplicate: true }))
  }

  /**
   * The hand-off: one due job without keys, outside a caller's transaction, when the in-process
   * worker has a free slot and nothing waiting for it, is inserted already claimed by that worker
   * and started at once, with no claim round trip and no NOTIFY. Returns its id, or undefined when
   * the jobs must take the usual path.
   */
  async #insertHandedOff(jobs: readonly JobInsert[], tx: Tx | undefined, now: number): Promise<string | undefined> {
    const insertClaimed = this.driver.jobInsertClaimed
    const [job] = jobs
    if (!insertClaimed || !this.#handoff || job === undefined || jobs.length > 1 || tx !== undefined) return undefined
    if (job.uniqueKey !== undefined || job.rateKey !== undefined || job.concurrencyKey !== undefined || job.runAt > now) return undefined
    const slot = this.#handoff(job.queue, job.name)
    if (!slot) return undefined
    let row: JobRow
    try {
      row = await insertClaimed.call(this.driver, { job, workerId: slot.workerId, lease: slot.lease, ...(this.now === undefined ? {} : { now: this.now }) })
    } catch (error) {
      slot.cancel()
      throw error
    }
    slot.start(row)
    return row.id
  }

  /** Validates a payload and builds the row to insert; the limits of the task travel on it. */
  async #buildJob(
    task: TaskDefinition,
    payload: unknown,
    what: string,
    now: number,
    runAt: number,
    opts: { priority?: number; uniqueKey?: string; concurrency?: { key: string; limit: number } },
  ): Promise<JobInsert> {
    const { name } = task
    const text = payloadJson(name, payload)
    // Most schemas validate synchronously: then the checks add no promise (enqueueMany builds
    // thousands of jobs). Most payloads are plain JSON already: then one check covers both forms.
    const given = validateNow(task.schema, payload, what)
    let value = given instanceof Promise ? await given : given
    if (!survivesJson(payload)) {
      const checked = validateStored(task, JSON.parse(text), what)
      value = checked instanceof Promise ? await checked : checked
    }
    const rateKey = task.rateLimit ? (task.rateLimit.key?.(value) ?? name) : undefined
    const concurrencyKey = opts.concurrency?.key ?? task.concurrencyKey?.(value)
    const concurrencyLimit = opts.concurrency?.limit ?? task.concurrency
    const uniqueKey = opts.uniqueKey ?? task.unique?.(value)
    return {
      id: uuidv7(now),
      queue: task.queue,
      name,
      payload: text,
      priority: opts.priority ?? task.priority,
      runAt,
      maxAttempts: task.retry.attempts,
      ...(uniqueKey === undefined ? {} : { uniqueKey: `${name}:${uniqueKey}` }),
      ...(task.rateLimit && rateKey !== undefined ? { rateKey: `${name}:${rateKey}`, rateLimit: task.rateLimit.limit, ratePer: task.rateLimit.perMs } : {}),
      ...(concurrencyKey === undefined ? {} : { concurrencyKey: `${name}:${concurrencyKey}`, concurrencyLimit }),
      ...(task.timeoutMs === undefined ? {} : { timeoutMs: task.timeoutMs }),
    }
  }

  /**
   * @internal A schedule's slot, fired through the store: exactly one process per (schedule, slot)
   * wins and inserts the job. `maxInstances` becomes the job's concurrency across the cluster.
   */
  async fireSchedule(schedule: string, taskName: string, input: unknown, slot: number, maxInstances: number): Promise<boolean> {
    const task = this.#tasks.get(taskName)
    if (!task) throw new AfterworkError('ERR_QUEUE_UNKNOWN_TASK', `No task is named "${taskName}"`)
    const now = this.#clock.now()
    const job = await this.#buildJob(task, input ?? {}, `input of schedule "${schedule}"`, now, now, {
      concurrency: { key: `schedule:${schedule}`, limit: maxInstances },
    })
    const { won } = await this.driver.scheduleFire({ schedule, slot, job, ...(this.now === undefined ? {} : { now: this.now }) })
    if (won) for (const wake of this.#wakeListeners) wake(task.queue)
    return won
  }

  /** @internal The last slot fired through the store, so a restarted scheduler knows what it missed. */
  lastSlot(schedule: string): Promise<number | null> {
    return this.driver.scheduleLastSlot({ schedule })
  }

  async get(id: string): Promise<JobStatus | undefined> {
    const row = await this.driver.jobGet({ id })
    return row ? toStatus(row) : undefined
  }

  /** Cancels a waiting job at once; a running one reads `cancelling` until its handler stops (any process). */
  async cancel(id: string): Promise<CancelOutcome> {
    const before = await this.driver.jobGet({ id })
    if (!before) return 'not_found'
    if (isFinalState(before.state)) return 'finished'
    const row = await this.driver.jobCancel({ id, ...(this.now === undefined ? {} : { now: this.now }) })
    if (!row) return 'not_found'
    if (row.state === 'cancelled') {
      this.#events.emit('job:cancelled', { id, name: row.name, durationMs: 0 })
      return 'cancelled'
    }
    return isFinalState(row.state) ? 'finished' : 'cancelling'
  }

  /** Queues a failed or cancelled job again with fresh attempts. Undefined when it is unknown or live. */
  async retry(id: string): Promise<JobStatus | undefined> {
    const row = await this.driver.jobRetry({ id, ...(this.now === undefined ? {} : { now: this.now }) })
    if (!row) return undefined
    for (const wake of this.#wakeListeners) wake(row.queue)
    return toStatus(row)
  }

  /** Newest first. */
  async list(filter: { queue?: string; name?: string; state?: JobState; limit?: number; before?: string } = {}): Promise<JobStatus[]> {
    const rows = await this.driver.jobList({ ...filter, limit: filter.limit ?? 100 })
    return rows.map(toStatus)
  }

  /** Jobs by queue, task and state. */
  counts(filter: { queue?: string } = {}): Promise<JobCount[]> {
    return this.driver.jobCounts(filter)
  }
}

/**
 * A typed handle on one registered durable task. `background.add(task, input)` also takes it, to
 * run the handler after the response without the queue: making that durable is replacing the line
 * with `task.enqueue(input)`.
 */
export class Task<I, R, Tx = never> implements InlineRunnable<I> {
  readonly name: string
  readonly #queue: Queue<Tx>

  /** @internal */
  constructor(queue: Queue<Tx>, name: string) {
    this.#queue = queue
    this.name = name
  }

  /** @internal See InlineRunnable. */
  [runInline](input: I, requestId: string): Promise<unknown> {
    return this.#queue.runInline(this.name, input, requestId)
  }

  /** Validates `payload` and stores a job; it runs on a worker (retried by the task's policy). */
  enqueue(payload: I, opts: EnqueueOptions<Tx> = {}): Promise<EnqueueResult> {
    return this.#queue.enqueue(this.name, payload, opts)
  }

  /** Stores many jobs in one transaction; one invalid payload stores none. */
  enqueueMany(payloads: readonly I[], opts: EnqueueOptions<Tx> = {}): Promise<EnqueueResult[]> {
    return this.#queue.enqueueMany(this.name, payloads, opts)
  }

  async get(id: string): Promise<JobStatus<R> | undefined> {
    const status = await this.#queue.get(id)
    return status?.name === this.name ? (status as JobStatus<R>) : undefined
  }

  async cancel(id: string): Promise<CancelOutcome> {
    return (await this.get(id)) ? this.#queue.cancel(id) : 'not_found'
  }

  async retry(id: string): Promise<JobStatus<R> | undefined> {
    return (await this.get(id)) ? ((await this.#queue.retry(id)) as JobStatus<R> | undefined) : undefined
  }
}

/** A stored row as the JobStatus every job API returns. */
export function toStatus(row: JobRow): JobStatus {
  const iso = (ms: number | null) => (ms === null ? undefined : new Date(ms).toISOString())
  return {
    id: row.id,
    name: row.name,
    state: row.state,
    // A job that succeeded is done, whatever fraction it last reported (as in-process jobs).
    progress: row.state === 'succeeded' ? { ...row.progress, fraction: 1 } : (row.progress ?? { fraction: 0 }),
    ...(row.state === 'succeeded' && row.result !== null ? { result: JSON.parse(row.result) as unknown } : {}),
    ...(row.error ? { error: row.error } : {}),
    attempt: row.attempt,
    createdAt: iso(row.createdAt) as string,
    ...(row.startedAt === null ? {} : { startedAt: iso(row.startedAt) }),
    ...(row.finishedAt === null ? {} : { finishedAt: iso(row.finishedAt) }),
    ...(row.startedAt !== null && row.finishedAt !== null ? { durationMs: row.finishedAt - row.startedAt } : {}),
  }
}

/**
 * Validates the payload as the worker will see it: parsed back from the stored JSON, after the
 * payload as given passed. One that passes only as given (a Date under z.date() becomes a string,
 * a Map becomes {}) is refused here, with that said, rather than failing every attempt at the worker.
 */
function validateStored(task: TaskDefinition, stored: unknown, what: string): unknown {
  let value: unknown
  try {
    value = validateNow(task.schema, stored, what)
  } catch (error) {
    throw storedFormError(task, error)
  }
  return value instanceof Promise ? value.catch((error: unknown) => Promise.reject(storedFormError(task, error))) : value
}

function storedFormError(task: TaskDefinition, error: unknown): unknown {
  if (!isAfterworkError(error, 'ERR_VALIDATION')) return error
  return new AfterworkError(
    'ERR_QUEUE_PAYLOAD',
    `The payload of "${task.name}" changes when stored as JSON (a Date becomes a string, a Map or Set becomes {}) and then fails its schema: ${error.message}. Send JSON values, or let the schema take their JSON form (z.coerce.date())`,
    { cause: error },
  )
}
