import { AfterworkError, invalidOption } from '../errors.js'

/**
 * When a schedule fires: the pure next-fire maths shared by interval, cron and one-off schedules.
 * A trigger reads no clock: the time is always passed in, as epoch milliseconds.
 */
export interface Trigger {
  readonly kind: 'interval' | 'cron' | 'date'
  /** Human text for listings: 'every 5m', 'cron 0 9 * * * (Asia/Kolkata)', 'once at 2026-...'. */
  describe(): string
  /** Time zone used to show next-run times (IANA name); 'UTC' for interval/date unless given. */
  readonly timezone: string
  /** The first nominal slot strictly after `afterMs`, or null when there is none (past endDate, one-off done). Pure. */
  next(afterMs: number): number | null
}

/** Limits every trigger applies: no slot before `startDate` and none after `endDate` (both inclusive). */
export interface TriggerBounds {
  /** No slot before this instant; a slot exactly at it is allowed. @default no lower bound */
  startDate?: Date | number
  /** No slot after this instant; a slot exactly at it is allowed. @default no upper bound */
  endDate?: Date | number
}

/** {@link TriggerBounds} as whole epoch milliseconds, checked. Slots are whole milliseconds, so rounding inwards loses none. */
export interface ResolvedBounds {
  readonly startMs: number | undefined
  readonly endMs: number | undefined
}

/**
 * Checks and resolves `startDate` and `endDate`. Throws `ERR_INVALID_OPTION` naming the option when
 * one is not a valid date, or when `endDate` is before `startDate` (the schedule could never fire).
 */
export function resolveBounds(bounds: TriggerBounds): ResolvedBounds {
  const start = instantOf(bounds.startDate, 'startDate')
  const end = instantOf(bounds.endDate, 'endDate')
  if (start !== undefined && end !== undefined && end < start) {
    invalidOption('endDate', bounds.endDate, `at or after startDate (${new Date(start).toISOString()})`)
  }
  return { startMs: start === undefined ? undefined : Math.ceil(start), endMs: end === undefined ? undefined : Math.floor(end) }
}

/** Reads a `Date | number` option as epoch milliseconds; undefined stays undefined. */
export function instantOf(value: Date | number | undefined, option: string): number | undefined {
  if (value === undefined) return undefined
  const ms = value instanceof Date ? value.getTime() : value
  if (typeof ms !== 'number' || !Number.isFinite(ms)) invalidOption(option, value, 'a valid Date or epoch milliseconds')
  return ms
}

/** ' from <ISO>, until <ISO>' for the bounds that are set, to append to a trigger's description. */
export function describeBounds({ startMs, endMs }: ResolvedBounds): string {
  return (
    (startMs === undefined ? '' : `, from ${new Date(startMs).toISOString()}`) +
    (endMs === undefined ? '' : `, until ${new Date(endMs).toISOString()}`)
  )
}

/** Zones already checked: each Intl.DateTimeFormat leaves ≈ 15 KB of native memory in RSS, even after GC. */
const knownZones = new Set<string>()

/**
 * Returns `timezone` when the runtime's Intl knows it, else throws `ERR_SCHEDULE_INVALID_TIMEZONE`
 * naming it. The name is kept as given (Intl may canonicalise `Asia/Kolkata` to `Asia/Calcutta`).
 */
export function checkTimeZone(timezone: unknown, option = 'timezone'): string {
  if (typeof timezone === 'string' && knownZones.has(timezone)) return timezone
  if (typeof timezone === 'string' && timezone !== '') {
    try {
      new Intl.DateTimeFormat(undefined, { timeZone: timezone })
      knownZones.add(timezone)
      return timezone
    } catch {
      // RangeError: unknown time zone; reported below with the option's name.
    }
  }
  throw new AfterworkError(
    'ERR_SCHEDULE_INVALID_TIMEZONE',
    `${option} must be an IANA time zone name such as 'Europe/Berlin' or 'UTC'; got ${JSON.stringify(timezone)}, which this runtime does not know`,
  )
}

/** Throws `ERR_INVALID_OPTION` unless `afterMs` is a finite number: next() maths on NaN would return NaN. */
export function checkAfter(afterMs: number): void {
  if (typeof afterMs !== 'number' || !Number.isFinite(afterMs)) invalidOption('afterMs', afterMs, 'finite epoch milliseconds')
}
