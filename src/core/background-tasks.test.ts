import { EventEmitter } from 'node:events'
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../testing/manual-clock.js'
import { deferred } from './deferred.js'
import { BackgroundRunner } from './background-tasks.js'
import { Events, type EventMap } from './events.js'
import { silentLogger } from './logger.js'
import { currentRequestId } from './request-context.js'

function setup(maxPending = 100) {
  const clock = new ManualClock()
  const events = new Events((error) => {
    throw error
  })
  const failed: EventMap['background:failed'][] = []
  events.on('background:failed', (e) => failed.push(e))
  const runner = new BackgroundRunner({ maxPending, requestContext: true, clock, log: silentLogger, events })
  return { clock, events, runner, failed }
}

describe('BackgroundTasks', () => {
  it('runs nothing until started, then runs the tasks in order with their arguments', async () => {
    const { runner } = setup()
    const log: string[] = []
    const tasks = runner.create('req-1')
    tasks.add(async (a: string, b: number) => {
      await Promise.resolve()
      log.push(`first ${a} ${b}`)
    }, 'x', 1)
    tasks.add((s: string) => void log.push(`second ${s}`), 'y')
    expect(tasks.size).toBe(2)
    await Promise.resolve()
    expect(log).toEqual([])
    tasks.start()
    await runner.idle()
    expect(log).toEqual(['first x 1', 'second y'])
    expect(runner.stats).toEqual({ pending: 0, running: 0, succeeded: 2, failed: 0 })
  })

  it('runs the next task when one throws, and reports the failure with the request id', async () => {
    const { runner, failed } = setup()
    const log: string[] = []
    const tasks = runner.create('req-42')
    tasks.add(async function sendWelcomeEmail() {
      throw new Error('smtp down')
    })
    tasks.add(function logSignup() {
      log.push('logged')
    })
    tasks.start()
    await runner.idle()
    expect(log).toEqual(['logged'])
    expect(failed).toHaveLength(1)
    expect(failed[0]).toMatchObject({ requestId: 'req-42', task: 'sendWelcomeEmail', error: expect.objectContaining({ message: 'smtp down' }) })
    expect(runner.stats).toMatchObject({ succeeded: 1, failed: 1 })
  })

  it('makes the request id current inside its tasks', async () => {
    const { runner } = setup()
    const seen: (string | undefined)[] = []
    const tasks = runner.create('req-ctx')
    tasks.add(async () => {
      await Promise.resolve()
      seen.push(currentRequestId())
    })
    tasks.start()
    await runner.idle()
    expect(seen).toEqual(['req-ctx'])
    expect(currentRequestId()).toBeUndefined()
  })

  it("started from an event emitted in a tick of its own (a response's 'close'), keeps the id inside that tick and its tasks", async () => {
    const { runner } = setup()
    const seen: string[] = []
    const tasks = runner.create('req-close')
    tasks.add(async () => {
      await Promise.resolve()
      seen.push(`task ${currentRequestId()}`)
    })
    const response = new EventEmitter()
    response.on('close', () => tasks.start(true))
    response.on('close', () => seen.push(`later listener ${currentRequestId()}`))
    // As Node emits a response's 'close': from process.nextTick, after 'finish'.
    process.nextTick(() => response.emit('close'))
    process.nextTick(() => seen.push(`next tick ${currentRequestId()}`))
    await runner.idle()
    await new Promise((resolve) => setImmediate(resolve))
    seen.push(`after ${currentRequestId()}`)
    expect(seen).toEqual(['later listener req-close', 'next tick undefined', 'task req-close', 'after undefined'])
  })

  it('starts the list once however often start() is called', async () => {
    const { runner } = setup()
    let runs = 0
    const tasks = runner.create('r')
    tasks.add(() => void runs++)
    tasks.start()
    tasks.start()
    await runner.idle()
    expect(runs).toBe(1)
  })

  it('runs a task added after start once the running ones finish', async () => {
    const { runner } = setup()
    const log: string[] = []
    const gate = deferred()
    const tasks = runner.create('r')
    tasks.add(async () => {
      await gate.promise
      log.push('first')
    })
    tasks.start()
    tasks.add(() => void log.push('late'))
    gate.resolve()
    await runner.idle()
    expect(log).toEqual(['first', 'late'])
  })

  it('runs a task added from inside a running task after it, and one added after the list ran out', async () => {
    const { runner } = setup()
    const log: string[] = []
    const gate = deferred()
    const tasks = runner.create('r')
    tasks.add(() => {
      // Synchronously, while the first task runs: it must wait for the first to finish.
      tasks.add(() => void log.push('added inside'))
      log.push('first, sync part')
      return gate.promise.then(() => void log.push('first, done'))
    })
    tasks.start()
    gate.resolve()
    await runner.idle()
    tasks.add(() => void log.push('added later'))
    tasks.add(() => void log.push('added later, second'))
    log.push('add() returned')
    await runner.idle()
    expect(log).toEqual(['first, sync part', 'first, done', 'added inside', 'add() returned', 'added later', 'added later, second'])
    expect(tasks.size).toBe(4)
  })

  it('refuses with ERR_BACKGROUND_FULL past maxPending, and accepts again once tasks finish', async () => {
    const { runner } = setup(2)
    const gate = deferred()
    const a = runner.create('a')
    a.add(() => gate.promise)
    a.add(() => gate.promise)
    const b = runner.create('b')
    expect(() => b.add(() => {})).toThrow(expect.objectContaining({ code: 'ERR_BACKGROUND_FULL' }))
    expect(b.size).toBe(0)
    a.start()
    gate.resolve()
    await runner.idle()
    expect(() => b.add(() => {})).not.toThrow()
  })

  it('counts a task that returns a thenable once, however often the thenable calls back', async () => {
    const { runner, failed } = setup()
    const log: string[] = []
    const tasks = runner.create('req-7')
    // A misbehaving thenable: fulfils twice, then rejects.
    tasks.add(function twice() {
      return {
        then(onFulfilled: (v: unknown) => void, onRejected: (e: unknown) => void) {
          onFulfilled(1)
          onFulfilled(2)
          onRejected(new Error('late'))
        },
      }
    })
    // A thenable whose then() throws is a failure, like a rejection.
    tasks.add(function brokenThen() {
      return {
        then() {
          throw new Error('then threw')
        },
      }
    })
    tasks.add(() => void log.push('third'))
    tasks.start()
    await runner.idle()
    expect(log).toEqual(['third'])
    expect(failed.map((f) => f.task)).toEqual(['brokenThen'])
    expect(runner.stats).toEqual({ pending: 0, running: 0, succeeded: 2, failed: 1 })
  })

  it('waits for a promise subclass whose then() is its own', async () => {
    const { runner } = setup()
    const log: string[] = []
    class Tracked<T> extends Promise<T> {}
    const gate = deferred<void>()
    const tasks = runner.create('req-8')
    tasks.add(() => Tracked.resolve(gate.promise).then(() => void log.push('first')))
    tasks.add(() => void log.push('second'))
    tasks.start()
    await Promise.resolve()
    expect(log).toEqual([])
    gate.resolve()
    await runner.idle()
    expect(log).toEqual(['first', 'second'])
  })

  it('refuses something that is not a function', () => {
    const { runner } = setup()
    expect(() => runner.create('r').add('nope' as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
    expect(runner.stats.pending).toBe(0)
  })
})

describe('BackgroundRunner.drain', () => {
  it('starts lists whose response never closed, waits for them and refuses new tasks', async () => {
    const { runner } = setup()
    let ran = false
    const orphan = runner.create('orphan')
    orphan.add(() => void (ran = true))
    expect(await runner.drain(1_000)).toBe(0)
    expect(ran).toBe(true)
    expect(() => runner.create('late').add(() => {})).toThrow(expect.objectContaining({ code: 'ERR_BACKGROUND_CLOSED' }))
  })

  it('starts every list left unstarted, however the lists before and after it started', async () => {
    const { runner } = setup()
    const ran: string[] = []
    const lists = ['a', 'b', 'c', 'd', 'e'].map((id) => {
      const tasks = runner.create(id)
      tasks.add(() => void ran.push(id))
      return tasks
    })
    // Started by their responses: the first, one in the middle and the last of the runner's links.
    for (const i of [0, 2, 4]) lists[i]?.start()
    expect(ran).toEqual(['a', 'c', 'e'])
    expect(runner.stats.pending).toBe(2)
    // One left unstarted starts another from its task, as a task that answers a held request might.
    lists[1]?.add(() => lists[3]?.start())
    expect(await runner.drain(1_000)).toBe(0)
    expect(ran).toEqual(['a', 'c', 'e', 'b', 'd'])
  })

  it('gives up at the deadline and reports how many tasks it abandoned', async () => {
    const { runner, clock, events } = setup()
    const abandoned: string[] = []
    events.on('shutdown:abandoned', ({ step }) => abandoned.push(step))
    const tasks = runner.create('slow')
    tasks.add(() => new Promise(() => {}))
    tasks.add(() => {})
    tasks.start()
    const draining = runner.drain(3_000)
    await clock.advance(3_000)
    expect(await draining).toBe(2)
    expect(abandoned).toEqual(['background'])
  })

  it('resolves idle() at once when nothing is pending', async () => {
    const { runner } = setup()
    await expect(runner.idle()).resolves.toBeUndefined()
  })
})
