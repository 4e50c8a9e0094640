import { AfterworkError } from './errors.js'
import type { Logger } from './logger.js'

/**
 * What every runnable receives as its second argument: an in-process job, a schedule run, a
 * supervised child and (later) a durable task. One signature, so work can graduate from one to the
 * other without a rewrite.
 */
export interface RunContext {
  /** The run's id: a job id, or `<schedule>@<slot>`. Use it as the idempotency key. */
  id: string
  /** Aborted on cancel, timeout or shutdown. Long work must check it or pass it down. */
  signal: AbortSignal
  /** 1 on the first attempt; a restart or retry counts up. */
  attempt: number
  /** Reports progress: `fraction` from 0 to 1, and an optional message. */
  progress(fraction: number, message?: string): void
  /** A logger bound to this run. */
  log: Logger
  /** For schedule runs: the nominal slot this run is for (apart from jitter and lateness). */
  slot?: Date
  /** For schedule runs: how late the run started, in milliseconds after its slot. */
  late?: number
}

/** A runnable: an input and a {@link RunContext} in, anything out. */
export type Runnable<I = unknown, R = unknown> = (input: I, ctx: RunContext) => R | Promise<R>

/** Names a runnable: the explicit name, else the function's name, else it refuses (ERR_NAME_REQUIRED). */
export function nameOf(fn: object, explicit: string | undefined, what: string): string {
  const name = explicit ?? (fn as { name?: unknown }).name
  if (typeof name === 'string' && name.length > 0) return name
  return requireName(what)
}

function requireName(what: string): never {
  throw new AfterworkError('ERR_NAME_REQUIRED', `${what} needs a name: pass a named function or a name`)
}

/** A plain error record for status payloads and logs. */
export interface ErrorInfo {
  name: string
  message: string
  code?: string
  stack?: string
}

export function toErrorInfo(error: unknown): ErrorInfo {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code
    return {
      name: error.name,
      message: error.message,
      ...(typeof code === 'string' ? { code } : {}),
      ...(error.stack ? { stack: error.stack } : {}),
    }
  }
  return { name: 'Error', message: String(error) }
}
