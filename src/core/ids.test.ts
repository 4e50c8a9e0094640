import { describe, expect, it } from 'vitest'
import { randomUUIDv4, uuidv7 } from './ids.js'

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

describe('randomUUIDv4', () => {
  const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

  it('makes version 4, variant 1 UUIDs, all different, across many refills of the random pool', () => {
    // 16 random bytes an id: 10,000 ids empty the 64 KiB pool twice.
    const ids = Array.from({ length: 10_000 }, () => randomUUIDv4())
    for (const id of ids) expect(id).toMatch(V4)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it('draws every random digit: each position but the fixed ones takes many values', () => {
    const ids = Array.from({ length: 2_000 }, () => randomUUIDv4())
    for (let position = 0; position < 36; position++) {
      const seen = new Set(ids.map((id) => id[position]))
      if ([8, 13, 18, 23].includes(position)) expect(seen).toEqual(new Set(['-']))
      else if (position === 14) expect(seen).toEqual(new Set(['4']))
      else if (position === 19) expect(seen).toEqual(new Set(['8', '9', 'a', 'b']))
      else expect(seen.size).toBe(16)
    }
  })
})
