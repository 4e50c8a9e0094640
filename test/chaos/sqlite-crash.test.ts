import { spawn, type ChildProcess } from 'node:child_process'
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createService, silentLogger } from 'afterwork'
import { sqlite } from 'afterwork/sqlite'
import { afterAll, describe, expect, it } from 'vitest'
import { crashTask } from '../fixtures/crash-service.js'
import { exitOf, hasExited, repoRoot } from '../process.js'

const JOBS = 5_000
const KILL_AT = [1_200, 2_400, 3_600]
/** Per kill, the jobs that may run again: the ones running (concurrency) plus one unflushed completion batch. */
const MAX_REPEATS_PER_KILL = 10 + 100

const dir = mkdtempSync(join(tmpdir(), 'afterwork-crash-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const db = join(dir, 'queue.db')
const logFile = join(dir, 'runs.log')

function startWorker(): ChildProcess {
  return spawn(process.execPath, ['--conditions=afterwork-source', '--import', 'tsx', 'src/cli.ts', 'worker', 'test/fixtures/crash-service.ts'], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', CRASH_DB: db, CRASH_LOG: logFile },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
}

const ends = () => (readFileSync(logFile, 'utf8').match(/^end /gm) ?? []).length
/** Real time, by necessity: this test kills real processes. Bounded by the test timeout. */
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('SQLite worker crash recovery', () => {
  it('loses nothing across three SIGKILLs; only jobs running or unflushed at a kill run twice', async () => {
    writeFileSync(logFile, '')
    const producer = createService({ logger: silentLogger, queue: sqlite({ path: db }), worker: false })
    const task = producer.task('crash', crashTask, async () => {})
    await producer.start()
    for (let i = 0; i < JOBS; i += 1_000) await task.enqueueMany(Array.from({ length: 1_000 }, (_, k) => ({ n: i + k })))

    let worker: ChildProcess | undefined
    let counts: (string | number)[][]
    try {
      for (const [k, threshold] of KILL_AT.entries()) {
        appendFileSync(logFile, `process ${k}\n`)
        worker = startWorker()
        const running = worker
        while (ends() < threshold) {
          if (hasExited(running)) throw new Error(`worker ${k} exited (${await exitOf(running)}) before it was killed`)
          await pause(10)
        }
        running.kill('SIGKILL')
        await exitOf(running)
      }
      appendFileSync(logFile, `process ${KILL_AT.length}\n`)
      const last = startWorker()
      worker = last
      const succeeded = async () => (await producer.queue.counts()).find((c) => c.state === 'succeeded')?.count ?? 0
      while ((await succeeded()) < JOBS) {
        if (hasExited(last)) throw new Error(`the last worker exited (${await exitOf(last)}) before the queue drained`)
        await pause(50)
      }
      last.kill('SIGTERM')
      expect(await exitOf(last)).toBe(0)
      counts = (await producer.queue.counts()).map((c) => [c.state, c.count])
    } finally {
      // Also when something above failed: a live worker would keep vitest from exiting and hide the error.
      worker?.kill('SIGKILL')
      await producer.stop()
    }
    expect(counts).toEqual([['succeeded', JOBS]])

    // Which process (segment of the log) ran each start.
    const starts = new Map<string, number[]>()
    let segment = -1
    for (const line of readFileSync(logFile, 'utf8').split('\n')) {
      if (line.startsWith('process ')) segment = Number(line.slice(8))
      else if (line.startsWith('start ')) starts.set(line.slice(6), [...(starts.get(line.slice(6)) ?? []), segment])
    }
    expect(starts.size).toBe(JOBS)
    const repeated = [...starts].filter(([, segments]) => segments.length > 1)
    const firstRunByKill = new Map<number, number>()
    for (const [, segments] of repeated) {
      // The earlier run was cut short by a kill: it never happens in the last, gracefully stopped process.
      expect(segments[0]).toBeLessThan(KILL_AT.length)
      firstRunByKill.set(segments[0] as number, (firstRunByKill.get(segments[0] as number) ?? 0) + 1)
    }
    for (const count of firstRunByKill.values()) expect(count).toBeLessThanOrEqual(MAX_REPEATS_PER_KILL)
    console.log(`crash test: ${repeated.length} job(s) ran twice across ${KILL_AT.length} kills: ${[...firstRunByKill.values()].join(', ')}`)
  }, 240_000)
})
