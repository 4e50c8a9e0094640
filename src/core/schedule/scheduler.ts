import { TIMER_CANCELLED, withDeadline, type Clock } from '../clock.js'
import { deferred, type Deferred } from '../deferred.js'
import { controllerOf, type LazyAbort } from '../lazy-controller.js'
import { toMs, type Duration } from '../duration.js'
import { AfterworkError, ShutdownError, invalidOption } from '../errors.js'
import type { Events } from '../events.js'
import type { Logger } from '../logger.js'
import { nameOf, toErrorInfo, type ErrorInfo, type RunContext } from '../run-context.js'
import { IndexedMinHeap, type HeapItem } from './heap.js'
import type { Trigger } from './trigger.js'
import { formatInZone } from './zone.js'

/** How a schedule runs. Durations take milliseconds or strings like '1m'. */
export interface ScheduleOptions<I = undefined> {
  /** Unique in the service. @default the function's name */
  name?: string
  /** Runs of this schedule allowed at once; a fire while that many run is skipped and counted. @default 1 */
  maxInstances?: number
  /** A fire later than this after its slot (the loop was blocked, the process was down) is skipped. @default '60s' */
  misfireGrace?: Duration
  /** Several fires due at once (within the grace) run once, for the latest slot. @default true */
  coalesce?: boolean
  /** A random delay from 0 to this added to each run time; the slot itself stays put. @default 0 */
  jitter?: Duration
  /** Aborts a run's signal after this long. @default none */
  timeout?: Duration
  /** The run's first argument. */
  input?: I
  /** Fire once when the scheduler starts, then by the trigger. @default false */
  runOnStart?: boolean
}

/**
 * @internal How a schedule of a durable task fires: through the store, where exactly one process
 * wins each slot and enqueues its job; the store also remembers the last slot fired.
 */
export interface ScheduleProducer {
  fire(slot: number, maxInstances: number): Promise<boolean>
  lastSlot(): Promise<number | null>
}

export type RunOutcome = 'succeeded' | 'failed' | 'cancelled'

/** One schedule, as listed by `svc.schedules.list()` and the reference service's `GET /jobs`. */
export interface ScheduleInfo {
  name: string
  kind: Trigger['kind']
  trigger: string
  timezone: string
  paused: boolean
  /** The next run in the schedule's time zone (ISO 8601 with offset) and in UTC; null when none is left. */
  nextRun: { local: string; utc: string } | null
  lastRun: { slot: string; startedAt: string; finishedAt?: string; outcome?: RunOutcome; durationMs?: number; error?: ErrorInfo } | null
  runs: number
  failures: number
  missed: number
  skipped: number
  running: number
}

// A service may hold tens of thousands of schedules that mostly sit idle, so a schedule is kept
// small: what it was defined with is shared between schedules defined alike, and its counters and
// run set are made at its first fire.
interface Schedule extends HeapItem {
  name: string
  trigger: Trigger
  /** Rebuilds the trigger from an anchor (the start time), for triggers that need one (intervals). */
  reanchor: ((anchorMs: number) => Trigger) | undefined
  config: ScheduleConfig
  runOnStart: boolean
  paused: boolean
  /** The nominal time of the next fire, or null when the trigger has no more. */
  nextSlot: number | null
  // heapKey: nextSlot plus its jitter, when the loop wakes for it (valid while nextSlot is not null).
  stats: ScheduleStats | undefined
}

/** How a schedule runs; immutable, so schedules defined alike share one. */
interface ScheduleConfig {
  producer: ScheduleProducer | undefined
  fn: (input: unknown, ctx: RunContext) => unknown
  input: unknown
  maxInstances: number
  graceMs: number
  coalesce: boolean
  jitterMs: number
  timeoutMs: number | undefined
}

interface ScheduleStats {
  runs: number
  failures: number
  missed: number
  skipped: number
  lastRun: LastRun | null
  /** Runs in flight. */
  running: number
}

const statsOf = (s: Schedule): ScheduleStats => (s.stats ??= { runs: 0, failures: 0, missed: 0, skipped: 0, lastRun: null, running: 0 })

/** A run in flight; its AbortController is made on first use (see {@link controllerOf}). */
type ScheduleRun = LazyAbort

function sameConfig(a: ScheduleConfig, b: ScheduleConfig): boolean {
  return (
    a.fn === b.fn &&
    a.input === b.input &&
    a.producer === b.producer &&
    a.maxInstances === b.maxInstances &&
    a.graceMs === b.graceMs &&
    a.coalesce === b.coalesce &&
    a.jitterMs === b.jitterMs &&
    a.timeoutMs === b.timeoutMs
  )
}

