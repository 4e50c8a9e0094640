import { describe, expect, it } from 'vitest'
import { toMs } from './duration.js'

describe('toMs', () => {
  it.each([
    [0, 0],
    [1500, 1500],
    ['500ms', 500],
    ['5s', 5_000],
    ['1.5s', 1_500],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['1d', 86_400_000],
    [' 2h ', 7_200_000],
  ])('reads %j as %d ms', (input, expected) => {
    expect(toMs(input)).toBe(expected)
  })

  it.each([[-1], [Number.NaN], [Number.POSITIVE_INFINITY], [''], ['5'], ['5 minutes'], ['m'], ['5x'], ['1h 30m']])(
    'refuses %j with ERR_INVALID_DURATION naming the option',
    (input) => {
      expect(() => toMs(input, 'shutdown.http')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_DURATION', message: expect.stringContaining('shutdown.http') }))
    },
  )
})
