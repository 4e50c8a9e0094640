import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { assertTransition, canTransition, finalStates, isFinalState, jobTransitions, type JobState } from './job-state.js'

const states = Object.keys(jobTransitions) as JobState[]

describe('job states', () => {
  it('has exactly the vocabulary of the design', () => {
    expect(states.sort()).toEqual(['cancelled', 'cancelling', 'failed', 'queued', 'retrying', 'running', 'scheduled', 'succeeded'])
  })

  it('names only known states as targets', () => {
    for (const targets of Object.values(jobTransitions)) for (const to of targets) expect(states).toContain(to)
  })

  it('lets every state reach a final state', () => {
    for (const start of states) {
      const seen = new Set<JobState>([start])
      const queue = [start]
      while (queue.length) {
        for (const next of jobTransitions[queue.shift() as JobState]) {
          if (seen.has(next)) continue
          seen.add(next)
          queue.push(next)
        }
      }
      expect([...seen].some((s) => finalStates.has(s)), start).toBe(true)
    }
  })

  it('keeps succeeded final', () => {
    expect(isFinalState('succeeded')).toBe(true)
    expect(jobTransitions.succeeded).toEqual([])
  })

  it('allows cancel only through cancelling once running', () => {
    expect(canTransition('running', 'cancelling')).toBe(true)
    expect(canTransition('cancelling', 'cancelled')).toBe(true)
    expect(canTransition('cancelling', 'running')).toBe(false)
  })

  it('throws ERR_JOB_INVALID_TRANSITION for a move the table lacks', () => {
    expect(() => assertTransition('succeeded', 'running')).toThrow(expect.objectContaining({ code: 'ERR_JOB_INVALID_TRANSITION' }))
    expect(() => assertTransition('queued', 'running')).not.toThrow()
  })
})

describe('docs/lifecycle.md', () => {
  it('shows the same transition table as the code', () => {
    const doc = readFileSync(new URL('../../docs/lifecycle.md', import.meta.url), 'utf8')
    const rows = [...doc.matchAll(/^\| `(\w+)` \| ([^|]*) \|/gm)].map((m) => [m[1], [...(m[2] ?? '').matchAll(/`(\w+)`/g)].map((t) => t[1])])
    expect(Object.fromEntries(rows)).toEqual(jobTransitions)
  })
})
