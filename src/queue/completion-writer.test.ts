import { setImmediate as nextTurn } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { Events } from '../core/events.js'
import { silentLogger } from '../core/logger.js'
import { ManualClock } from '../testing/manual-clock.js'
import { CompletionWriter, type Outcome } from './completion-writer.js'
import type { Completion, JobRow } from './driver.js'
import type { Queue } from './queue.js'

function writer(batch: number, afterWrite: () => void = () => {}) {
  const written: string[][] = []
  const driver = {
    jobCompleteMany: async ({ completions }: { completions: readonly Completion[] }) => {
      written.push(completions.map((c) => c.id))
      afterWrite()
    },
  }
  const events = new Events(() => {})
  const reported: string[] = []
  events.on('job:succeeded', ({ id }) => reported.push(id))
  const outcomes = new CompletionWriter({
    queue: { driver, now: undefined } as unknown as Queue<unknown>,
    clock: new ManualClock(0),
    log: silentLogger,
    events,
    batch,
    retryMs: 100,
    workerId: () => 'w',
    onIdle: () => {},
  })
  const outcome = (id: string): Outcome => ({ completion: { id, outcome: 'succeeded', result: null }, row: { id, name: 't', queue: 'q' } as JobRow, durationMs: 1 })
  return { outcomes, written, reported, outcome }
}

describe('CompletionWriter', () => {
  it('writes outcomes of one turn together, a full batch at once', async () => {
    const { outcomes, written, reported, outcome } = writer(2)
    outcomes.add(outcome('a'))
    expect(written).toEqual([])
    outcomes.add(outcome('b'))
    outcomes.add(outcome('c'))
    await nextTurn()
    expect(written).toEqual([['a', 'b'], ['c']])
    expect(reported).toEqual(['a', 'b', 'c'])
    expect(outcomes.idle).toBe(true)
  })

  it('keeps writing after a full batch was stored before the turn ended, leaving nothing pending', async () => {
    // A fast store (memory, SQLite) stores the full batch within the turn; the flush scheduled for
    // the end of the turn then finds nothing to write. It once left the writer marked busy for
    // good, and no later outcome was written.
    const { outcomes, written, outcome } = writer(2)
    outcomes.add(outcome('a'))
    outcomes.add(outcome('b'))
    await nextTurn()
    expect(written).toEqual([['a', 'b']])
    expect(outcomes.idle).toBe(true)
    outcomes.add(outcome('c'))
    await nextTurn()
    await nextTurn()
    expect(written).toEqual([['a', 'b'], ['c']])
    expect(outcomes.idle).toBe(true)
    await expect(outcomes.flush()).resolves.toBeUndefined()
  })

  it('writes outcomes added while a write is ending, whatever the microtask they land on', async () => {
    // An outcome handed over in the microtasks right after a write returns must be written too:
    // by the ending loop, or by a write of its own, never joined to one that has already ended.
    // addNow() resolves only once its outcome is stored.
    for (let delay = 0; delay < 6; delay++) {
      for (const how of ['add', 'addNow'] as const) {
        let handed = false
        let storedWhenResolved: boolean | undefined
        const later = (n: number, fn: () => void) => (n === 0 ? fn() : queueMicrotask(() => later(n - 1, fn)))
        const w = writer(1, () => {
          if (handed) return
          handed = true
          later(delay, () => {
            if (how === 'add') w.outcomes.add(w.outcome('b'))
            else void w.outcomes.addNow([w.outcome('b')]).then(() => (storedWhenResolved = w.written.flat().includes('b')))
          })
        })
        w.outcomes.add(w.outcome('a'))
        for (let i = 0; i < 3; i++) await nextTurn()
        expect({ delay, how, written: w.written }).toEqual({ delay, how, written: [['a'], ['b']] })
        expect(w.outcomes.idle).toBe(true)
        if (how === 'addNow') expect({ delay, storedWhenResolved }).toEqual({ delay, storedWhenResolved: true })
      }
    }
  })
})
