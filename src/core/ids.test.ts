import { describe, expect, it } from 'vitest'
import { uuidv7 } from './ids.js'

describe('uuidv7', () => {
  it('is a version 7, variant 1 UUID carrying the time', () => {
    const id = uuidv7(Date.parse('2026-03-01T00:00:00Z'))
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(Date.parse('2026-03-01T00:00:00Z'))
  })

  it('increases strictly within one millisecond and when the clock steps back', () => {
    const t = Date.parse('2030-01-01T00:00:00Z')
    const ids = Array.from({ length: 5_000 }, (_, i) => uuidv7(i === 2_500 ? t - 1_000 : t))
    expect([...ids].sort()).toEqual(ids)
    expect(new Set(ids).size).toBe(ids.length)
    // 5,000 ids draw the random pool empty several times; every one keeps the layout.
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(new Set(ids.map((id) => id.slice(19))).size).toBe(ids.length)
  })
})
