import { withDeadline, type Clock } from './clock.js'
import { deferred, type Deferred } from './deferred.js'
import { AfterworkError } from './errors.js'
import type { Events } from './events.js'
import type { Logger } from './logger.js'
import { enterRequestId, runWithRequestId } from './request-context.js'
import { isThenable } from './thenable.js'

/**
 * Implemented by durable task handles: `background.add(task, input)` runs the task's handler in
 * process after the response (validated, with a RunContext), without the queue.
 */
export const runInline: unique symbol = Symbol.for('afterwork.runInline')

/** Something `background.add` can run with one input: a durable task handle. */
export interface InlineRunnable<I> {
  readonly name: string
  [runInline](input: I, requestId: string): Promise<unknown>
}

type Task = (...args: never[]) => unknown

/** A task and its arguments; a task called with none is kept as the bare function (one object less per request). */
type Entry = Task | { fn: Task; args: unknown[] }

// The runner keeps the lists that have tasks but have not started linked through the lists
// themselves: a Set's add and delete per request reallocated its table about every other request
// (121 bytes a request in a heap profile), a link costs two fields the list already has.
const prevUnstarted: unique symbol = Symbol('afterwork.prevUnstarted')
const nextUnstarted: unique symbol = Symbol('afterwork.nextUnstarted')

export interface BackgroundRunnerOptions {
  /** Tasks added but not finished, across all requests, before `add()` refuses with 503. @default 10000 */
  maxPending: number
  /** Run tasks inside an AsyncLocalStorage context carrying the request id (`currentRequestId()`). */
  requestContext: boolean
  clock: Clock
  log: Logger
  events: Events
}

/** Counts since the service was created. */
export interface BackgroundStats {
  pending: number
  running: number
  succeeded: number
  failed: number
}

/**
 * The process-wide side of post-response tasks: bounds how many are pending, runs each request's
 * list, counts outcomes and lets shutdown wait for all of them with a deadline.
 */
export class BackgroundRunner {
  readonly #opts: BackgroundRunnerOptions
  /** The oldest and the newest of the lists that have tasks and have not started (see prevUnstarted). */
  #unstarted: BackgroundTasks | undefined
  #lastUnstarted: BackgroundTasks | undefined
  #pending = 0
  #running = 0
  #succeeded = 0
  #failed = 0
  #closed = false
  #idle: Deferred<void> | undefined

  constructor(opts: BackgroundRunnerOptions) {
    this.#opts = opts
  }

  /** @internal Whether tasks run with the request id in an AsyncLocalStorage context. */
  get withContext(): boolean {
    return this.#opts.requestContext
  }

  /** A fresh, empty task list for one request. */
  create(requestId: string): BackgroundTasks {
    return new BackgroundTasks(this, requestId)
  }

