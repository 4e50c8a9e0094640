/**
 * Every error code the library throws, with a one-line summary. `docs/errors.md` lists each code
 * with its cause and fix; `errors.test.ts` fails when the two drift apart.
 */
export const errorCodes = {
  ERR_INVALID_OPTION: 'An option has a value the library cannot use.',
  ERR_INVALID_DURATION: 'A duration option is neither milliseconds nor a string like "5m".',
  ERR_SERVICE_NOT_STARTED: 'Service state was read before start() finished.',
  ERR_SERVICE_STOPPED: 'The service was used after stop().',
  ERR_LIFESPAN_STARTUP: 'A lifespan threw during startup; those started before it were torn down.',
  ERR_LIFESPAN_TIMEOUT: 'A lifespan did not reach its yield within the startup timeout.',
  ERR_LIFESPAN_NO_YIELD: 'A lifespan returned without yielding.',
  ERR_LIFESPAN_INVALID_STATE: 'A lifespan yielded something other than an object or undefined.',
  ERR_LIFESPAN_DUPLICATE: 'Two lifespans have the same name, or a state key is yielded twice.',
  ERR_BACKGROUND_FULL: 'Too many background tasks are pending; the request is answered 503.',
  ERR_BACKGROUND_CLOSED: 'A background task was added after the service drained its background tasks.',
  ERR_VALIDATION: 'Input failed its schema; `issues` says which field and why.',
  ERR_SHUTDOWN: 'Work was aborted because the service is shutting down.',
  ERR_TIMEOUT: 'An operation did not finish within its timeout.',
  ERR_INTERNAL: 'A handler threw something unexpected; the client gets 500 without details, the log gets the error.',
  ERR_HTTP: 'A framework HTTP error (malformed JSON, say) answered with its own status in the error shape.',
  ERR_NAME_REQUIRED: 'A job kind, schedule, task or supervised child was given an anonymous function and no name.',
  ERR_NAME_DUPLICATE: 'A job kind, schedule, task or supervisor has a name already used by another of its kind in the service, or a supervised child one used in its supervisor.',
  ERR_JOB_NOT_FOUND: 'No job has this id: it never existed here, or it finished longer ago than the retention time.',
  ERR_JOB_CANCELLED: 'The reason a cancelled job\'s signal carries when cancel() was given none.',
  ERR_JOB_FULL: 'Too many jobs of this kind are waiting for a concurrency slot.',
  ERR_SCHEDULE_INVALID_CRON: 'A cron expression cannot be parsed, or matches no date.',
  ERR_SCHEDULE_INVALID_TIMEZONE: 'A schedule names a time zone the runtime does not know.',
  ERR_SCHEDULE_NOT_FOUND: 'No schedule has this name.',
  ERR_SUPERVISOR_GAVE_UP: 'A supervised group failed more often than its intensity allows and was given up.',
  ERR_OFFLOAD_EXPORT: 'The offloaded module has no function under the export name given.',
  ERR_OFFLOAD_FULL: 'maxQueue offloaded tasks are already waiting for a thread.',
  ERR_OFFLOAD_CRASHED: 'The thread running an offloaded task died (an uncloneable result, process.exit, a native crash).',
  ERR_OFFLOAD_TERMINATED: 'An offloaded task ignored cancellation past the grace period; its thread was terminated.',
  ERR_QUEUE_UNKNOWN_TASK: 'A job was enqueued under a task name this service has not registered.',
  ERR_QUEUE_PAYLOAD: 'A payload is not JSON (a function, a BigInt, a cycle), fails its schema once stored as JSON (a Date), or is larger than 256 KiB.',
  ERR_QUEUE_WORKER_ID_IN_USE: 'The worker identity is held by a live process (its heartbeat is younger than the lease).',
  ERR_QUEUE_MIGRATION_PENDING: "The queue's schema needs migrations and the driver was told only to check (migrate: 'check').",
  ERR_QUEUE_NOT_CONFIGURED: 'A durable task was used on a service created without a queue driver.',
  ERR_JOB_INVALID_TRANSITION: 'A job was moved between two states the state table does not connect (a library bug).',
} as const

/** A stable error code: match on it, never on the message. */
export type ErrorCode = keyof typeof errorCodes

/** The base of every error the library throws. */
export class AfterworkError extends Error {
  override name = 'AfterworkError'
  readonly code: ErrorCode

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}

/** One reason an input failed its schema. `path` is dotted (`address.zip`, `items.0.sku`), `''` for the root. */
export interface ValidationIssue {
  path: string
  message: string
}

/** Input failed its schema. Adapters answer it with 422 and `{ error: { code, message, issues } }`. */
export class ValidationError extends AfterworkError {
  override name = 'ValidationError'
  readonly issues: readonly ValidationIssue[]

  constructor(issues: readonly ValidationIssue[], what = 'input') {
    const first = issues[0]
    const where = first ? (first.path === '' ? `${what}: ${first.message}` : `${first.path}: ${first.message}`) : what
    super('ERR_VALIDATION', `Invalid ${what}: ${where}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}`)
    this.issues = issues
  }
}

/** A lifespan failed during startup. `lifespan` names it; `cause` is what it threw. */
export class LifespanError extends AfterworkError {
  override name = 'LifespanError'
  readonly lifespan: string

  constructor(code: ErrorCode, lifespan: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
    this.lifespan = lifespan
  }
}

/** The reason given to every signal aborted because the service is shutting down. */
export class ShutdownError extends AfterworkError {
  override name = 'ShutdownError'

  constructor(message = 'The service is shutting down') {
    super('ERR_SHUTDOWN', message)
  }
}

/** True when `error` is an {@link AfterworkError}, optionally with the given code. */
export function isAfterworkError(error: unknown, code?: ErrorCode): error is AfterworkError {
  return error instanceof AfterworkError && (code === undefined || error.code === code)
}

/** Throws `ERR_INVALID_OPTION` naming the option and the bad value. */
export function invalidOption(option: string, value: unknown, expected: string): never {
  throw new AfterworkError('ERR_INVALID_OPTION', `${option} must be ${expected}; got ${describe(value)}`)
}

function describe(value: unknown): string {
  if (typeof value === 'function') return `a function ${value.name || '(anonymous)'}`
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/** The message of anything thrown, for logs and status payloads. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
