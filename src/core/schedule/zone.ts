import { zoneOffset } from './cron.js'

/** ISO 8601 of `ms` in `timeZone`, with its offset: `2026-11-30T09:00:00+05:30`. */
export function formatInZone(ms: number, timeZone: string): string {
  const offsetMin = Math.round(zoneOffset(timeZone, ms) / 60_000)
  const local = new Date(ms + offsetMin * 60_000).toISOString().slice(0, 19)
  if (offsetMin === 0) return `${local}Z`
  const abs = Math.abs(offsetMin)
  return `${local}${offsetMin > 0 ? '+' : '-'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`
}
