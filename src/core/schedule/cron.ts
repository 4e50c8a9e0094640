import { Cron, type CronOptions } from 'croner'
import { AfterworkError, errorMessage } from '../errors.js'
import { checkAfter, checkTimeZone, describeBounds, resolveBounds, type Trigger, type TriggerBounds } from './trigger.js'

/** Options of {@link cronTrigger}. */
export interface CronTriggerOptions extends TriggerBounds {
  /** IANA time zone whose wall clock the expression is read on. @default 'UTC' */
  timezone?: string
}

const SECOND = 1_000
const DAY = 86_400_000

/**
 * A trigger for a cron expression read on the wall clock of `timezone` (default `'UTC'`), parsed
 * by croner: 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or a
 * nickname (`@daily`, `@hourly`, ...); `L`, `W`, `#`, names and ranges as croner reads them.
 * Day-of-month and day-of-week combine with OR, as in Vixie cron.
 *
 * Daylight saving time follows ISC (Vixie) cron, cron(8):
 * - A fixed-time expression (no `*` or `?` in its seconds, minute or hour field, like `30 2 * * *`
 *   or `15,45 2 * * *`; every nickname but `@hourly`) whose time falls in a spring-forward gap
 *   fires once, when the gap ends (`30 2 * * *` in America/New_York on 2026-03-08 fires at 03:00
 *   EDT). Several such times in one gap (02:15 and 02:45) are one fire at the gap's end, as ISC
 *   cron runs each job once after the change.
 * - A fixed-time expression whose time occurs twice (fall-back) fires once, at the first
 *   occurrence (`30 1 * * *` in America/New_York on 2026-11-01 fires at 01:30 EDT only).
 * - Any other expression (`*` in seconds, minute or hour, like `0 * * * *` or `*\/15 1 * * *`)
 *   follows the clock: it fires in every real hour, so twice through a repeated hour, and not in
 *   the hour a spring-forward skips.
 *
 * Throws `ERR_SCHEDULE_INVALID_CRON` quoting the expression and the reason (croner's, or: it has
 * neither 5 nor 6 fields, or it matches no date at all, like `0 0 30 2 *`), and
 * `ERR_SCHEDULE_INVALID_TIMEZONE` naming an unknown time zone.
 *
 * @example
 * const trigger = cronTrigger('0 9 * * *', { timezone: 'Asia/Kolkata' })
 * trigger.next(clock.now()) // the next 09:00 in Kolkata, as epoch milliseconds
 */
export function cronTrigger(expression: string, opts: CronTriggerOptions = {}): Trigger {
  const timezone = checkTimeZone(opts.timezone ?? 'UTC')
  const bounds = resolveBounds(opts)
  if (typeof expression !== 'string') throw invalidCron(expression, 'a cron expression must be a string')
  // A trigger without bounds is a pure function of its expression and zone: schedules that share
  // both share one (10,000 daily crons hold 1,440 triggers, not 10,000 sets of closures).
  const shareKey = bounds.startMs === undefined && bounds.endMs === undefined ? `${timezone}\n${expression}` : undefined
  const shared = shareKey === undefined ? undefined : sharedTriggers.get(shareKey)
  if (shared !== undefined) return shared
  const text = expression.trim()
  const fixedTime = isFixedTime(expression, text)
  // Croner on UTC matches wall-clock times with no DST at all (the calendar: L, W, #, day names).
  // Fixed-time expressions map those wall times to instants here, where the ISC rule is enforced;
  // the others use croner on the zone, whose DST handling for them is the clock-following one.
  const wallClock = parse(expression, text, 'UTC')
  if (wallClock.nextRun(new Date(0)) === null) throw invalidCron(expression, 'it matches no date')
  // On UTC the wall clock is the zone: one croner instance serves both, and no zone maths is needed.
  const utc = timezone === 'UTC'
  const zoned = fixedTime && !utc ? undefined : utc ? wallClock : parse(expression, text, timezone)
  const nominal = (after: number): number | null =>
    zoned ? (zoned.nextRun(new Date(after))?.getTime() ?? null) : nextFixedTime(wallClock, timezone, after)
  const { startMs, endMs } = bounds
  const description = `cron ${text} (${timezone})${describeBounds(bounds)}`

  // The last answer: schedules sharing this trigger ask for the slot after the same instant (the
  // start time, then the slot they all fired for), and croner's search costs microseconds each.
  let lastAfter = NaN
  let lastSlot: number | null = null
  const trigger: Trigger = {
    kind: 'cron',
    timezone,
    describe: () => description,
    next(afterMs) {
      if (afterMs === lastAfter) return lastSlot
      checkAfter(afterMs)
      // Slots are whole seconds and startMs a whole millisecond: "> startMs - 1" is ">= startMs".
      const slot = nominal(startMs === undefined ? afterMs : Math.max(afterMs, startMs - 1))
      lastSlot = slot === null || (endMs !== undefined && slot > endMs) ? null : slot
      lastAfter = afterMs
      return lastSlot
    },
  }
  if (shareKey !== undefined) remember(sharedTriggers, shareKey, trigger)
  return trigger
}