/** The last run in numbers; {@link Scheduler.list} formats it. A fire builds no strings. */
interface LastRun {
  slot: number
  startedAt: number
  finishedAt?: number
  outcome?: RunOutcome
  durationMs?: number
  error?: ErrorInfo
}

export interface SchedulerDeps {
  clock: Clock
  log: Logger
  events: Events
  random: () => number
}

/** The longest single wait: the loop recomputes at least this often, so clock jumps and suspends self-correct. */
const MAX_WAIT_MS = 30_000
/** Bounds the catch-up walk over missed slots after a long stop. */
const MAX_CATCH_UP = 1_000

/**
 * Runs schedules in process, on the injected clock, with APScheduler's semantics and saner defaults:
 * slots come from the trigger (never from the end of the last run, so nothing drifts), misfires
 * follow `misfireGrace` and `coalesce`, overlapping runs follow `maxInstances`, a throwing run is
 * logged and counted and the schedule goes on. Each run gets `ctx.slot` and `ctx.late`.
 */
export class Scheduler {
  readonly #deps: SchedulerDeps
  readonly #schedules = new Map<string, Schedule>()
  /** Schedules that are not paused and have a next slot, by run time. */
  readonly #heap = new IndexedMinHeap<Schedule>()
  /** The config of the last schedule added, shared with the next if it is defined alike. */
  #lastConfig: ScheduleConfig | undefined
  #stopped = false
  #wake = new AbortController()
  #started = false
  #loop: Promise<void> | undefined
  /** Whether the loop waits in clock.sleep (a changed schedule must wake it) or runs a batch. */
  #sleeping = false
  /** Runs going across all schedules (removed ones included), and who waits for none to be left. */
  readonly #runs = new Set<ScheduleRun>()
  #idle: Deferred<void> | undefined

  constructor(deps: SchedulerDeps) {
    this.#deps = deps
  }

  /**
   * @internal Adds a schedule; the Service's every()/cron()/at() pass the trigger, or for triggers
   * anchored at the start time (intervals) a function that builds it from an anchor. That function
   * is called at once (so a bad definition fails at definition) and again with the start time.
   */
  add<I>(
    trigger: Trigger | ((anchorMs: number) => Trigger),
    fn: (input: I, ctx: RunContext) => unknown,
    opts: ScheduleOptions<I> = {},
    producer?: ScheduleProducer,
  ): string {
    if (typeof fn !== 'function') invalidOption('schedule function', fn, 'a function')
    const name = nameOf(fn, opts.name, 'A schedule')
    if (this.#schedules.has(name)) throw new AfterworkError('ERR_NAME_DUPLICATE', `A schedule named "${name}" already exists`)
    const maxInstances = opts.maxInstances ?? 1
    if (!Number.isInteger(maxInstances) || maxInstances < 1) invalidOption(`schedule "${name}" maxInstances`, maxInstances, 'an integer >= 1')
    let config: ScheduleConfig = {
      producer,
      fn: fn as ScheduleConfig['fn'],
      input: opts.input,
      maxInstances,
      graceMs: toMs(opts.misfireGrace ?? '60s', `schedule "${name}" misfireGrace`),
      coalesce: opts.coalesce ?? true,
      jitterMs: toMs(opts.jitter ?? 0, `schedule "${name}" jitter`),
      timeoutMs: opts.timeout === undefined ? undefined : toMs(opts.timeout, `schedule "${name}" timeout`),
    }
    if (this.#lastConfig !== undefined && sameConfig(this.#lastConfig, config)) config = this.#lastConfig
    this.#lastConfig = config
    const reanchor = typeof trigger === 'function' ? trigger : undefined
    const schedule: Schedule = {
      name,
      trigger: reanchor ? reanchor(this.#deps.clock.now()) : (trigger as Trigger),
      reanchor,
      config,
      runOnStart: opts.runOnStart ?? false,
      paused: false,
      nextSlot: null,
      heapKey: 0,
      heapIndex: -1,
      stats: undefined,
    }
    this.#schedules.set(name, schedule)
    if (this.#started) {
      try {
        // A durable schedule whose store does not answer is logged and left unplanned (at start, the
        // same failure fails start()).
        this.#planFirst(schedule, this.#deps.clock.now())?.catch((error: unknown) => {
          this.#deps.log.error({ err: error, schedule: name }, 'could not plan the schedule: its store did not answer')
        })
      } catch (error) {
        this.#schedules.delete(name)
        throw error
      }
    }
    return name
  }

  /**
   * Starts the loop. Each schedule's first slot is its trigger's first after now (or now, with
   * runOnStart); a durable schedule resumes after the last slot the store fired, so slots missed
   * while every process was down are due at once, under the misfire rules.
   */
  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    const now = this.#deps.clock.now()
    const durable: Promise<void>[] = []
    for (const s of this.#schedules.values()) {
      const planned = this.#planFirst(s, now)
      if (planned) durable.push(planned)
    }
    await Promise.all(durable)
    this.#loop = this.#run()
  }

