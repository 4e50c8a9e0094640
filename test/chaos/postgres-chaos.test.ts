import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createService, silentLogger } from 'afterwork'
import { postgres } from 'afterwork/postgres'
import { afterAll, describe, expect, it } from 'vitest'
import { chaosTask } from '../fixtures/chaos-task.js'
import { exitOf, hasExited, repoRoot } from '../process.js'

// Its own PostgreSQL cluster, so restarting it disturbs no other suite. Root may create one.
const VERSION = '15'
const CLUSTER = 'chaos'
const PORT = 55432
const url = `postgres://postgres@127.0.0.1:${PORT}/postgres`
const canRun = Boolean(process.env.AFTERWORK_TEST_PG_URL) && process.getuid?.() === 0
const JOBS = Number(process.env.CHAOS_JOBS ?? 10_000)
/** When, as a share of the jobs succeeded, a worker is SIGKILLed (and replaced), and when the database restarts. */
const KILL_AT = [0.1, 0.3, 0.55, 0.75]
const RESTART_AT = 0.4
/** Per event (kill or database restart): what may run again is what was running, plus one unflushed batch, per worker. */
const MAX_REPEATS_PER_EVENT = 3 * (10 + 100)

const dir = mkdtempSync(join(tmpdir(), 'afterwork-chaos-'))
/** Runs pg_ctlcluster; on failure the error carries its output, so a red run says why. */
const cluster = (...args: string[]) => {
  try {
    execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', VERSION, CLUSTER, ...args], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' })
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string }
    throw new Error(`pg_ctlcluster ${args.join(' ')} failed: ${String(stderr ?? '')}${String(stdout ?? '')}`.trim(), { cause: error })
  }
}
/** Real time, by necessity: the test kills processes and restarts a database. */
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe.skipIf(!canRun)('PostgreSQL chaos', () => {
  afterAll(() => {
    try {
      execFileSync('pg_dropcluster', ['--stop', VERSION, CLUSTER], { stdio: 'ignore' })
    } catch {
      // Already gone.
    }
    rmSync(dir, { recursive: true, force: true })
  })

  it('drains 10,000 jobs through four SIGKILLs of its workers and a database restart, losing nothing', async () => {
    try {
      execFileSync('pg_dropcluster', ['--stop', VERSION, CLUSTER], { stdio: 'ignore' })
    } catch {
      // No leftover cluster.
    }
    execFileSync('pg_createcluster', [VERSION, CLUSTER, '--port', String(PORT), '--', '--auth=trust'], { stdio: 'ignore' })
    cluster('start')

    const producer = createService({ logger: silentLogger, queue: postgres({ url, schema: 'chaos', max: 2 }), worker: false })
    const task = producer.task('chaos', chaosTask, async () => {})
    await producer.start()

    let segment = 0
    const logs: string[] = []
    const start = (): ChildProcess => {
      const log = join(dir, `worker-${segment++}.log`)
      writeFileSync(log, '')
      logs.push(log)
      return spawn(process.execPath, ['--conditions=afterwork-source', '--import', 'tsx', 'src/cli.ts', 'worker', 'test/fixtures/chaos-service.ts'], {
        cwd: repoRoot,
        env: { PATH: process.env.PATH ?? '', PG_URL: url, CHAOS_LOG: log },
        stdio: ['ignore', 'ignore', 'inherit'],
      })
    }
    const succeeded = async () => {
      try {
        return (await producer.queue.counts()).find((c) => c.state === 'succeeded')?.count ?? 0
      } catch {
        return 0 // the database is restarting
      }
    }

    const workers: ChildProcess[] = []
    let kills = 0
    let restarted = false
    let counts: (string | number)[][]
    try {
      for (let i = 0; i < JOBS; i += 1_000) await task.enqueueMany(Array.from({ length: Math.min(1_000, JOBS - i) }, (_, k) => ({ n: i + k })))
      workers.push(start(), start(), start())
      // The events follow the drain's progress, not the clock: on a fast machine the queue drains in
      // a couple of seconds, and every kill and the restart must still land while work is left.
      const killAt = KILL_AT.map((share) => share * JOBS)
      const deadline = Date.now() + 240_000
      let done = 0
      while (done < JOBS && Date.now() < deadline) {
        await pause(50)
        done = Math.max(done, await succeeded())
        // A worker started while the database restarts gives up and exits: its supervisor starts another.
        for (const [i, w] of workers.entries()) if (hasExited(w)) workers[i] = start()
        if (done >= JOBS) break
        if (kills < killAt.length && done >= (killAt[kills] as number)) {
          // One worker dies without warning and a new one takes its place.
          const victim = workers.shift() as ChildProcess
          victim.kill('SIGKILL')
          await exitOf(victim)
          workers.push(start())
          kills++
        }
        if (!restarted && done >= RESTART_AT * JOBS) {
          cluster('restart')
          restarted = true
        }
      }
      for (const w of workers) w.kill('SIGTERM')
      await Promise.all(workers.map(exitOf))
      counts = (await producer.queue.counts()).map((c) => [c.state, c.count])
    } finally {
      // Also when something above failed: a live worker or pool would keep vitest from exiting and hide the error.
      for (const w of workers) w.kill('SIGKILL')
      await producer.stop()
    }
    expect({ kills, restarted, counts }).toEqual({ kills: KILL_AT.length, restarted: true, counts: [['succeeded', JOBS]] })
    const events = kills + 1

    const runs = new Map<string, number>()
    for (const log of logs) {
      for (const line of readFileSync(log, 'utf8').split('\n')) if (line.startsWith('start ')) runs.set(line.slice(6), (runs.get(line.slice(6)) ?? 0) + 1)
    }
    expect(runs.size).toBe(JOBS)
    const repeated = [...runs.values()].filter((n) => n > 1).length
    expect(repeated).toBeLessThanOrEqual(events * MAX_REPEATS_PER_EVENT)
    console.log(`postgres chaos: ${JOBS} jobs, ${events} kills and restarts, ${repeated} ran more than once`)
  }, 300_000)
})
