import { withDeadline, type Clock } from './clock.js'
import { toMs, type Duration } from './duration.js'
import { AfterworkError, ShutdownError, invalidOption } from './errors.js'
import type { Events } from './events.js'
import type { Logger } from './logger.js'
import { nameOf, toErrorInfo, type ErrorInfo, type RunContext } from './run-context.js'

/** When a child is restarted: always (`permanent`), only after an error (`transient`), never (`temporary`). */
export type RestartPolicy = 'permanent' | 'transient' | 'temporary'

export interface BackoffOptions {
  /** Delay before the first restart. @default '1s' */
  initial?: Duration
  /** The cap. @default '1m' */
  max?: Duration
  /** Growth per consecutive restart. @default 2 */
  factor?: number
  /** Spread, as a fraction of the delay: 0.2 draws from 80% to 120%. @default 0.2 */
  jitter?: number
}

export interface ChildOptions<I = undefined> {
  /** @default 'permanent' */
  restart?: RestartPolicy
  backoff?: BackoffOptions
  /** How long the child gets to stop after its signal aborts, at shutdown or a one-for-all restart. @default '5s' */
  shutdown?: Duration
  /** The child's input (its first argument). */
  input?: I
}

export interface IntensityOptions {
  /** Restarts allowed inside `within`; the next failure gives the group up. @default 5 */
  restarts?: number
  /** @default '1m' */
  within?: Duration
}

export interface SupervisorOptions {
  name: string
  /** `one-for-one` restarts the child that ended; `one-for-all` restarts every child. @default 'one-for-one' */
  strategy?: 'one-for-one' | 'one-for-all'
  intensity?: IntensityOptions
  /** What giving up does besides stopping the group and turning readiness 503. @default 'report' */
  onGiveUp?: 'report' | 'stop-service'
}

export type ChildState = 'idle' | 'running' | 'restarting' | 'stopping' | 'stopped' | 'done' | 'failed' | 'gave-up'

export interface ChildStatus {
  name: string
  state: ChildState
  restart: RestartPolicy
  restarts: number
  lastError?: ErrorInfo
  /** Time since the current run started, while running. */
  uptimeMs?: number
  /** When the pending restart is due, while restarting. */
  nextRestartAt?: string
}

export interface SupervisorStatus {
  name: string
  strategy: 'one-for-one' | 'one-for-all'
  state: 'idle' | 'running' | 'stopped' | 'gave-up'
  children: ChildStatus[]
}

export interface SupervisorDeps {
  clock: Clock
  log: Logger
  events: Events
  random: () => number
  /** Called when a group with `onGiveUp: 'stop-service'` gives up. */
  stopService: (reason: Error) => void
}

type ChildFn = (input: unknown, ctx: RunContext) => unknown
type Outcome = { kind: 'returned' } | { kind: 'threw'; error: unknown }

interface Child {
  name: string
  fn: ChildFn
  input: unknown
  restart: RestartPolicy
  backoff: { initialMs: number; maxMs: number; factor: number; jitter: number }
  shutdownMs: number
  state: ChildState
  restarts: number
  /** Restarts since the child last ran for a whole intensity window: drives the backoff. */
  consecutive: number
  lastError?: ErrorInfo
  startedAt?: number
  nextRestartAt?: number
  controller?: AbortController
  running?: Promise<void>
  /** Its end was asked for (shutdown, one-for-all sibling restart): do not treat it as a crash. */
  stopAsked: boolean
}

/**
 * A supervisor in the manner of OTP: it starts its children in order, restarts them by policy with
 * exponential backoff and jitter, and gives up when they fail more often than its intensity allows
 * (N restarts inside the window; the (N+1)th failure gives up, stops the group and escalates).
 * Unlike the seed's TaskSupervisor it never hot-loops a child that returns, never restarts forever
 * at a fixed delay, tells its own stop from a child's crash, and shows each child's state.
 */
export class Supervisor {
  readonly name: string
  readonly strategy: 'one-for-one' | 'one-for-all'
  readonly #deps: SupervisorDeps
  readonly #restartsAllowed: number
  readonly #windowMs: number
  readonly #onGiveUp: 'report' | 'stop-service'
  readonly #children: Child[] = []
  readonly #restartTimes: number[] = []
  readonly #stop = new AbortController()
  #state: SupervisorStatus['state'] = 'idle'
  /** A one-for-all restart is under way: exits of the siblings it stops are expected. */
  #restartingAll = false

