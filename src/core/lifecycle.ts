import { withDeadline, type Clock } from './clock.js'
import { AfterworkError, LifespanError, ShutdownError, errorMessage, invalidOption } from './errors.js'
import type { Events } from './events.js'
import type { Logger } from './logger.js'

/** What a lifespan receives: a signal aborted when its teardown begins (or its startup times out). */
export interface LifespanContext {
  signal: AbortSignal
  log: Logger
  clock: Clock
}

/**
 * An async generator function: code before `yield` is startup, the yielded object becomes part of
 * the service's typed state, code after `yield` (put it in `finally`) is shutdown.
 */
export type LifespanFn<S = unknown> = (ctx: LifespanContext) => AsyncGenerator<S, unknown, undefined>

/** A lifespan with an explicit name, for logs and errors. */
export interface NamedLifespan<S = unknown> {
  name: string
  run: LifespanFn<S>
}

export type Lifespan<S = unknown> = LifespanFn<S> | NamedLifespan<S>

/** What `createService({ lifespan })` accepts: one lifespan or an array of them, run in order. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the state types are inferred per element
export type LifespanOption = Lifespan<any> | readonly Lifespan<any>[]

type StateOf<L> = L extends NamedLifespan<infer S> ? S : L extends LifespanFn<infer S> ? S : never
type ObjectPart<S> = S extends object ? S : never
type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never
type Simplify<T> = { [K in keyof T]: T[K] } & {}
type Merge<S> = [S] extends [never] ? {} : Simplify<UnionToIntersection<S>>

/** An array of lifespans, typed element by element from what each yields (`T`). */
export type Lifespans<T extends readonly unknown[]> = { readonly [K in keyof T]: Lifespan<T[K]> }

/** The state of lifespans yielding `S` (a union, one member per lifespan): the intersection of the objects. */
export type YieldedState<S> = Merge<ObjectPart<S>>

/** The state type of a lifespan option: the intersection of what each lifespan yields. */
export type LifespanState<L> = YieldedState<StateOf<L extends readonly unknown[] ? L[number] : L>>

interface Running {
  name: string
  generator: AsyncGenerator<unknown, unknown, undefined>
  controller: AbortController
}

export interface LifecycleOptions {
  clock: Clock
  log: Logger
  events: Events
}

/**
 * Runs lifespans: startup in order before anything serves, teardown in reverse. A startup failure
 * tears down the lifespans already started and names the one that failed. Each teardown step is
 * isolated: one that throws or hangs does not keep the others from closing.
 */
export class Lifecycle {
  readonly #lifespans: readonly NamedLifespan[]
  readonly #opts: LifecycleOptions
  #running: Running[] = []

  constructor(option: LifespanOption | undefined, opts: LifecycleOptions) {
    this.#lifespans = normalize(option)
    this.#opts = opts
  }

  /** The lifespans' names, in startup order. */
  get names(): string[] {
    return this.#lifespans.map((l) => l.name)
  }

  /** Runs every lifespan to its `yield` and returns the merged state. */
  async start(timeoutMs: number): Promise<Record<string, unknown>> {
    const { clock, log, events } = this.#opts
    const deadline = clock.monotonic() + timeoutMs
    const state: Record<string, unknown> = {}
    for (const lifespan of this.#lifespans) {
      const started = clock.monotonic()
      const controller = new AbortController()
      const ctx: LifespanContext = { signal: controller.signal, log: log.child({ lifespan: lifespan.name }), clock }
      let failure: LifespanError | undefined
      try {
        const generator = lifespan.run(ctx)
        const step = generator.next()
        const outcome = await withDeadline(clock, Math.max(0, deadline - clock.monotonic()), step)
        if (outcome.timedOut) {
          controller.abort(new AfterworkError('ERR_LIFESPAN_TIMEOUT', 'startup timed out'))
          // The generator is still running and cannot be returned now; tear it down when it yields.
          step.then((r) => (r.done ? undefined : generator.return(undefined))).catch(() => {})
          failure = new LifespanError(
            'ERR_LIFESPAN_TIMEOUT',
            lifespan.name,
            `Lifespan "${lifespan.name}" did not reach its yield within the startup timeout (${timeoutMs} ms)`,
          )
        } else if (outcome.value.done) {
          failure = new LifespanError(
            'ERR_LIFESPAN_NO_YIELD',
            lifespan.name,
            `Lifespan "${lifespan.name}" returned without yielding: put the shutdown code after a yield`,
          )
        } else {
          this.#running.push({ name: lifespan.name, generator, controller })
          failure = mergeState(state, lifespan.name, outcome.value.value)
        }
      } catch (error) {
        failure = new LifespanError(
          'ERR_LIFESPAN_STARTUP',
          lifespan.name,
          `Lifespan "${lifespan.name}" failed to start: ${errorMessage(error)}`,
          { cause: error },
        )
      }
      if (failure) {
        log.error({ err: failure, lifespan: lifespan.name }, 'lifespan startup failed; tearing down the ones already started')
        await this.stop(timeoutMs)
        throw failure
      }
      events.emit('lifespan:started', { name: lifespan.name, durationMs: clock.monotonic() - started })
    }
    return state
  }

