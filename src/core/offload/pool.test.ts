import { EventEmitter } from 'node:events'
import { fileURLToPath } from 'node:url'
import { describe, expect, it, onTestFinished } from 'vitest'
import { ManualClock } from '../../testing/manual-clock.js'
import { systemClock, type Clock } from '../clock.js'
import { AfterworkError, isAfterworkError } from '../errors.js'
import { silentLogger, type Logger } from '../logger.js'
import { CancelState, TASK_FAILURE, isTaskFailure, type SerializedError, type TaskFailure } from './messages.js'
import { OffloadPool, type OffloadOptions } from './pool.js'
import runOffloaded from './worker-entry.js'

const heavy = new URL('./fixtures/heavy.ts', import.meta.url)
// The threads import .ts files (worker-entry.ts and the fixtures): see the preload for why not `--import tsx`.
const execArgv = ['--import', new URL('./fixtures/tsx-in-thread.mjs', import.meta.url).href]

interface WarnEntry {
  obj: object
  msg: string | undefined
}

function setup(opts: OffloadOptions & { clock?: Clock } = {}) {
  const clock = opts.clock ?? new ManualClock()
  const warnings: WarnEntry[] = []
  const log: Logger = { ...silentLogger, warn: (obj, msg) => warnings.push({ obj, msg }), child: () => log }
  const pool = new OffloadPool({ execArgv, ...opts, clock, log })
  onTestFinished(() => pool.stop(0))
  return { pool, clock, warnings }
}

async function started(opts: OffloadOptions & { clock?: Clock } = {}) {
  const bundle = setup(opts)
  await bundle.pool.start()
  return bundle
}

type WaitAsync = (cells: Int32Array, index: number, value: number, timeoutMs: number) => { async: boolean; value: Promise<string> | string }
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync

/** Resolves once `cells[index]` differs from `value`: the threads notify on every write. */
async function untilChanged(cells: Int32Array, index: number, value: number): Promise<void> {
  const { async, value: result } = waitAsync(cells, index, value, 20_000)
  if ((async ? await result : result) === 'timed-out') throw new Error(`cells[${index}] stayed ${value}`)
}

/** Lets `n` event-loop turns pass (so whatever could still happen would). */
async function turns(n = 10): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve))
}

function shared(length: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(length * Int32Array.BYTES_PER_ELEMENT))
}

/** A task that blocks its thread until `release()`; `started` resolves once it runs. */
function gate() {
  const cells = shared(2)
  return {
    cells,
    started: () => untilChanged(cells, 0, 0),
    release: () => {
      Atomics.store(cells, 1, 1)
      Atomics.notify(cells, 1)
    },
  }
}

function settledState(promise: Promise<unknown>): { settled: boolean } {
  const state = { settled: false }
  promise.then(() => (state.settled = true), () => (state.settled = true))
  return state
}

