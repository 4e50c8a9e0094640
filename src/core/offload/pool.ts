import { availableParallelism } from 'node:os'
import { isAbsolute } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Piscina } from 'piscina'
import { onAbort } from '../abort-fanout.js'
import { TIMER_CANCELLED, withDeadline, type Clock } from '../clock.js'
import { requireCommonJs } from '../require-common-js.js'
import { deferred, type Deferred } from '../deferred.js'
import { toMs, type Duration } from '../duration.js'
import { AfterworkError, ShutdownError, errorCodes, invalidOption, type ErrorCode } from '../errors.js'
import type { Logger } from '../logger.js'
import { CancelState, isTaskFailure, type SerializedThrown, type TaskPayload } from './messages.js'

/** Options of the offload pool (`offload` in the Service options). */
export interface OffloadOptions {
  /** Threads kept alive when idle. @default 0 (threads start on first use) */
  minThreads?: number
  /** @default max(1, os.availableParallelism() - 1), and at least minThreads */
  maxThreads?: number
  /** How long a thread above minThreads may sit idle before it exits. @default '30s' */
  idleTimeout?: Duration
  /**
   * Node flags for the worker threads. When unset, threads inherit the process's flags.
   * To run `.ts` modules in development: `['--import', 'tsx']` on Node 24.11.1+ (or 22.22.3+).
   * Older Node, 20 included, needs a preload that calls `register()` from `tsx/esm/api`: there
   * tsx's `--import` entry installs its hooks on the main thread only.
   */
  execArgv?: string[]
  /** After a cancel, how long a task may run before its thread is terminated. @default '1s' */
  cancelGrace?: Duration
  /** Tasks waiting for a thread before run() rejects with `ERR_OFFLOAD_FULL`. @default 10000 */
  maxQueue?: number
}

/** Per-run options of {@link OffloadPool.run}. */
export interface OffloadRunOptions {
  /** Cancels the run: it rejects with `signal.reason`, unchanged (see {@link OffloadPool.run}). */
  signal?: AbortSignal
  /** Cancels the run with an `ERR_TIMEOUT` error this long after run() was called (waiting included). */
  timeout?: Duration
}

/** Counts of the pool; `completed` and `cancelled` count since start. */
export interface OffloadStats {
  threads: number
  queued: number
  running: number
  /** Runs that ended with the task's own result or error. */
  completed: number
  /** Runs ended by their signal or timeout. */
  cancelled: number
  /** Threads terminated because their task ignored its cancellation past the grace. */
  terminated: number
}

type Settled = { ok: true; value: unknown } | { ok: false; error: unknown }

const GRACE_OVER = Symbol('grace over')
const CANCELLED = Symbol('cancelled')

// piscina loads with the first pool: a service that never offloads does not pay for it.
const loadPiscina = (): typeof Piscina => requireCommonJs<typeof import('piscina')>('piscina').Piscina

// The built package runs dist/core/offload/pool.js next to worker-entry.js; tsx and vitest run the
// sources, where the entry is the .ts file (its thread then needs a TypeScript loader: execArgv).
const workerEntry = new URL(import.meta.url.endsWith('.ts') ? './worker-entry.ts' : './worker-entry.js', import.meta.url).href

/**
 * Runs CPU-heavy functions on a pool of worker threads (piscina), so they never block the event
 * loop. Functions are named by module URL and export, since closures cannot cross threads. The
 * Service owns one: created at start, drained and destroyed at stop.
 *
 * @example
 * // heavy.ts: export function fib(n: number): number { ... }
 * const n = await pool.run<number>(new URL('./heavy.js', import.meta.url), 'fib', 40, { timeout: '5s' })
 */
export class OffloadPool {
  readonly #clock: Clock
  readonly #log: Logger
  readonly #minThreads: number
  readonly #maxThreads: number
  readonly #idleTimeoutMs: number
  readonly #cancelGraceMs: number
  readonly #maxQueue: number
  readonly #execArgv: string[] | undefined
  #pool: Piscina | undefined
  #started = false
  #stopping: Promise<void> | undefined
  #destroying = false
  /** Tasks handed to piscina and not settled there yet (queued or on a thread). */
  #inflight = 0
  #idle: Deferred<void> | undefined
  #completed = 0
  #cancelled = 0
  #terminated = 0

