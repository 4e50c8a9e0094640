import { getEventListeners } from 'node:events'
import { describe, expect, it } from 'vitest'
import { onAbort } from './abort-fanout.js'

describe('onAbort', () => {
  it('calls every waiter once when the shared signal aborts, and none that left', () => {
    const controller = new AbortController()
    const calls: string[] = []
    onAbort(controller.signal, () => calls.push('a'))
    const leaveB = onAbort(controller.signal, () => calls.push('b'))
    onAbort(controller.signal, () => calls.push('c'))
    leaveB()
    controller.abort()
    controller.abort()
    expect(calls).toEqual(['a', 'c'])
  })

  it('keeps one listener on the signal however many wait on it, and none once all left', () => {
    const controller = new AbortController()
    let added = 0
    const add = controller.signal.addEventListener.bind(controller.signal)
    controller.signal.addEventListener = ((...args: Parameters<typeof add>) => {
      added++
      add(...args)
    }) as typeof add
    const leaves = Array.from({ length: 1000 }, () => onAbort(controller.signal, () => {}))
    expect(added).toBe(1)
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1)
    for (const leave of leaves) leave()
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0)
    let called = false
    onAbort(controller.signal, () => (called = true))
    controller.abort()
    expect(called).toBe(true)
  })

  it('the same function waiting twice is called twice', () => {
    const controller = new AbortController()
    let n = 0
    const fn = () => n++
    onAbort(controller.signal, fn)
    onAbort(controller.signal, fn)
    controller.abort()
    expect(n).toBe(2)
  })
})