  /** Plans the first slot; a durable schedule asks its store first, and returns that promise. */
  #planFirst(s: Schedule, now: number): Promise<void> | undefined {
    const { producer } = s.config
    if (producer === undefined) {
      if (s.reanchor) s.trigger = s.reanchor(now)
      this.#plan(s, s.runOnStart ? now : s.trigger.next(now))
      return undefined
    }
    return producer.lastSlot().then((last) => {
      // A durable interval keeps the grid of the slots already fired instead of restarting it at now.
      if (s.reanchor) s.trigger = s.reanchor(last ?? now)
      this.#plan(s, s.runOnStart && last === null ? now : s.trigger.next(last ?? now))
    })
  }

  /**
   * Stops firing, waits up to `timeoutMs` for running runs, then aborts their signals with a
   * ShutdownError and waits `graceMs` more. Idempotent; safe before start.
   */
  async stop(timeoutMs: number, graceMs = 1_000): Promise<void> {
    this.#stopped = true
    // Running runs keep their signals until the soft deadline (docs/lifecycle.md, step 5): a run
    // that can finish in time is not cut short.
    this.#wake.abort(TIMER_CANCELLED)
    await this.#loop
    if (this.#runs.size === 0) return
    this.#idle ??= deferred()
    const idle = this.#idle.promise
    if (!(await withDeadline(this.#deps.clock, timeoutMs, idle)).timedOut) return
    for (const run of this.#runs) controllerOf(run).abort(new ShutdownError())
    if (!(await withDeadline(this.#deps.clock, graceMs, idle)).timedOut) return
    const detail = `${this.#runs.size} schedule run(s) still going after their signals were aborted`
    this.#deps.log.warn({}, `${detail}; abandoned`)
    this.#deps.events.emit('shutdown:abandoned', { step: 'scheduler', detail })
  }

  /** Every schedule with its next run, in name order. */
  list(): ScheduleInfo[] {
    return [...this.#schedules.values()].sort((a, b) => a.name.localeCompare(b.name)).map((s) => this.#info(s))
  }

  get(name: string): ScheduleInfo {
    return this.#info(this.#find(name))
  }

  /** Stops firing until resume(); runs already going finish. */
  pause(name: string): ScheduleInfo {
    const s = this.#find(name)
    s.paused = true
    this.#plan(s, s.nextSlot)
    return this.#info(s)
  }

  /** Fires again from the next slot after now: slots missed while paused are skipped, not caught up. */
  resume(name: string): ScheduleInfo {
    const s = this.#find(name)
    if (s.paused) {
      s.paused = false
      this.#plan(s, s.trigger.next(this.#deps.clock.now()))
    }
    return this.#info(s)
  }

  /**
   * Runs the schedule now, for a slot of now, outside its timetable. Returns false (and counts a
   * skip) when `maxInstances` runs are already going.
   */
  runNow(name: string): boolean {
    const s = this.#find(name)
    const now = this.#deps.clock.now()
    return this.#fire(s, now, now)
  }

  /** Replaces the trigger (anchored at now, if it takes an anchor) and plans the next slot after now. */
  reschedule(name: string, trigger: Trigger | ((anchorMs: number) => Trigger)): ScheduleInfo {
    const s = this.#find(name)
    const now = this.#deps.clock.now()
    s.reanchor = typeof trigger === 'function' ? trigger : undefined
    s.trigger = s.reanchor ? s.reanchor(now) : (trigger as Trigger)
    s.runOnStart = false
    if (this.#started) this.#plan(s, s.trigger.next(now))
    return this.#info(s)
  }

  /** Removes a schedule; its running runs finish. */
  remove(name: string): void {
    const s = this.#find(name)
    this.#heap.remove(s)
    this.#schedules.delete(name)
    // Keep no reference to the removed schedule's function and input.
    if (this.#lastConfig === s.config) this.#lastConfig = undefined
  }

  has(name: string): boolean {
    return this.#schedules.has(name)
  }

  #find(name: string): Schedule {
    const s = this.#schedules.get(name)
    if (!s) throw new AfterworkError('ERR_SCHEDULE_NOT_FOUND', `No schedule is named "${name}"`)
    return s
  }

  /** Sets the next slot and its jittered run time, and wakes the loop so it waits for the right one. */
  #plan(s: Schedule, slot: number | null): void {
    s.nextSlot = slot
    const { jitterMs } = s.config
    if (slot !== null) s.heapKey = slot + (jitterMs > 0 ? Math.floor(this.#deps.random() * jitterMs) : 0)
    // A removed schedule stays out, even when its store answers after remove().
    if (slot === null || s.paused || this.#schedules.get(s.name) !== s) this.#heap.remove(s)
    else this.#heap.update(s)
    // While the loop runs a batch it reads the heap again before it sleeps: no wake-up needed.
    if (this.#sleeping) this.#wake.abort(TIMER_CANCELLED)
  }

  async #run(): Promise<void> {
    const { clock } = this.#deps
    while (!this.#stopped) {
      const now = clock.now()
      // #due plans the schedule's next slot, which moves it down the heap (or out of it).
      for (let top = this.#heap.peek(); top && top.heapKey <= now; top = this.#heap.peek()) this.#due(top, now)
      const next = this.#heap.peek()
      const wait = next === undefined ? MAX_WAIT_MS : Math.min(MAX_WAIT_MS, Math.max(0, next.heapKey - clock.now()))
      this.#wake = new AbortController()
      this.#sleeping = true
      try {
        await clock.sleep(wait, this.#wake.signal)
      } catch {
        // Woken early: a schedule changed, or stop.
      } finally {
        this.#sleeping = false
      }
    }
  }

  /** Fires the slots of `s` that are due at `now`, by the misfire and coalesce rules, and plans the next. */
  #due(s: Schedule, now: number): void {
    const { events, log } = this.#deps
    const { graceMs, coalesce } = s.config
    const horizon = now - graceMs
    let slot = s.nextSlot
    let missed = 0
    while (slot !== null && slot < horizon) {
      if (++missed >= MAX_CATCH_UP) {
        // After a long stop, jump to the first slot inside the grace (the count is then a floor).
        slot = s.trigger.next(horizon - 1)
        break
      }
      slot = s.trigger.next(slot)
    }
    const due: number[] = []
    while (slot !== null && slot <= now && due.length < MAX_CATCH_UP) {
      due.push(slot)
      slot = s.trigger.next(slot)
    }
    if (missed > 0) {
      statsOf(s).missed += missed
      log.warn({ schedule: s.name, missed, misfireGraceMs: graceMs }, 'schedule missed fires beyond its misfire grace')
      events.emit('schedule:missed', { name: s.name, count: missed })
    }
    const toRun = coalesce ? due.slice(-1) : due
    if (coalesce && due.length > 1) events.emit('schedule:coalesced', { name: s.name, count: due.length })
    for (const runSlot of toRun) this.#fire(s, runSlot, now)
    this.#plan(s, slot)
  }

  /** Starts one run for `slot` unless maxInstances are running; a durable schedule enqueues its job instead. */
  #fire(s: Schedule, slot: number, now: number): boolean {
    const { events, log, clock } = this.#deps
    const { producer, maxInstances, timeoutMs } = s.config
    const stats = statsOf(s)
    if (producer) {
      producer.fire(slot, maxInstances).then(
        (won) => {
          if (!won) return
          stats.runs++
          stats.lastRun = { slot, startedAt: clock.now() }
          if (events.has('schedule:fired')) events.emit('schedule:fired', { name: s.name, slot: new Date(slot), late: now - slot })
        },
        (error: unknown) => {
          stats.failures++
          log.error({ err: error, schedule: s.name, slot: new Date(slot).toISOString() }, 'could not enqueue the schedule\'s job')
        },
      )
      return true
    }
    if (stats.running >= maxInstances) {
      stats.skipped++
      log.warn({ schedule: s.name, running: stats.running }, 'schedule fire skipped: previous run still going (maxInstances)')
      events.emit('schedule:skipped', { name: s.name, slot: new Date(slot), running: stats.running })
      return false
    }
    const run: ScheduleRun = { controller: undefined }
    this.#runs.add(run)
    stats.running++
    stats.runs++
    const late = now - slot
    const started = clock.now()
    const lastRun: LastRun = { slot, startedAt: started }
    stats.lastRun = lastRun
    if (events.has('schedule:fired')) events.emit('schedule:fired', { name: s.name, slot: new Date(slot), late })
    // The id, logger and slot Date are made when first read: a fire that nobody inspects builds no
    // strings, so one-second schedules beside thousands of others leave little garbage for the GC.
    let id: string | undefined
    let childLog: Logger | undefined
    const runId = () => (id ??= `${s.name}@${new Date(slot).toISOString()}`)
    const ctx: RunContext = {
      get id() {
        return runId()
      },
      get signal() {
        return controllerOf(run).signal
      },
      attempt: 1,
      progress: () => {},
      get log() {
        childLog ??= log.child({ schedule: s.name, slot: new Date(slot).toISOString() })
        return childLog
      },
      get slot() {
        return new Date(slot)
      },
      late,
    }
    const timer = timeoutMs === undefined ? undefined : new AbortController()
    if (timer && timeoutMs !== undefined) {
      const ms = timeoutMs
      clock.sleep(ms, timer.signal).then(
        () => controllerOf(run).abort(new AfterworkError('ERR_TIMEOUT', `Schedule "${s.name}" run exceeded its timeout (${ms} ms)`)),
        () => {},
      )
    }
    if (events.has('job:running')) events.emit('job:running', { id: runId(), name: s.name, attempt: 1 })
    Promise.resolve()
      .then(() => s.config.fn(s.config.input, ctx))
      .then(
        () => this.#finished(s, lastRun, started, runId, 'succeeded', undefined),
        (error: unknown) =>
          this.#finished(s, lastRun, started, runId, run.controller?.signal.aborted && !isTimeout(run.controller.signal.reason) ? 'cancelled' : 'failed', error),
      )
      .finally(() => {
        timer?.abort(TIMER_CANCELLED)
        stats.running--
        this.#runs.delete(run)
        if (this.#runs.size === 0 && this.#idle) {
          this.#idle.resolve()
          this.#idle = undefined
        }
      })
    return true
  }

  #finished(s: Schedule, lastRun: LastRun, started: number, id: () => string, outcome: RunOutcome, error: unknown): void {
    const { clock, events, log } = this.#deps
    const finished = clock.now()
    const durationMs = finished - started
    lastRun.finishedAt = finished
    lastRun.outcome = outcome
    lastRun.durationMs = durationMs
    if (outcome === 'succeeded') {
      if (events.has('job:succeeded')) events.emit('job:succeeded', { id: id(), name: s.name, durationMs })
      return
    }
    lastRun.error = toErrorInfo(error)
    if (outcome === 'cancelled') {
      events.emit('job:cancelled', { id: id(), name: s.name, durationMs })
      return
    }
    statsOf(s).failures++
    log.error({ err: error, schedule: s.name, slot: new Date(lastRun.slot).toISOString() }, 'schedule run failed; it fires again at its next slot')
    events.emit('job:failed', { id: id(), name: s.name, durationMs, error })
  }

  #info(s: Schedule): ScheduleInfo {
    const at = s.paused || s.nextSlot === null ? null : s.heapKey
    const stats = s.stats
    return {
      name: s.name,
      kind: s.trigger.kind,
      trigger: s.trigger.describe(),
      timezone: s.trigger.timezone,
      paused: s.paused,
      nextRun: at === null ? null : { local: formatInZone(at, s.trigger.timezone), utc: new Date(at).toISOString() },
      lastRun: stats?.lastRun ? formatLastRun(stats.lastRun) : null,
      runs: stats?.runs ?? 0,
      failures: stats?.failures ?? 0,
      missed: stats?.missed ?? 0,
      skipped: stats?.skipped ?? 0,
      running: stats?.running ?? 0,
    }
  }
}

function isTimeout(reason: unknown): boolean {
  return reason instanceof AfterworkError && reason.code === 'ERR_TIMEOUT'
}

function formatLastRun({ slot, startedAt, finishedAt, ...rest }: LastRun): NonNullable<ScheduleInfo['lastRun']> {
  const iso = (ms: number) => new Date(ms).toISOString()
  return { slot: iso(slot), startedAt: iso(startedAt), ...(finishedAt === undefined ? {} : { finishedAt: iso(finishedAt) }), ...rest }
}
