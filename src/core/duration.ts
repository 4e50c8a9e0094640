import { AfterworkError } from './errors.js'

/** Milliseconds, or a string such as `'500ms'`, `'5s'`, `'5m'`, `'1h30m'` or `'1d'`. */
export type Duration = number | string

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy

/**
 * Turns a {@link Duration} into milliseconds. `option` names the option being read, so a bad value
 * fails with an error that says which option to fix.
 */
export function toMs(value: Duration, option = 'duration'): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value
  } else if (typeof value === 'string' && value.length > 0) {
    const text = value.trim()
    let total = 0
    PART.lastIndex = 0
    let match: RegExpExecArray | null
    while ((match = PART.exec(text)) !== null) {
      total += Number(match[1]) * (UNIT_MS[match[2] as string] as number)
      if (PART.lastIndex === text.length) return total
    }
  }
  throw new AfterworkError(
    'ERR_INVALID_DURATION',
    `${option} must be milliseconds (a number >= 0) or a string like '500ms', '5s', '5m', '1h30m'; got ${JSON.stringify(value)}`,
  )
}
