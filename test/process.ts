// Helpers for end-to-end tests that run the reference service as a real process.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'

export const repoRoot = fileURLToPath(new URL('..', import.meta.url))

export interface Running {
  child: ChildProcess
  /** The server's own pid, from its log: under `npm start`, `child` is npm, which forwards signals but not SIGKILL. */
  pid: number
  url: string
  /** Every stdout line so far (pino JSON lines). */
  lines: string[]
  /** Resolves with the exit code (or the signal name) when the process ends. */
  exited: Promise<number | string>
}

/** Whether a child process has ended (by itself, or by a signal). */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null
}

/** Resolves with the child's exit code (or its signal's name) once it has ended, also if it already has. */
export function exitOf(child: ChildProcess): Promise<number | string> {
  if (hasExited(child)) return Promise.resolve(child.exitCode ?? (child.signalCode as string))
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')))
}

/** What a finished command printed, and its exit code (1 when it was killed or did not start). */
export interface Executed {
  code: number
  stdout: string
  stderr: string
}

/** Runs `command` to its end; never rejects, so a test asserts on the code and the output. */
export function execute(command: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Executed> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs ?? 90_000, maxBuffer: 32 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
      resolve({ code, stdout, stderr: error && !stderr ? String(error) : stderr })
    })
  })
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = (probe.address() as AddressInfo)
      probe.close(() => resolve(port))
    })
  })
}

/**
 * Spawns `command` with exactly `env` (plus PATH and HOME), and resolves once a log line says
 * "listening", or rejects with the output if the process exits first.
 */
export function spawnServer(command: string, args: string[], env: Record<string, string>): Promise<Running> {
  const child = spawn(command, args, {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: string[] = []
  let stderr = ''
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')))
  return new Promise((resolve, reject) => {
    let buffer = ''
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk
      let nl: number
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        lines.push(line)
        if (line.includes('"msg":"listening"')) {
          const { url, pid } = JSON.parse(line) as { url: string; pid: number }
          resolve({ child, pid, url, lines, exited })
        }
      }
    })
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    void exited.then((code) => reject(new Error(`server exited (${code}) before listening:\n${lines.join('\n')}\n${stderr}`)))
  })
}

/** Resolves once a stdout line matching `pattern` has been seen. */
export async function waitForLine(running: Running, pattern: RegExp): Promise<string> {
  for (;;) {
    const found = running.lines.find((l) => pattern.test(l))
    if (found) return found
    await new Promise<void>((resolve) => running.child.stdout?.once('data', () => resolve()))
  }
}