  get stats(): BackgroundStats {
    return { pending: this.#pending, running: this.#running, succeeded: this.#succeeded, failed: this.#failed }
  }

  /** Resolves once no task is pending (at once when none is). Shutdown and the test client use it. */
  idle(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve()
    this.#idle ??= deferred()
    return this.#idle.promise
  }

  /**
   * Refuses new tasks, starts any list whose response never closed, and waits up to `timeoutMs` for
   * every pending task. Returns how many were still pending at the deadline (0 when all finished).
   */
  async drain(timeoutMs: number): Promise<number> {
    this.#closed = true
    // Oldest first. Starting a list unlinks it; its tasks may start (and unlink) others, so always take the first.
    while (this.#unstarted !== undefined) this.#unstarted.start()
    const outcome = await withDeadline(this.#opts.clock, timeoutMs, this.idle())
    if (!outcome.timedOut) return 0
    const detail = `${this.#pending} background task(s) still pending at the shutdown deadline (${this.#running} running)`
    this.#opts.log.warn({ pending: this.#pending }, `${detail}; abandoned`)
    this.#opts.events.emit('shutdown:abandoned', { step: 'background', detail })
    return this.#pending
  }

  /** @internal Called by BackgroundTasks.add before it accepts a task. */
  reserve(tasks: BackgroundTasks, firstTask: boolean): void {
    if (this.#closed) {
      throw new AfterworkError('ERR_BACKGROUND_CLOSED', 'The service has drained its background tasks and takes no more')
    }
    if (this.#pending >= this.#opts.maxPending) {
      throw new AfterworkError(
        'ERR_BACKGROUND_FULL',
        `${this.#pending} background tasks are pending (maxPending ${this.#opts.maxPending}); try again later`,
      )
    }
    this.#pending++
    if (firstTask) {
      const last = this.#lastUnstarted
      if (last === undefined) this.#unstarted = tasks
      else last[nextUnstarted] = tasks
      tasks[prevUnstarted] = last
      this.#lastUnstarted = tasks
    }
  }

  /** @internal The list starts: it is no longer drain's to start. A no-op for a list not linked. */
  listStarted(tasks: BackgroundTasks): void {
    const prev = tasks[prevUnstarted]
    const next = tasks[nextUnstarted]
    if (prev === undefined && this.#unstarted !== tasks) return
    if (prev === undefined) this.#unstarted = next
    else prev[nextUnstarted] = next
    if (next === undefined) this.#lastUnstarted = prev
    else next[prevUnstarted] = prev
    tasks[prevUnstarted] = undefined
    tasks[nextUnstarted] = undefined
  }

  /**
   * @internal A list starts one of its tasks. Returns the clock's reading when someone listens for
   * the task's outcome (its duration is in the event), else undefined: reading the clock was a
   * tenth of a task's cost (Node 20).
   */
  taskStarting(): number | undefined {
    this.#running++
    const { events, clock } = this.#opts
    return events.has('background:succeeded') || events.has('background:failed') ? clock.monotonic() : undefined
  }

  /** @internal The task a list started has finished. */
  taskSucceeded(tasks: BackgroundTasks, fn: Task, started: number | undefined): void {
    this.#succeeded++
    const { events } = this.#opts
    if (events.has('background:succeeded')) {
      events.emit('background:succeeded', { requestId: tasks.requestId, task: fn.name || 'anonymous', durationMs: this.#sinceStart(started) })
    }
    this.#running--
    this.#pending--
  }

  /** @internal The task a list started threw or rejected: logged with the request id and counted. */
  taskFailed(tasks: BackgroundTasks, fn: Task, started: number | undefined, error: unknown): void {
    this.#failed++
    const { log, events } = this.#opts
    const task = fn.name || 'anonymous'
    log.error({ err: error, requestId: tasks.requestId, task }, 'background task failed')
    events.emit('background:failed', { requestId: tasks.requestId, task, durationMs: this.#sinceStart(started), error })
    this.#running--
    this.#pending--
  }

  /** A task's duration from taskStarting()'s reading; 0 when untimed (a listener added while the task ran). */
  #sinceStart(started: number | undefined): number {
    return started === undefined ? 0 : this.#opts.clock.monotonic() - started
  }

  /** @internal A list ran every task added so far. */
  listRanOut(): void {
    if (this.#pending === 0 && this.#idle) {
      this.#idle.resolve()
      this.#idle = undefined
    }
  }
}

/**
 * The post-response tasks of one request (the seed's `BackgroundTasks`). Add plain functions with
 * their arguments; they run after the response closes, one after another in the order added, in the
 * same process. A task that throws is logged with the request id and counted, and the tasks after
 * it still run. They are not durable: a crash loses them (use a durable task for that).
 */
export class BackgroundTasks {
  readonly requestId: string
  readonly #runner: BackgroundRunner
  /**
   * This run's tasks, the finished ones included, read live as the list runs: one entry kept
   * bare, two or more in an array (most lists have one; an array of one was 56 bytes a request).
   */
  #entries: Entry | Entry[] | undefined
  /** Tasks in this run, and the index of the next one to start. */
  #count = 0
  #next = 0
  #added = 0
  #started = false
  #running = false
  /** The task in flight, and the clock's reading when it started (undefined when untimed). */
  #current: Task | undefined
  #currentStarted: number | undefined
  /** What an asynchronous task's settling calls, made when the list first waits on one and kept for its later ones. */
  #onFulfilled: (() => void) | undefined
  #onRejected: ((error: unknown) => void) | undefined
  /** @internal The runner's links between unstarted lists. */
  ;[prevUnstarted]: BackgroundTasks | undefined = undefined
  /** @internal */
  ;[nextUnstarted]: BackgroundTasks | undefined = undefined

  /** @internal Adapters get one from `service.createBackgroundTasks(requestId)`. */
  constructor(runner: BackgroundRunner, requestId: string) {
    this.#runner = runner
    this.requestId = requestId
  }

  /**
   * Adds `fn(...args)` to run after the response. Throws `ERR_BACKGROUND_FULL` (answered 503) when
   * the process already has `maxPending` tasks waiting.
   *
   * @example
   * c.var.background.add(sendWelcomeEmail, body.email, body.name)
   */
  add<A extends unknown[]>(fn: (...args: A) => unknown, ...args: A): void
  /** Runs a durable task's handler after the response, in process and without the queue. */
  add<I>(task: InlineRunnable<I>, input: I): void
  add(fnOrTask: ((...args: unknown[]) => unknown) | InlineRunnable<unknown>, ...args: unknown[]): void {
    let fn: Task
    if (typeof fnOrTask === 'function') {
      fn = fnOrTask as Task
    } else if (typeof fnOrTask === 'object' && fnOrTask !== null && runInline in fnOrTask) {
      const task = fnOrTask
      const requestId = this.requestId
      // Named after the task, so logs and events say which task failed.
      fn = { [task.name]: (input: unknown) => task[runInline](input, requestId) }[task.name] as Task
    } else {
      throw new AfterworkError('ERR_INVALID_OPTION', `background.add needs a function or a task; got ${typeof fnOrTask}`)
    }
    this.#runner.reserve(this, this.#added === 0 && !this.#started)
    this.#added++
    const entry: Entry = args.length === 0 ? fn : { fn, args }
    if (this.#count === 0) this.#entries = entry
    else if (this.#count === 1) this.#entries = [this.#entries as Entry, entry]
    else (this.#entries as Entry[]).push(entry)
    this.#count++
    // Added after the list ran out (from a later callback of one of its tasks, say): run it once
    // the caller's turn is over, never inside add(); later adds in this turn join the same run.
    if (this.#started && !this.#running) {
      this.#running = true
      queueMicrotask(() => this.#run(false))
    }
  }

  /** How many tasks were added. */
  get size(): number {
    return this.#added
  }

  /**
   * @internal Starts the list; adapters call it when the response closes. Idempotent.
   * `inOwnCallback` says the caller is an event-loop callback of its own, which Node runs in its
   * own async context and sets back after (a Node response's 'close' listener): the request id is
   * then entered for the rest of that callback, one context frame, where running the tasks inside
   * `AsyncLocalStorage.run()` makes two (the second to restore the first), with a copy of the
   * frame's map each. Anywhere else, entering would leak the id into the caller's later code.
   */
  start(inOwnCallback = false): void {
    if (this.#started) return
    this.#started = true
    if (this.#count > 0) {
      this.#running = true
      this.#run(inOwnCallback)
    }
  }

  /** Runs this run's tasks from the first, in the request's context when the service keeps one. */
  #run(inOwnCallback: boolean): void {
    const runner = this.#runner
    runner.listStarted(this)
    if (!runner.withContext) {
      this.#step()
    } else if (inOwnCallback) {
      enterRequestId(this.requestId)
      this.#step()
    } else {
      runWithRequestId(this.requestId, () => this.#step())
    }
  }

  /**
   * Starts the tasks from the next one on, in order, until one returns a promise (its settling
   * resumes the list, in the context it was started in) or none is left; a task that throws or
   * rejects is counted and logged and the next still starts. Not an async function: its frame,
   * its promise and an await were 600 of the 1,100 bytes a one-task request allocated (heap
   * profile). The first task starts inside the caller (a response's `close` listener): deferring it
   * a microtask was a fifth of a task's cost. The list is told it ran out in the same turn as its
   * last task finished, so no task can be added in between and missed.
   */
  #step(): void {
    const runner = this.#runner
    while (this.#next < this.#count) {
      const entries = this.#entries as Entry | Entry[]
      const entry = Array.isArray(entries) ? (entries[this.#next] as Entry) : entries
      this.#next++
      const fn = typeof entry === 'function' ? entry : entry.fn
      const started = runner.taskStarting()
      let result: unknown
      try {
        result = typeof entry === 'function' ? entry() : entry.fn(...(entry.args as never[]))
      } catch (error) {
        runner.taskFailed(this, fn, started, error)
        continue
      }
      if (isThenable(result)) {
        this.#current = fn
        this.#currentStarted = started
        this.#onFulfilled ??= () => {
          runner.taskSucceeded(this, this.#current as Task, this.#currentStarted)
          this.#step()
        }
        this.#onRejected ??= (error) => {
          runner.taskFailed(this, this.#current as Task, this.#currentStarted, error)
          this.#step()
        }
        // A promise of another kind (or a bare thenable) is adopted first, so each callback runs at most once.
        void (result instanceof Promise && result.constructor === Promise ? result : Promise.resolve(result)).then(this.#onFulfilled, this.#onRejected)
        return
      }
      runner.taskSucceeded(this, fn, started)
    }
    this.#running = false
    this.#entries = undefined
    this.#count = 0
    this.#next = 0
    this.#current = undefined
    runner.listRanOut()
  }
}
