import { invalidOption } from '../errors.js'
import { checkAfter, checkTimeZone, describeBounds, instantOf, resolveBounds, type Trigger, type TriggerBounds } from './trigger.js'

/** Options of {@link dateTrigger}. */
export interface DateTriggerOptions extends TriggerBounds {
  /** IANA time zone to show the run time in. @default 'UTC' */
  timezone?: string
}

/**
 * A one-off trigger: its only slot is `at`; `next()` returns it while it is still ahead, then null.
 * A slot outside `startDate`/`endDate` never fires. `at` must be a valid Date or epoch milliseconds
 * (`ERR_INVALID_OPTION` naming `at` otherwise).
 *
 * @example
 * const trigger = dateTrigger(new Date('2026-05-01T09:00:00Z'))
 * trigger.next(clock.now()) // the instant, until it has passed
 */
export function dateTrigger(at: Date | number, opts: DateTriggerOptions = {}): Trigger {
  const atMs = instantOf(at, 'at')
  if (atMs === undefined) invalidOption('at', at, 'a valid Date or epoch milliseconds')
  const timezone = checkTimeZone(opts.timezone ?? 'UTC')
  const bounds = resolveBounds(opts)
  const { startMs, endMs } = bounds
  const inBounds = (startMs === undefined || atMs >= startMs) && (endMs === undefined || atMs <= endMs)
  const text = `once at ${new Date(atMs).toISOString()}${describeBounds(bounds)}`

  return {
    kind: 'date',
    timezone,
    describe: () => text,
    next(afterMs) {
      checkAfter(afterMs)
      return inBounds && atMs > afterMs ? atMs : null
    },
  }
}