  constructor(opts: OffloadOptions & { clock: Clock; log: Logger }) {
    this.#clock = opts.clock
    this.#log = opts.log
    this.#minThreads = opts.minThreads ?? 0
    if (!Number.isInteger(this.#minThreads) || this.#minThreads < 0) invalidOption('offload.minThreads', opts.minThreads, 'an integer >= 0')
    this.#maxThreads = opts.maxThreads ?? Math.max(1, availableParallelism() - 1, this.#minThreads)
    if (!Number.isInteger(this.#maxThreads) || this.#maxThreads < 1) invalidOption('offload.maxThreads', opts.maxThreads, 'an integer >= 1')
    if (this.#maxThreads < this.#minThreads) invalidOption('offload.maxThreads', opts.maxThreads, `at least minThreads (${this.#minThreads})`)
    this.#idleTimeoutMs = toMs(opts.idleTimeout ?? '30s', 'offload.idleTimeout')
    this.#cancelGraceMs = toMs(opts.cancelGrace ?? '1s', 'offload.cancelGrace')
    this.#maxQueue = opts.maxQueue ?? 10_000
    if (!Number.isInteger(this.#maxQueue) || this.#maxQueue < 0) invalidOption('offload.maxQueue', opts.maxQueue, 'an integer >= 0')
    if (opts.execArgv !== undefined && !(Array.isArray(opts.execArgv) && opts.execArgv.every((a) => typeof a === 'string'))) {
      invalidOption('offload.execArgv', opts.execArgv, 'an array of strings')
    }
    this.#execArgv = opts.execArgv
  }

  /** Readies the pool: threads (and piscina itself) start on first use unless minThreads > 0. Idempotent. */
  start(): Promise<void> {
    if (this.#stopping) return Promise.reject(new AfterworkError('ERR_SERVICE_STOPPED', 'The offload pool was stopped; create a new one'))
    this.#started = true
    if (this.#minThreads > 0) this.#createPool()
    return Promise.resolve()
  }

  #createPool(): Piscina {
    if (this.#pool) return this.#pool
    const PiscinaPool = loadPiscina()
    const pool = new PiscinaPool({
      filename: workerEntry,
      minThreads: this.#minThreads,
      maxThreads: this.#maxThreads,
      idleTimeout: this.#idleTimeoutMs,
      // Bounded by run() itself: piscina's own maxQueue does not count tasks that carry a signal.
      maxQueue: Infinity,
      ...(this.#execArgv ? { execArgv: this.#execArgv } : {}),
    })
    // A thread that fails with no task on it (an uncaught error in a leftover callback) is
    // reported here; without a listener the EventEmitter would throw it on the main thread.
    pool.on('error', (error: unknown) => this.#log.error({ err: error }, 'an offload thread failed outside any task'))
    this.#pool = pool
    return pool
  }

  /**
   * Runs `module`'s export `exportName` as `fn(input, ctx)` on a pool thread and resolves with its
   * result. `input` and the result are structured-cloned. An error thrown by the task rejects the
   * run with an Error of the same name, message, stack (the thread's) and own properties (`code`).
   *
   * Cancel (the signal aborts or the timeout passes) raises `ctx.cancelled()`. A task that stops
   * within `cancelGrace` (or had not started) rejects the run with `signal.reason` unchanged, or an
   * `ERR_TIMEOUT` error; one that keeps running has its thread terminated, without its `finally`
   * blocks, and the run rejects with `ERR_OFFLOAD_TERMINATED`.
   *
   * @param module a URL (`new URL('./heavy.js', import.meta.url)`) or an absolute path
   */
  async run<T = unknown>(module: URL | string, exportName: string, input: unknown, opts: OffloadRunOptions = {}): Promise<T> {
    const { signal } = opts
    signal?.throwIfAborted()
    if (this.#stopping) throw new AfterworkError('ERR_SERVICE_STOPPED', 'The offload pool was stopped and runs nothing more')
    if (!this.#started) throw new AfterworkError('ERR_SERVICE_NOT_STARTED', 'The offload pool is not started: call start() (the Service does) before run()')
    const pool = this.#createPool()
    const href = moduleHref(module)
    if (typeof exportName !== 'string' || exportName === '') invalidOption('exportName', exportName, 'the name of an exported function')
    const timeoutMs = opts.timeout === undefined ? undefined : toMs(opts.timeout, 'timeout')
    if (pool.queueSize >= this.#maxQueue) {
      throw new AfterworkError(
        'ERR_OFFLOAD_FULL',
        `${pool.queueSize} offloaded tasks are waiting for a thread (offload.maxQueue ${this.#maxQueue}); try again later`,
      )
    }
    const payload: TaskPayload = { module: href, exportName, input }
    // Only a cancellable run carries a signal and a shared flag. With a signal piscina queues the
    // task apart and runs its balancer on every submit, and the run adds its own listeners and
    // timers: tens of microseconds per run, which at least halves the rate of trivial tasks (for
    // tasks of a few milliseconds it is lost in the noise).
    if (signal === undefined && timeoutMs === undefined) {
      // One await on piscina's own promise: at tens of thousands of runs a second, each extra
      // promise and wrapper object here is a measurable share of a trivial task's round trip.
      this.#inflight++
      try {
        const value = (await pool.run(payload)) as T
        this.#completed++
        return value
      } catch (error) {
        throw this.#failure(error, payload)
      } finally {
        this.#settled()
      }
    }
    return (await this.#runCancellable(pool, payload, signal, timeoutMs)) as T
  }

  async #runCancellable(pool: Piscina, payload: TaskPayload, signal: AbortSignal | undefined, timeoutMs: number | undefined): Promise<unknown> {
    const label = labelOf(payload)
    const state = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT))
    payload.cancel = state
    // piscina gets this per-run signal, never the caller's: aborting it terminates the thread, and
    // a long-lived caller signal would collect one piscina listener per run.
    const terminate = new AbortController()
    // Clears the timeout and grace sleeps; made only when one is needed (this path runs per task).
    let timers: AbortController | undefined
    const timersSignal = () => (timers ??= new AbortController()).signal
    const cancel = deferred<typeof CANCELLED>()
    let cancelled = false
    let reason: unknown
    const onCancel = (why: unknown) => {
      if (cancelled) return
      cancelled = true
      reason = why
      cancel.resolve(CANCELLED)
    }
    const leave = signal && onAbort(signal, () => onCancel(signal.reason))
    if (timeoutMs !== undefined) {
      this.#clock.sleep(timeoutMs, timersSignal()).then(
        () => onCancel(new AfterworkError('ERR_TIMEOUT', `Offloaded ${label} did not finish within its timeout of ${timeoutMs} ms`)),
        () => {},
      )
    }
    try {
      const task = this.#submit(pool, payload, terminate.signal)
      const first = await Promise.race([task, cancel.promise])
      if (first !== CANCELLED) return this.#unwrap(first, payload)
      this.#cancelled++
      if (Atomics.compareExchange(state, 0, CancelState.queued, CancelState.cancelled) === CancelState.queued) {
        // Not started: piscina drops it from its queue (if a thread had just been handed it and not
        // begun, that thread, which runs nothing else, is replaced).
        terminate.abort(reason)
        throw reason
      }
      Atomics.store(state, 0, CancelState.cancelled)
      const grace = this.#clock.sleep(this.#cancelGraceMs, timersSignal()).then(() => GRACE_OVER, () => GRACE_OVER)
      if ((await Promise.race([task, grace])) !== GRACE_OVER) throw reason
      await this.#terminate(pool, terminate, reason)
      this.#terminated++
      this.#log.warn({ task: label, cancelGraceMs: this.#cancelGraceMs }, 'an offloaded task ignored its cancellation; its thread was terminated')
      throw new AfterworkError(
        'ERR_OFFLOAD_TERMINATED',
        `Offloaded ${label} kept running ${this.#cancelGraceMs} ms after it was cancelled, so its thread was terminated: poll ctx.cancelled() in long loops`,
        { cause: reason },
      )
    } finally {
      leave?.()
      // A reason of our own: the default one is a DOMException, costly to build on every run.
      timers?.abort(TIMER_CANCELLED)
    }
  }

  /** Aborts piscina's signal for the task, which terminates its thread, and waits (bounded) for the thread to exit. */
  async #terminate(pool: Piscina, terminate: AbortController, reason: unknown): Promise<void> {
    const before = pool.threads
    terminate.abort(reason) // piscina removes the thread synchronously, inside this call
    const after = new Set(pool.threads)
    const exits = before.filter((thread) => !after.has(thread)).map((thread) => thread.terminate())
    // Once the run has rejected, the task must have no more effects: wait for the thread to exit.
    await withDeadline(this.#clock, Math.max(this.#cancelGraceMs, 1_000), Promise.allSettled(exits))
  }

  /** Hands the task to piscina; resolves (never rejects) when piscina is done with it. */
  #submit(pool: Piscina, payload: TaskPayload, signal: AbortSignal): Promise<Settled> {
    this.#inflight++
    return (pool.run(payload, { signal }) as Promise<unknown>).then(
      (value): Settled => ({ ok: true, value }),
      (error: unknown): Settled => ({ ok: false, error }),
    ).finally(() => this.#settled())
  }

  #settled(): void {
    if (--this.#inflight === 0 && this.#idle) {
      this.#idle.resolve()
      this.#idle = undefined
    }
  }

  #unwrap(settled: Settled, payload: TaskPayload): unknown {
    if (!settled.ok) throw this.#failure(settled.error, payload)
    this.#completed++
    return settled.value
  }

  /** What a run rejects with: the task's own error rebuilt, or one saying why it has none. */
  #failure(error: unknown, payload: TaskPayload): unknown {
    const label = labelOf(payload)
    if (isTaskFailure(error)) {
      this.#completed++
      if ('cancelled' in error) return new AfterworkError('ERR_INTERNAL', `Offloaded ${label} was skipped as cancelled though nobody cancelled it (an afterwork bug)`)
      return rebuildThrown(error.error)
    }
    if (this.#destroying) return new ShutdownError(`The offload pool stopped before ${label} finished; its thread was terminated`)
    if (error instanceof Error && error.name === 'DataCloneError') {
      return new AfterworkError('ERR_INVALID_OPTION', `The input of ${label} cannot be sent to a thread: ${error.message}`, { cause: error })
    }
    // The thread died under the task: process.exit(), an uncaught error in one of its callbacks, out
    // of memory, or a result that structured clone refused (Node 20 reports that one as `{}`).
    const detail = (error instanceof Error && error.message) || 'no message (a result that cannot be structured-cloned does this)'
    return new AfterworkError('ERR_OFFLOAD_CRASHED', `The thread running ${label} failed: ${detail}`, { cause: error })
  }

  /** Resolves once piscina holds no task of ours. */
  #whenIdle(): Promise<void> {
    if (this.#inflight === 0) return Promise.resolve()
    this.#idle ??= deferred()
    return this.#idle.promise
  }

  /**
   * Takes no new runs, waits up to `timeoutMs` for queued and running tasks, then destroys the pool:
   * threads still running are terminated and their runs reject with `ERR_SHUTDOWN`. Idempotent and
   * safe before start().
   */
  stop(timeoutMs: number): Promise<void> {
    this.#stopping ??= this.#stop(timeoutMs)
    return this.#stopping
  }

  // piscina's close() is not used: it waits only for tasks already on a thread (queued ones, even
  // those waiting for a starting thread, are rejected), and once we destroy() at our deadline its
  // internal closeTimeout (30 s) stays pending and later emits an 'error' event.
  async #stop(timeoutMs: number): Promise<void> {
    const pool = this.#pool
    if (!pool) return
    const drained = this.#inflight === 0 || (timeoutMs > 0 && !(await withDeadline(this.#clock, timeoutMs, this.#whenIdle())).timedOut)
    if (!drained) {
      const { queued, running } = this.stats
      this.#log.warn({ queued, running, timeoutMs }, 'offloaded tasks still running at the stop deadline; terminating their threads')
    }
    this.#destroying = true
    await pool.destroy()
  }

  /** `await using pool = ...` stops the pool (waiting up to 10 s) at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop(10_000)
  }

  get stats(): OffloadStats {
    const pool = this.#pool
    const threads = pool && !this.#destroying ? pool.threads.length : 0
    const queued = pool ? Math.min(pool.queueSize, this.#inflight) : 0
    return { threads, queued, running: this.#inflight - queued, completed: this.#completed, cancelled: this.#cancelled, terminated: this.#terminated }
  }
}

/** How errors and logs name a task: `module#export`. Built only when needed. */
function labelOf({ module, exportName }: TaskPayload): string {
  return `${module}#${exportName}`
}

function moduleHref(module: URL | string): string {
  if (module instanceof URL) return module.href
  if (typeof module === 'string') {
    if (isAbsolute(module)) return pathToFileURL(module).href
    if (URL.canParse(module)) return module
  }
  return invalidOption('module', module, 'a URL such as new URL("./heavy.js", import.meta.url), or an absolute path')
}

const builtinErrors: Record<string, ErrorConstructor> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
}

/** Turns what the thread sent back into the value it threw: an Error with its name, stack and props. */
function rebuildThrown(thrown: SerializedThrown): unknown {
  if (thrown.kind === 'value') return thrown.value
  const options = thrown.cause === undefined ? undefined : { cause: rebuildThrown(thrown.cause) }
  const { code, ...props } = thrown.props
  let error: Error
  if (thrown.afterwork && typeof code === 'string' && code in errorCodes) {
    error = new AfterworkError(code as ErrorCode, thrown.message, options)
  } else {
    error = new (builtinErrors[thrown.name] ?? Error)(thrown.message, options)
    if (code !== undefined) props.code = code
  }
  if (error.name !== thrown.name) Object.defineProperty(error, 'name', { value: thrown.name, writable: true, configurable: true, enumerable: false })
  Object.assign(error, props)
  error.stack = thrown.stack ?? `${thrown.name}: ${thrown.message}`
  return error
}