/**
 * How many parsed expressions and shared triggers are kept, each: far more distinct expressions
 * than a service registers, and a bound for one that builds them from data for ever.
 */
export const CRON_CACHE_LIMIT = 10_000

/** Sets `key` in `cache`, dropping the oldest entry past {@link CRON_CACHE_LIMIT}; what was handed out stays valid. */
function remember<V>(cache: Map<string, V>, key: string, value: V): void {
  cache.set(key, value)
  if (cache.size > CRON_CACHE_LIMIT) cache.delete(cache.keys().next().value as string)
}

/** Unbounded triggers by zone and expression (see cronTrigger). */
const sharedTriggers = new Map<string, Trigger>()

function invalidCron(expression: unknown, reason: string, cause?: unknown): AfterworkError {
  return new AfterworkError('ERR_SCHEDULE_INVALID_CRON', `Invalid cron expression ${JSON.stringify(expression)}: ${reason}`, { cause })
}

/** Parsed expressions, shared: a paused croner instance without a function is pure. */
const parsed = new Map<string, Cron>()

function parse(expression: string, text: string, timezone: string): Cron {
  const key = `${timezone} ${text}`
  let cron = parsed.get(key)
  if (cron === undefined) remember(parsed, key, (cron = parseNew(expression, text, timezone)))
  return cron
}

function parseNew(expression: string, text: string, timezone: string): Cron {
  try {
    return compactPattern(new Cron(text, cronerOptions(timezone)))
  } catch (error) {
    throw invalidCron(expression, errorMessage(error), error)
  }
}

/**
 * croner's options, with every option its parser sets already present, in one order: croner adds
 * the missing ones one by one, and past a few hundred parses V8 gave each options object its own
 * hidden class, about 4 KB of maps and descriptors per expression (5.6 MB for 1,440 expressions).
 */
function cronerOptions(timezone: string): CronOptions {
  const utc = timezone === 'UTC'
  return {
    // utcOffset 0 reads UTC with getUTC*(); timezone 'UTC' goes through Intl on every step (≈ 8× slower).
    timezone: utc ? undefined : timezone,
    utcOffset: utc ? 0 : undefined,
    // No callback and paused: croner only computes, it starts no timer.
    paused: true,
    mode: '5-or-6-parts',
    maxRuns: Infinity,
    catch: false,
    unref: false,
    alternativeWeekdays: false,
    sloppyRanges: false,
    fixedTimeRule: 'single-value',
    allowPast: false,
    interval: 0,
    dayOffset: 0,
    // Day-of-month and day-of-week combine with OR (croner's default; legacyMode follows from it).
    domAndDow: false,
    legacyMode: true,
  }
}

/** The per-field match tables of a croner pattern (croner 11), besides the year's. */
const TABLE_FIELDS = ['second', 'minute', 'hour', 'day', 'month', 'dayOfWeek', 'nearestWeekdays'] as const

/** Field tables of every parsed pattern, one frozen copy per field and content. */
const sharedTables = new Map<string, readonly number[]>()

/**
 * Shrinks what a parsed croner pattern holds, guarded on croner's shape (a croner that changes its
 * internals is left as it is):
 * - croner 11 gives every pattern whose year is `*` (always, in 5-or-6-part mode) a table of
 *   10,000 ones, 80 KB, that it reads only when `starYear` is false. 10,000 distinct expressions
 *   held 800 MB of them. It is dropped.
 * - Each pattern holds seven more tables (second, minute, hour...), about 2 KB, mostly the same
 *   from one expression to the next (`* * *` days, months and weekdays; second 0). Patterns share
 *   one frozen copy per content: croner writes them only while it parses, and a croner that wrote
 *   later would throw on the frozen copy rather than change another schedule's timetable.
 */
function compactPattern(cron: Cron): Cron {
  const pattern = (cron as unknown as { _states?: { pattern?: Record<string, unknown> } })._states?.pattern
  if (pattern === undefined) return cron
  if (pattern.starYear === true && Array.isArray(pattern.year) && pattern.year.length === 10_000) pattern.year = []
  for (const field of TABLE_FIELDS) {
    const table = pattern[field]
    if (!Array.isArray(table)) continue
    const key = `${field} ${table.join(',')}`
    let shared = sharedTables.get(key)
    if (shared === undefined) remember(sharedTables, key, (shared = Object.freeze(table as number[])))
    pattern[field] = shared
  }
  return cron
}

