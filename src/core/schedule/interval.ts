import { toMs, type Duration } from '../duration.js'
import { invalidOption } from '../errors.js'
import { checkAfter, checkTimeZone, describeBounds, resolveBounds, type Trigger, type TriggerBounds } from './trigger.js'

/** Options of {@link intervalTrigger}. */
export interface IntervalTriggerOptions extends TriggerBounds {
  /** The first slot, in whole epoch milliseconds. Every slot is `anchor + k * every` with k >= 0. */
  anchor: number
  /** IANA time zone to show next-run times in; interval maths does not depend on it. @default 'UTC' */
  timezone?: string
}

/**
 * A trigger whose slots are `anchor + k * every` (k = 0, 1, 2, ...), exactly: slots are planned
 * from the anchor, never from when the last run ended, so they do not drift. `next(after)` finds k
 * arithmetically, so after a process was down for a week it costs the same as after a second.
 *
 * `every` is milliseconds or a string such as `'5m'`, at least 1 ms, in whole milliseconds; bad
 * values throw `ERR_INVALID_DURATION` or `ERR_INVALID_OPTION` naming `every`.
 *
 * @example
 * const trigger = intervalTrigger('5m', { anchor: clock.now() })
 * trigger.next(clock.now()) // anchor + 5 minutes
 */
export function intervalTrigger(every: Duration, opts: IntervalTriggerOptions): Trigger {
  const everyMs = toMs(every, 'every')
  if (!Number.isSafeInteger(everyMs) || everyMs < 1) invalidOption('every', every, 'a duration of at least 1ms, in whole milliseconds')
  const { anchor } = opts
  if (!Number.isSafeInteger(anchor)) invalidOption('anchor', anchor, 'whole epoch milliseconds')
  const timezone = checkTimeZone(opts.timezone ?? 'UTC')
  const bounds = resolveBounds(opts)
  const { startMs, endMs } = bounds
  const text = `every ${typeof every === 'string' ? every.trim() : formatMs(everyMs)}${describeBounds(bounds)}`

  return {
    kind: 'interval',
    timezone,
    describe: () => text,
    next(afterMs) {
      checkAfter(afterMs)
      // Slots are whole milliseconds, so "after afterMs" is "after floor(afterMs)". With integers
      // well below 2^53, floor and ceil of the quotient are exact: no correcting loop is needed.
      let k = Math.floor((Math.floor(afterMs) - anchor) / everyMs) + 1
      if (startMs !== undefined) k = Math.max(k, Math.ceil((startMs - anchor) / everyMs))
      const slot = anchor + Math.max(k, 0) * everyMs
      return endMs !== undefined && slot > endMs ? null : slot
    },
  }
}

const UNITS: ReadonlyArray<readonly [string, number]> = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
  ['ms', 1],
]

/** Milliseconds as the shortest duration string `toMs` reads back: 90_000 -> '1m30s', 1_500 -> '1s500ms'. */
export function formatMs(ms: number): string {
  let rest = ms
  let text = ''
  for (const [unit, size] of UNITS) {
    const count = Math.floor(rest / size)
    if (count > 0) {
      text += `${count}${unit}`
      rest -= count * size
    }
  }
  return text === '' ? '0ms' : text
}