  constructor(opts: SupervisorOptions, deps: SupervisorDeps) {
    this.name = opts.name
    this.strategy = opts.strategy ?? 'one-for-one'
    if (this.strategy !== 'one-for-one' && this.strategy !== 'one-for-all') invalidOption(`supervisor("${opts.name}").strategy`, opts.strategy, "'one-for-one' or 'one-for-all'")
    this.#restartsAllowed = opts.intensity?.restarts ?? 5
    if (!Number.isInteger(this.#restartsAllowed) || this.#restartsAllowed < 0) invalidOption(`supervisor("${opts.name}").intensity.restarts`, opts.intensity?.restarts, 'an integer >= 0')
    this.#windowMs = toMs(opts.intensity?.within ?? '1m', `supervisor("${opts.name}").intensity.within`)
    this.#onGiveUp = opts.onGiveUp ?? 'report'
    this.#deps = deps
  }

  /** Adds a child; it starts at once when the supervisor is running. */
  supervise<I>(name: string, fn: (input: I, ctx: RunContext) => unknown, opts: ChildOptions<I> = {}): this {
    if (typeof fn !== 'function') invalidOption(`supervise("${name}")`, fn, 'a function')
    const childName = nameOf(fn, name, 'A supervised child')
    if (this.#children.some((c) => c.name === childName)) {
      throw new AfterworkError('ERR_NAME_DUPLICATE', `Supervisor "${this.name}" already has a child named "${childName}"`)
    }
    const where = `supervise("${childName}")`
    const factor = opts.backoff?.factor ?? 2
    const jitter = opts.backoff?.jitter ?? 0.2
    if (!(factor >= 1)) invalidOption(`${where}.backoff.factor`, factor, 'a number >= 1')
    if (!(jitter >= 0 && jitter <= 1)) invalidOption(`${where}.backoff.jitter`, jitter, 'a number from 0 to 1')
    const restart = opts.restart ?? 'permanent'
    if (!['permanent', 'transient', 'temporary'].includes(restart)) invalidOption(`${where}.restart`, restart, "'permanent', 'transient' or 'temporary'")
    const child: Child = {
      name: childName,
      fn: fn as ChildFn,
      input: opts.input,
      restart,
      backoff: {
        initialMs: toMs(opts.backoff?.initial ?? '1s', `${where}.backoff.initial`),
        maxMs: toMs(opts.backoff?.max ?? '1m', `${where}.backoff.max`),
        factor,
        jitter,
      },
      shutdownMs: toMs(opts.shutdown ?? '5s', `${where}.shutdown`),
      state: 'idle',
      restarts: 0,
      consecutive: 0,
      stopAsked: false,
    }
    this.#children.push(child)
    if (this.#state === 'running') this.#startChild(child)
    return this
  }

  /** Starts every child in the order added. */
  start(): void {
    if (this.#state !== 'idle') return
    this.#state = 'running'
    for (const child of this.#children) this.#startChild(child)
  }

  /**
   * Stops the children in reverse order: each gets its signal aborted with a ShutdownError and its
   * own `shutdown` time, bounded by `timeoutMs` overall. Children still running then are abandoned
   * and logged. Idempotent; safe before start.
   */
  async stop(timeoutMs: number): Promise<void> {
    if (this.#state === 'stopped') return
    if (this.#state !== 'gave-up') this.#state = 'stopped'
    this.#stop.abort(new ShutdownError())
    const deadline = this.#deps.clock.monotonic() + timeoutMs
    for (const child of [...this.#children].reverse()) {
      const remaining = Math.max(0, deadline - this.#deps.clock.monotonic())
      await this.#stopChild(child, Math.min(child.shutdownMs, remaining))
    }
  }

  status(): SupervisorStatus {
    const now = this.#deps.clock.now()
    return {
      name: this.name,
      strategy: this.strategy,
      state: this.#state,
      children: this.#children.map((c) => ({
        name: c.name,
        state: c.state,
        restart: c.restart,
        restarts: c.restarts,
        ...(c.lastError ? { lastError: c.lastError } : {}),
        ...(c.state === 'running' && c.startedAt !== undefined ? { uptimeMs: now - c.startedAt } : {}),
        ...(c.state === 'restarting' && c.nextRestartAt !== undefined ? { nextRestartAt: new Date(c.nextRestartAt).toISOString() } : {}),
      })),
    }
  }

  /** True once the group gave up. */
  get gaveUp(): boolean {
    return this.#state === 'gave-up'
  }

  #startChild(child: Child): void {
    const { clock, log } = this.#deps
    const controller = new AbortController()
    child.controller = controller
    child.stopAsked = false
    child.state = 'running'
    child.startedAt = clock.now()
    child.nextRestartAt = undefined
    const ctx: RunContext = {
      id: `${this.name}/${child.name}`,
      signal: controller.signal,
      attempt: child.restarts + 1,
      progress: () => {},
      log: log.child({ supervisor: this.name, child: child.name }),
    }
    // A later microtask: a child that returns synchronously cannot starve the event loop.
    const running: Promise<void> = Promise.resolve()
      .then(() => child.fn(child.input, ctx))
      .then(
        (): Outcome => ({ kind: 'returned' }),
        (error: unknown): Outcome => ({ kind: 'threw', error }),
      )
      .then((outcome) => {
        if (child.running === running) child.running = undefined
        this.#exited(child, outcome)
      })
    child.running = running
  }

  #exited(child: Child, outcome: Outcome): void {
    const { clock, log } = this.#deps
    if (outcome.kind === 'threw') child.lastError = toErrorInfo(outcome.error)
    if (child.stopAsked || this.#state !== 'running' || this.#restartingAll) {
      child.state = 'stopped'
      return
    }
    const uptime = clock.now() - (child.startedAt ?? clock.now())
    if (uptime >= this.#windowMs) child.consecutive = 0
    const restart = child.restart === 'permanent' || (child.restart === 'transient' && outcome.kind === 'threw')
    if (!restart) {
      child.state = outcome.kind === 'threw' ? 'failed' : 'done'
      if (outcome.kind === 'threw') log.warn({ err: outcome.error, supervisor: this.name, child: child.name }, 'child failed; not restarted by policy')
      return
    }
    if (outcome.kind === 'threw') log.error({ err: outcome.error, supervisor: this.name, child: child.name }, 'child crashed')
    else log.warn({ supervisor: this.name, child: child.name }, 'child returned; restarting (permanent)')
    if (!this.#allowRestart()) {
      this.#giveUp(child, outcome.kind === 'threw' ? outcome.error : new Error(`child "${child.name}" kept returning`))
      return
    }
    void this.#restart(child)
  }

  /** Intensity: N restarts inside the window are allowed; the next one is refused. */
  #allowRestart(): boolean {
    const now = this.#deps.clock.now()
    while (this.#restartTimes.length > 0 && (this.#restartTimes[0] as number) <= now - this.#windowMs) this.#restartTimes.shift()
    if (this.#restartTimes.length >= this.#restartsAllowed) return false
    this.#restartTimes.push(now)
    return true
  }

  async #restart(culprit: Child): Promise<void> {
    const { clock, events } = this.#deps
    const group = this.strategy === 'one-for-all' ? this.#children.filter((c) => c.state !== 'done' && c.state !== 'failed') : [culprit]
    if (this.strategy === 'one-for-all') {
      this.#restartingAll = true
      await Promise.all(group.filter((c) => c !== culprit).map((c) => this.#stopChild(c, c.shutdownMs)))
    }
    const delay = backoffDelay(culprit.backoff, culprit.consecutive, this.#deps.random)
    culprit.consecutive++
    const at = clock.now() + delay
    for (const child of group) {
      child.state = 'restarting'
      child.nextRestartAt = at
    }
    events.emit('supervisor:child:restarting', { supervisor: this.name, child: culprit.name, delayMs: delay, restarts: culprit.restarts + 1 })
    try {
      await clock.sleep(delay, this.#stop.signal)
    } catch {
      for (const child of group) child.state = 'stopped'
      return
    } finally {
      this.#restartingAll = false
    }
    for (const child of group) {
      child.restarts++
      this.#startChild(child)
    }
  }

  #giveUp(culprit: Child, error: unknown): void {
    const { log, events, stopService } = this.#deps
    this.#state = 'gave-up'
    culprit.state = 'gave-up'
    const reason = new AfterworkError(
      'ERR_SUPERVISOR_GAVE_UP',
      `Supervisor "${this.name}" gave up: child "${culprit.name}" failed more than ${this.#restartsAllowed} times within ${this.#windowMs} ms`,
      { cause: error },
    )
    log.error({ err: reason, supervisor: this.name, child: culprit.name }, 'supervisor gave up')
    events.emit('supervisor:child:gave-up', { supervisor: this.name, child: culprit.name, error: reason })
    this.#stop.abort(new ShutdownError())
    for (const child of this.#children) if (child !== culprit) void this.#stopChild(child, child.shutdownMs)
    if (this.#onGiveUp === 'stop-service') stopService(reason)
  }

  async #stopChild(child: Child, timeoutMs: number): Promise<void> {
    const running = child.running
    if (child.state === 'restarting' || child.state === 'idle') child.state = 'stopped'
    if (!running) return
    child.stopAsked = true
    child.state = 'stopping'
    child.controller?.abort(new ShutdownError())
    const outcome = await withDeadline(this.#deps.clock, timeoutMs, running)
    if (outcome.timedOut) {
      const detail = `child "${child.name}" of supervisor "${this.name}" ignored its signal for ${timeoutMs} ms`
      this.#deps.log.warn({ supervisor: this.name, child: child.name }, `${detail}; abandoned`)
      this.#deps.events.emit('shutdown:abandoned', { step: 'supervisor', detail })
    }
  }
}

/** initial * factor^n, capped at max, then spread by ±jitter (and capped again). */
export function backoffDelay(b: { initialMs: number; maxMs: number; factor: number; jitter: number }, n: number, random: () => number): number {
  const base = Math.min(b.maxMs, b.initialMs * b.factor ** n)
  const spread = 1 - b.jitter + 2 * b.jitter * random()
  return Math.round(Math.min(b.maxMs, base * spread))
}