  /**
   * Resumes each started lifespan after its `yield`, in reverse order. Steps that are still running
   * at the deadline are abandoned (they keep running, but nobody waits) and logged.
   */
  async stop(timeoutMs: number): Promise<void> {
    const { clock, log, events } = this.#opts
    const deadline = clock.monotonic() + timeoutMs
    const running = this.#running.reverse()
    this.#running = []
    for (const { name, generator, controller } of running) {
      const started = clock.monotonic()
      controller.abort(new ShutdownError())
      const step = generator.next()
      let error: unknown
      try {
        const outcome = await withDeadline(clock, Math.max(0, deadline - clock.monotonic()), step)
        if (outcome.timedOut) {
          step.catch((late: unknown) => log.error({ err: late, lifespan: name }, 'abandoned lifespan teardown failed'))
          const detail = `lifespan "${name}" teardown still running at the shutdown deadline`
          log.warn({ lifespan: name }, `${detail}; abandoned`)
          events.emit('shutdown:abandoned', { step: 'lifespan', detail })
          error = new AfterworkError('ERR_TIMEOUT', detail)
        } else if (!outcome.value.done) {
          log.error({ lifespan: name }, 'lifespan yielded more than once; closing it')
          await generator.return(undefined)
        }
      } catch (thrown) {
        error = thrown
        log.error({ err: thrown, lifespan: name }, 'lifespan teardown failed')
      }
      events.emit('lifespan:stopped', {
        name,
        durationMs: clock.monotonic() - started,
        ...(error === undefined ? {} : { error }),
      })
    }
  }
}

function mergeState(state: Record<string, unknown>, name: string, value: unknown): LifespanError | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return new LifespanError(
      'ERR_LIFESPAN_INVALID_STATE',
      name,
      `Lifespan "${name}" yielded ${Array.isArray(value) ? 'an array' : String(value)}; yield an object of state, or nothing`,
    )
  }
  for (const key of Object.keys(value)) {
    if (key in state) {
      return new LifespanError(
        'ERR_LIFESPAN_DUPLICATE',
        name,
        `Lifespan "${name}" yields state key "${key}", which an earlier lifespan already yields`,
      )
    }
  }
  Object.assign(state, value)
  return undefined
}

function normalize(option: LifespanOption | undefined): NamedLifespan[] {
  if (option === undefined) return []
  const list = (Array.isArray(option) ? option : [option]) as readonly Lifespan[]
  const names = new Set<string>()
  return list.map((entry, i) => {
    const named: NamedLifespan =
      typeof entry === 'function'
        ? { name: entry.name || `lifespan[${i}]`, run: entry }
        : typeof entry === 'object' && entry !== null && typeof entry.run === 'function'
          ? { name: entry.name || `lifespan[${i}]`, run: entry.run }
          : invalidOption(`lifespan[${i}]`, entry, 'an async generator function or { name, run }')
    if (names.has(named.name)) {
      throw new LifespanError('ERR_LIFESPAN_DUPLICATE', named.name, `Two lifespans are named "${named.name}"; give one a name`)
    }
    names.add(named.name)
    return named
  })
}