/**
 * ISC cron's split: a job is fixed-time unless its minute or hour field has a `*`; seconds count
 * too, and `?` is croner's `*`. Also refuses what is not 5 or 6 fields, before croner would take a
 * string like '2026-05-01T09:00' as a one-off date.
 */
function isFixedTime(expression: string, text: string): boolean {
  if (text.startsWith('@')) return text.toLowerCase() !== '@hourly'
  const fields = text.split(/\s+/)
  if (fields.length !== 5 && fields.length !== 6) {
    throw invalidCron(expression, `expected 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), got ${fields.length}`)
  }
  return !fields.slice(0, fields.length - 3).some((field) => /[*?]/.test(field))
}

/**
 * The first slot after `after` of a fixed-time expression: each matching wall time fires at its
 * first instant, or at the end of the gap it falls in. That map from wall time to instant never
 * goes backwards, so the first match whose instant is after `after` is the answer, and
 * {@link searchStart} makes it the first match croner returns (one croner call per next()). The
 * loop is a guard: were a match ever to map at or before `after`, it costs a step, not a wrong slot.
 */
function nextFixedTime(wallClock: Cron, zone: string, after: number): number | null {
  let wall = searchStart(zone, after)
  for (;;) {
    const match = wallClock.nextRun(new Date(wall))
    if (match === null) return null
    wall = match.getTime()
    const slot = firstInstant(zone, wall)
    if (slot > after) return slot
  }
}

/**
 * The wall time (as UTC fields) to search matches from. It is the wall time of `after`, except in
 * the second pass through a repeated hour: every wall time up to that hour's end has then already
 * had its first occurrence, so the search goes on from the end of the repeated hour.
 */
function searchStart(zone: string, after: number): number {
  const offset = zoneOffset(zone, after)
  const earlier = zoneOffset(zone, after - DAY)
  if (earlier > offset) {
    const firstPass = after - (earlier - offset)
    if (zoneOffset(zone, firstPass) === earlier) return transitionIn(zone, firstPass, after) + earlier - 1
  }
  return after + offset
}

/** The first instant whose wall time in `zone` is `wall`, or, in a spring-forward gap, the gap's end. */
function firstInstant(zone: string, wall: number): number {
  const before = zoneOffset(zone, wall - DAY)
  const later = zoneOffset(zone, wall + DAY)
  // The larger offset reads the wall time earlier: in a repeated hour, that is the first pass.
  for (const offset of [Math.max(before, later), Math.min(before, later)]) {
    if (zoneOffset(zone, wall - offset) === offset) return wall - offset
  }
  // No instant shows this wall time: it is in a gap, which ends at the transition.
  return transitionIn(zone, wall - Math.max(before, later), wall - Math.min(before, later))
}

/**
 * The first whole second in (lo, hi] whose offset is that of `hi`, by bisection (about 12 steps for
 * an hour). `lo` must have another offset, and the range must hold one transition: real ones are
 * hours apart, and the callers search at most a day's difference in offset.
 */
function transitionIn(zone: string, lo: number, hi: number): number {
  const target = zoneOffset(zone, hi)
  let low = Math.floor(lo / SECOND)
  let high = Math.floor(hi / SECOND)
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2)
    if (zoneOffset(zone, mid * SECOND) === target) high = mid
    else low = mid
  }
  return high * SECOND
}

const formats = new Map<string, Intl.DateTimeFormat>()
const FIELD_INDEX: Partial<Record<string, number>> = { year: 0, month: 1, day: 2, hour: 3, minute: 4, second: 5 }

/**
 * The UTC offset of `timeZone` at the instant `epochMs`, in milliseconds (wall time minus UTC:
 * -18_000_000 for 05:00 behind), to the second, from the runtime's Intl time zone data.
 */
export function zoneOffset(timeZone: string, epochMs: number): number {
  let format = formats.get(timeZone)
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    })
    formats.set(timeZone, format)
  }
  const instant = Math.floor(epochMs / SECOND) * SECOND
  const fields = [1970, 1, 1, 0, 0, 0]
  for (const { type, value } of format.formatToParts(instant)) {
    const index = FIELD_INDEX[type]
    if (index !== undefined) fields[index] = Number(value)
  }
  const [year = 1970, month = 1, day = 1, hour = 0, minute = 0, second = 0] = fields
  return Date.UTC(year, month - 1, day, hour, minute, second) - instant
}