describe('OffloadPool.run', () => {
  it('returns the export result for the input', async () => {
    const { pool } = await started()
    expect(await pool.run<number>(heavy, 'fib', 20)).toBe(6765)
    expect(await pool.run(heavy.href, 'echo', { a: [1, 2], at: new Date(0) })).toEqual({ a: [1, 2], at: new Date(0) })
    expect(await pool.run(heavy, 'asyncDouble', 21)).toBe(42)
    expect(pool.stats).toMatchObject({ completed: 3, cancelled: 0, queued: 0, running: 0 })
  })

  it('accepts an absolute path for the module', async () => {
    const { pool } = await started()
    expect(await pool.run(fileURLToPath(heavy), 'fib', 10)).toBe(55)
  })

  it('rejects with the thread error: name, message, code, props, cause and the thread stack', async () => {
    const { pool } = await started()
    const error = (await pool.run(heavy, 'failWithQuota', null).catch((e: unknown) => e)) as Error & { code: string; limit: number }
    expect(error).toBeInstanceOf(Error)
    expect(error.name).toBe('QuotaError')
    expect(error.message).toBe('quota exceeded')
    expect(error.code).toBe('E_QUOTA')
    expect(error.limit).toBe(3)
    expect(error.stack).toMatch(/^QuotaError: quota exceeded\n\s+at failWithQuota .*heavy\.ts/)
    expect(error.cause).toBeInstanceOf(TypeError)
    expect((error.cause as Error).message).toBe('limit was 3')
  })

  it('rebuilds built-in error types and AfterworkErrors as themselves', async () => {
    const { pool } = await started()
    await expect(pool.run(heavy, 'failWithTypeError', null)).rejects.toThrow(TypeError)
    const error = await pool.run(heavy, 'failWithAfterworkError', null).catch((e: unknown) => e)
    expect(isAfterworkError(error, 'ERR_TIMEOUT')).toBe(true)
    expect((error as Error).message).toBe('gave up inside the thread')
    await expect(pool.run(heavy, 'throwString', null)).rejects.toBe('plain string')
  })

  it('rejects with ERR_OFFLOAD_EXPORT naming the module and export when the export is missing or not a function', async () => {
    const { pool } = await started()
    for (const name of ['noSuchExport', 'notAFunction']) {
      const error = await pool.run(heavy, name, null).catch((e: unknown) => e)
      expect(isAfterworkError(error, 'ERR_OFFLOAD_EXPORT')).toBe(true)
      expect((error as Error).message).toContain(heavy.href)
      expect((error as Error).message).toContain(`"${name}"`)
    }
  })

  it('rejects with the import error when the module cannot be loaded', async () => {
    const { pool } = await started()
    const error = (await pool.run(new URL('./fixtures/missing.ts', import.meta.url), 'fib', 1).catch((e: unknown) => e)) as Error & { code?: string }
    expect(error.code).toBe('ERR_MODULE_NOT_FOUND')
  })

  it('rejects input that cannot cross threads with ERR_INVALID_OPTION, and a thread crash with ERR_OFFLOAD_CRASHED', async () => {
    const { pool } = await started()
    const input = await pool.run(heavy, 'echo', () => 1).catch((e: unknown) => e)
    expect(isAfterworkError(input, 'ERR_INVALID_OPTION')).toBe(true)
    const crash = await pool.run(heavy, 'returnFunction', null).catch((e: unknown) => e)
    expect(isAfterworkError(crash, 'ERR_OFFLOAD_CRASHED')).toBe(true)
    expect((crash as Error).message).toContain(`${heavy.href}#returnFunction failed: no message (a result that cannot be structured-cloned`)
    expect(await pool.run(heavy, 'fib', 10)).toBe(55)
  })

  it('rejects a module that is neither a URL nor an absolute path, and an empty export name', async () => {
    const { pool } = await started()
    await expect(pool.run('./fixtures/heavy.ts', 'fib', 1)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' })
    await expect(pool.run(heavy, '', 1)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' })
  })

  it('rejects with the reason of a signal aborted before the call, before anything else', async () => {
    const { pool } = setup()
    const reason = new Error('already gone')
    await expect(pool.run(heavy, 'fib', 1, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
  })

  it('rejects with ERR_OFFLOAD_FULL once maxQueue tasks wait for a thread', async () => {
    const { pool } = await started({ maxThreads: 1, maxQueue: 1 })
    const blocker = gate()
    const first = pool.run(heavy, 'waitForRelease', { gate: blocker.cells })
    await blocker.started()
    const second = pool.run(heavy, 'fib', 10)
    expect(pool.stats).toMatchObject({ queued: 1, running: 1 })
    await expect(pool.run(heavy, 'fib', 10)).rejects.toMatchObject({ code: 'ERR_OFFLOAD_FULL' })
    blocker.release()
    expect(await first).toBe('released')
    expect(await second).toBe(55)
  })
})

describe('OffloadPool.run cancel', () => {
  it('rejects with signal.reason unchanged when the task sees the flag, and keeps the thread', async () => {
    const { pool } = await started({ maxThreads: 1 })
    const before = await pool.run(heavy, 'threadId', null)
    for (const task of ['countUntilCancelled', 'countThenReturn']) {
      const counter = shared(2)
      const controller = new AbortController()
      const running = pool.run(heavy, task, { counter }, { signal: controller.signal })
      await untilChanged(counter, 0, 0)
      const reason = new Error(`stop ${task}`)
      controller.abort(reason)
      await expect(running).rejects.toBe(reason)
    }
    // The same thread runs the next task: it was never terminated.
    expect(await pool.run(heavy, 'threadId', null)).toBe(before)
    expect(pool.stats).toMatchObject({ cancelled: 2, threads: 1 })
  })

  it('terminates the thread of a task that ignores the flag once cancelGrace passes', async () => {
    const clock = new ManualClock()
    const { pool, warnings } = await started({ clock, maxThreads: 1, cancelGrace: '2s' })
    const before = await pool.run(heavy, 'threadId', null)
    const counter = shared(2)
    const controller = new AbortController()
    const running = pool.run(heavy, 'countForever', { counter }, { signal: controller.signal })
    const state = settledState(running)
    await untilChanged(counter, 0, 0)
    const reason = new Error('stop counting')
    controller.abort(reason)
    // Within the grace the task keeps running, flag or not.
    await clock.advance(1_999)
    const during = Atomics.load(counter, 0)
    await untilChanged(counter, 0, during)
    expect(state.settled).toBe(false)
    await clock.advance(1)
    const error = await running.catch((e: unknown) => e)
    expect(isAfterworkError(error, 'ERR_OFFLOAD_TERMINATED')).toBe(true)
    expect((error as AfterworkError).cause).toBe(reason)
    // The thread has exited by the time run() rejects: the counter is frozen and `finally` never ran.
    const after = Atomics.load(counter, 0)
    await turns()
    expect(Atomics.load(counter, 0)).toBe(after)
    expect(Atomics.load(counter, 1)).toBe(0)
    expect(warnings.map((w) => w.msg)).toContain('an offloaded task ignored its cancellation; its thread was terminated')
    // A fresh thread takes over.
    expect(await pool.run(heavy, 'threadId', null)).not.toBe(before)
  })

  it('terminates after a real cancelGrace on the system clock', async () => {
    const { pool } = await started({ clock: systemClock, maxThreads: 1, cancelGrace: '50ms' })
    const counter = shared(2)
    const controller = new AbortController()
    const running = pool.run(heavy, 'countForever', { counter }, { signal: controller.signal })
    await untilChanged(counter, 0, 0)
    controller.abort(new Error('stop'))
    await expect(running).rejects.toMatchObject({ code: 'ERR_OFFLOAD_TERMINATED' })
    const after = Atomics.load(counter, 0)
    await turns()
    expect(Atomics.load(counter, 0)).toBe(after)
  })

  it('rejects with ERR_TIMEOUT when the timeout passes and the task stops', async () => {
    const clock = new ManualClock()
    const { pool } = await started({ clock, maxThreads: 1 })
    const counter = shared(2)
    const running = pool.run(heavy, 'countUntilCancelled', { counter }, { timeout: '5s' })
    const state = settledState(running)
    await untilChanged(counter, 0, 0)
    await clock.advance(4_999)
    expect(state.settled).toBe(false)
    await clock.advance(1)
    const error = await running.catch((e: unknown) => e)
    expect(isAfterworkError(error, 'ERR_TIMEOUT')).toBe(true)
    expect((error as Error).message).toContain('5000 ms')
    expect(pool.stats.cancelled).toBe(1)
  })

  it('rejects with ERR_OFFLOAD_TERMINATED caused by ERR_TIMEOUT when the task ignores the timeout', async () => {
    const clock = new ManualClock()
    const { pool } = await started({ clock, maxThreads: 1, cancelGrace: '1s' })
    const counter = shared(2)
    const running = pool.run(heavy, 'countForever', { counter }, { timeout: '5s' })
    await untilChanged(counter, 0, 0)
    await clock.advance(5_000)
    await clock.advance(1_000)
    const error = await running.catch((e: unknown) => e)
    expect(isAfterworkError(error, 'ERR_OFFLOAD_TERMINATED')).toBe(true)
    expect(isAfterworkError((error as Error).cause, 'ERR_TIMEOUT')).toBe(true)
  })

  it('takes a cancelled task off the queue at once, without touching the running thread', async () => {
    const clock = new ManualClock()
    const { pool } = await started({ clock, maxThreads: 1 })
    const blocker = gate()
    const first = pool.run(heavy, 'waitForRelease', { gate: blocker.cells, value: 'first' }, { signal: new AbortController().signal })
    await blocker.started()
    const controller = new AbortController()
    const queued = pool.run(heavy, 'fib', 10, { signal: controller.signal })
    const timedOut = pool.run(heavy, 'fib', 10, { timeout: '1s' }).catch((e: unknown) => e)
    await turns()
    expect(pool.stats).toMatchObject({ queued: 2, running: 1 })
    const reason = new Error('never mind')
    controller.abort(reason)
    await expect(queued).rejects.toBe(reason)
    await clock.advance(1_000)
    expect(isAfterworkError(await timedOut, 'ERR_TIMEOUT')).toBe(true)
    expect(pool.stats).toMatchObject({ queued: 0, running: 1, threads: 1, cancelled: 2 })
    blocker.release()
    expect(await first).toBe('first')
  })

  it('leaves no listener on a long-lived caller signal', async () => {
    const { pool } = await started()
    const controller = new AbortController()
    await Promise.all([1, 2, 3].map((n) => pool.run(heavy, 'fib', n, { signal: controller.signal, timeout: '1m' })))
    await pool.run(heavy, 'failWithTypeError', null, { signal: controller.signal }).catch(() => {})
    expect(EventEmitter.getEventListeners(controller.signal, 'abort')).toHaveLength(0)
  })
})

describe('OffloadPool lifecycle', () => {
  it('rejects run() before start() with ERR_SERVICE_NOT_STARTED', async () => {
    const { pool } = setup()
    await expect(pool.run(heavy, 'fib', 1)).rejects.toMatchObject({ code: 'ERR_SERVICE_NOT_STARTED' })
  })

  it('starts no thread until the first run when minThreads is 0, and start() is idempotent', async () => {
    const { pool } = setup()
    await pool.start()
    await pool.start()
    expect(pool.stats.threads).toBe(0)
    await pool.run(heavy, 'fib', 1)
    expect(pool.stats.threads).toBe(1)
  })

  it('stop() waits for running and queued tasks, then destroys the threads', async () => {
    const { pool } = await started({ maxThreads: 1 })
    const blocker = gate()
    const running = pool.run(heavy, 'waitForRelease', { gate: blocker.cells })
    await blocker.started()
    const queued = pool.run(heavy, 'fib', 15)
    const stopping = pool.stop(60_000)
    const state = settledState(stopping)
    await turns()
    expect(state.settled).toBe(false)
    await expect(pool.run(heavy, 'fib', 1)).rejects.toMatchObject({ code: 'ERR_SERVICE_STOPPED' })
    blocker.release()
    await stopping
    expect(await running).toBe('released')
    expect(await queued).toBe(610)
    expect(pool.stats.threads).toBe(0)
  })

  it('stop() terminates what still runs at its deadline; those runs reject with ERR_SHUTDOWN', async () => {
    const clock = new ManualClock()
    const { pool, warnings } = await started({ clock, maxThreads: 1 })
    const blocker = gate()
    const running = pool.run(heavy, 'waitForRelease', { gate: blocker.cells }).catch((e: unknown) => e)
    await blocker.started()
    const stopping = pool.stop(10_000)
    await clock.advance(10_000)
    await stopping
    expect(isAfterworkError(await running, 'ERR_SHUTDOWN')).toBe(true)
    expect(warnings[0]?.obj).toMatchObject({ running: 1, queued: 0, timeoutMs: 10_000 })
    expect(pool.stats.threads).toBe(0)
  })

  it('stop() is idempotent and safe before start(); start() after stop() rejects', async () => {
    const { pool } = setup()
    await pool.stop(1_000)
    await pool.stop(1_000)
    await expect(pool.start()).rejects.toMatchObject({ code: 'ERR_SERVICE_STOPPED' })
    await expect(pool.run(heavy, 'fib', 1)).rejects.toMatchObject({ code: 'ERR_SERVICE_STOPPED' })
  })

  it('validates its options, naming the option', () => {
    const clock = systemClock
    const log = silentLogger
    expect(() => new OffloadPool({ clock, log, maxThreads: 0 })).toThrow(/offload\.maxThreads/)
    expect(() => new OffloadPool({ clock, log, minThreads: 3, maxThreads: 2 })).toThrow(/at least minThreads/)
    expect(() => new OffloadPool({ clock, log, minThreads: -1 })).toThrow(/offload\.minThreads/)
    expect(() => new OffloadPool({ clock, log, cancelGrace: 'soon' })).toThrow(/offload\.cancelGrace/)
    expect(() => new OffloadPool({ clock, log, maxQueue: 1.5 })).toThrow(/offload\.maxQueue/)
    expect(() => new OffloadPool({ clock, log, execArgv: '--import tsx' as unknown as string[] })).toThrow(/offload\.execArgv/)
    expect(new OffloadPool({ clock, log, minThreads: 64 })).toBeInstanceOf(OffloadPool)
  })
})

// The thread side, called in this process: v8 coverage does not see pool threads, and these pin the
// wire format the pool rebuilds from.
describe('worker-entry', () => {
  const payload = (exportName: string, input: unknown = null, cancel?: Int32Array) => ({ module: heavy.href, exportName, input, ...(cancel ? { cancel } : {}) })
  /** What the thread throws (synchronously or by rejecting) for the task; fails if it returns instead. */
  const thrown = async (running: Promise<unknown> | (() => unknown)): Promise<TaskFailure> => {
    try {
      await (typeof running === 'function' ? running() : running)
    } catch (error) {
      expect(isTaskFailure(error)).toBe(true)
      return error as TaskFailure
    }
    throw new Error('expected the task to throw a TaskFailure')
  }
  const failure = async (running: Promise<unknown> | (() => unknown)) => {
    const outcome = await thrown(running)
    return 'error' in outcome ? outcome.error : undefined
  }

  it('returns the value as it is, and marks a cancellable task running', async () => {
    const cancel = shared(1)
    expect(await runOffloaded(payload('fib', 10, cancel))).toBe(55)
    expect(Atomics.load(cancel, 0)).toBe(CancelState.running)
  })

  it('skips a task cancelled before it started', async () => {
    const cancel = shared(1)
    Atomics.store(cancel, 0, CancelState.cancelled)
    expect(await thrown(() => runOffloaded(payload('fib', 10, cancel)))).toEqual({ [TASK_FAILURE]: true, cancelled: true })
  })

  it('gives the task a ctx that sees the flag and throws an AbortError', async () => {
    const cancel = shared(1)
    const counter = shared(2)
    const running = runOffloaded(payload('countUntilCancelledAsync', { counter }, cancel)) as Promise<unknown>
    await untilChanged(counter, 0, 0)
    Atomics.store(cancel, 0, CancelState.cancelled)
    expect(await failure(running)).toMatchObject({ kind: 'error', name: 'AbortError', message: 'The offloaded task was cancelled' })
    expect(await runOffloaded(payload('reportCancelled', null))).toBe(false)
  })

  it('serializes an error with its name, stack, cloneable own properties and cause', async () => {
    const error = (await failure(() => runOffloaded(payload('failWithQuota')))) as SerializedError
    expect(error).toMatchObject({ kind: 'error', name: 'QuotaError', message: 'quota exceeded', props: { code: 'E_QUOTA', limit: 3 }, afterwork: false })
    expect(error.stack).toContain('failWithQuota')
    expect(error.cause).toMatchObject({ kind: 'error', name: 'TypeError', message: 'limit was 3' })
    const odd = (await failure(() => runOffloaded(payload('failWithUncloneable')))) as SerializedError
    expect(odd.props).toEqual({ status: 500 })
    expect(await failure(() => runOffloaded(payload('throwString')))).toEqual({ kind: 'value', value: 'plain string' })
    expect(await failure(() => runOffloaded(payload('throwFunction')))).toEqual({ kind: 'value', value: expect.stringMatching(/^function thrown\(/) })
  })

  it('marks AfterworkErrors, ERR_OFFLOAD_EXPORT among them', async () => {
    expect(await failure(() => runOffloaded(payload('nope')))).toMatchObject({ afterwork: true, props: { code: 'ERR_OFFLOAD_EXPORT' } })
  })

  it('retries a module whose import failed', async () => {
    const missing = { module: new URL('./fixtures/missing.ts', import.meta.url).href, exportName: 'fib', input: 1 }
    for (let i = 0; i < 2; i++) expect(await failure(() => runOffloaded(missing))).toMatchObject({ props: { code: 'ERR_MODULE_NOT_FOUND' } })
  })
})
