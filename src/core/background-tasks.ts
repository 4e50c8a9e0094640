import { withDeadline, type Clock } from './clock.js'
import { deferred, type Deferred } from './deferred.js'
import { AfterworkError } from './errors.js'
import type { Events } from './events.js'
import type { Logger } from './logger.js'
import { enterRequestId, runWithRequestId } from './request-context.js'

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

/** The runner's call to a list whose tasks have all run; a symbol this module keeps. */
const ranOut: unique symbol = Symbol('afterwork.ranOut')

type Task = (...args: never[]) => unknown

/** A task and its arguments; a task called with none is kept as the bare function (one object less per request). */
type Entry = Task | { fn: Task; args: unknown[] }

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
  readonly #unstarted = new Set<BackgroundTasks>()
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
    for (const tasks of this.#unstarted) tasks.start()
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
    if (firstTask) this.#unstarted.add(tasks)
  }

  /**
   * @internal Runs one request's list in order; a task that throws is logged and the next still runs.
   * The first task starts at once, inside the caller (a response's `close` listener): deferring it a
   * microtask was a fifth of a task's cost. `entries` is read live, so a task added while the list
   * runs (from inside a task, say) runs after the others; the list is told it ran out in the same
   * turn as its last task finished, so no task can be added in between and missed.
   */
  async run(tasks: BackgroundTasks, entries: Entry[]): Promise<void> {
    this.#unstarted.delete(tasks)
    const { clock, log, events } = this.#opts
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i] as Entry
      const fn = typeof entry === 'function' ? entry : entry.fn
      const args = typeof entry === 'function' ? undefined : (entry.args as never[])
      // Timed only for a listener: reading the clock was a tenth of a task's cost (Node 20).
      const timed = events.has('background:succeeded') || events.has('background:failed')
      const started = timed ? clock.monotonic() : 0
      this.#running++
      try {
        await (args === undefined ? fn() : fn(...args))
        this.#succeeded++
        if (events.has('background:succeeded')) {
          events.emit('background:succeeded', { requestId: tasks.requestId, task: fn.name || 'anonymous', durationMs: timed ? clock.monotonic() - started : 0 })
        }
      } catch (error) {
        this.#failed++
        const task = fn.name || 'anonymous'
        log.error({ err: error, requestId: tasks.requestId, task }, 'background task failed')
        // A listener added while the task ran sees a duration of 0.
        events.emit('background:failed', { requestId: tasks.requestId, task, durationMs: timed ? clock.monotonic() - started : 0, error })
      } finally {
        this.#running--
        this.#pending--
      }
    }
    tasks[ranOut]()
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
  /** This run's tasks, the finished ones included; the running loop reads it live. */
  #entries: Entry[] | undefined
  #added = 0
  #started = false
  #running = false

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
    // A literal of one: pushing onto [] reserves room for 17.
    if (this.#entries === undefined) this.#entries = [entry]
    else this.#entries.push(entry)
    // Added after the list ran out (from a later callback of one of its tasks, say): run it once
    // the caller's turn is over, never inside add(); later adds in this turn join the same run.
    if (this.#started && !this.#running) {
      this.#running = true
      const entries = this.#entries
      queueMicrotask(() => this.#run(entries, false))
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
    if (this.#entries !== undefined) this.#run(this.#entries, inOwnCallback)
  }

  #run(entries: Entry[], inOwnCallback: boolean): void {
    this.#running = true
    const runner = this.#runner
    if (!runner.withContext) {
      void runner.run(this, entries)
    } else if (inOwnCallback) {
      enterRequestId(this.requestId)
      void runner.run(this, entries)
    } else {
      void runWithRequestId(this.requestId, () => runner.run(this, entries))
    }
  }

  /** @internal The runner ran every task added so far: the next add() starts a new run. */
  [ranOut](): void {
    this.#running = false
    this.#entries = undefined
  }
}
