import { describe, expect, it } from 'vitest'
import { systemClock } from './clock.js'
import { Events } from './events.js'

describe('systemClock', () => {
  it('reads wall and monotonic time', () => {
    expect(Math.abs(systemClock.now() - Date.now())).toBeLessThan(1_000)
    const a = systemClock.monotonic()
    expect(systemClock.monotonic()).toBeGreaterThanOrEqual(a)
  })

  it('sleeps, and rejects with the signal reason unchanged when aborted before or during', async () => {
    await expect(systemClock.sleep(1)).resolves.toBeUndefined()
    const reason = new Error('stop')
    await expect(systemClock.sleep(10, AbortSignal.abort(reason))).rejects.toBe(reason)
    const controller = new AbortController()
    const sleeping = systemClock.sleep(60_000, controller.signal)
    controller.abort(reason)
    await expect(sleeping).rejects.toBe(reason)
  })
})

describe('Events', () => {
  it('isolates a throwing listener and reports it', () => {
    const reported: unknown[] = []
    const events = new Events((error) => reported.push(error))
    const seen: string[] = []
    events.on('service:readiness', () => {
      throw new Error('listener bug')
    })
    const off = events.on('service:readiness', ({ readiness }) => seen.push(readiness))
    expect(events.has('service:readiness')).toBe(true)
    expect(events.has('lifespan:started')).toBe(false)
    events.emit('service:readiness', { readiness: 'ready' })
    off()
    events.emit('service:readiness', { readiness: 'draining' })
    expect(seen).toEqual(['ready'])
    expect(reported).toHaveLength(2)
  })
})
