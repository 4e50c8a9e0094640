import type { StandardSchemaV1 } from '@standard-schema/spec'
import { toMs, type Duration } from '../core/duration.js'
import { AfterworkError, invalidOption } from '../core/errors.js'
import type { RunContext } from '../core/run-context.js'
import { assertStandardSchema } from '../core/validate.js'
import { RetryPolicy, type RetryOptions } from './retry-policy.js'

/** How a durable task runs. The limits are enforced at claim time by the store, across all workers. */
export interface TaskOptions<S extends StandardSchemaV1> {
  /** Validates payloads at enqueue and again at claim (a claim-time failure fails the job without retry). */
  schema: S
  /** @default 'default' */
  queue?: string
  /** Higher runs first. @default 0 */
  priority?: number
  retry?: RetryOptions
  /** Aborts the attempt's signal after this long; the attempt fails and is retried by `retry`. @default none */
  timeout?: Duration
  /** A key per payload: while a live job holds it, enqueueing another with it is refused (`duplicate: true`). */
  unique?: (payload: StandardSchemaV1.InferOutput<S>) => string
  /** At most `limit` jobs start per `per`, across all workers; `key` splits the limit per payload. @default key: the task name */
  rateLimit?: { limit: number; per: Duration; key?: (payload: StandardSchemaV1.InferOutput<S>) => string }
  /** At most `concurrency` jobs with the same key run at once, across all workers. */
  concurrencyKey?: (payload: StandardSchemaV1.InferOutput<S>) => string
  /** With `concurrencyKey`: how many per key. @default 1 */
  concurrency?: number
}

/** Returned by a handler to run the job again later without counting an attempt. */
export interface Snooze {
  readonly afterworkSnooze: number
}

/** Returned by a handler to end the job as `cancelled` (not failed, not retried). */
export interface CancelJob {
  readonly afterworkCancel: string
}

/** Ends an attempt and runs the job again after `delay`, without counting the attempt. */
export function snooze(delay: Duration): Snooze {
  return { afterworkSnooze: toMs(delay, 'snooze(delay)') }
}

/** Ends the job as cancelled, with a reason. */
export function cancelJob(reason = 'cancelled by its handler'): CancelJob {
  return { afterworkCancel: reason }
}

export type TaskHandler<S extends StandardSchemaV1, R> = (
  payload: StandardSchemaV1.InferOutput<S>,
  ctx: RunContext,
) => R | Snooze | CancelJob | Promise<R | Snooze | CancelJob>

/** A registered task, as the worker and the client see it. */
export interface TaskDefinition {
  name: string
  queue: string
  priority: number
  schema: StandardSchemaV1
  retry: RetryPolicy
  timeoutMs: number | undefined
  unique: ((payload: unknown) => string) | undefined
  rateLimit: { limit: number; perMs: number; key: ((payload: unknown) => string) | undefined } | undefined
  concurrencyKey: ((payload: unknown) => string) | undefined
  concurrency: number
  handler: (payload: unknown, ctx: RunContext) => unknown
}

const NAME = /^[\w.:-]{1,128}$/

/** Checks a task's options and builds its definition. */
export function defineTask<S extends StandardSchemaV1, R>(name: string, opts: TaskOptions<S>, handler: TaskHandler<S, R>): TaskDefinition {
  if (typeof name !== 'string' || !NAME.test(name)) invalidOption('task name', name, '1-128 letters, digits, _ . : or -')
  const where = `task("${name}")`
  if (typeof opts !== 'object' || opts === null) invalidOption(`${where} options`, opts, 'an object with a schema')
  assertStandardSchema(opts.schema, `${where}.schema`)
  if (typeof handler !== 'function') invalidOption(`${where} handler`, handler, 'a function')
  const queue = opts.queue ?? 'default'
  if (!NAME.test(queue)) invalidOption(`${where}.queue`, queue, '1-128 letters, digits, _ . : or -')
  const priority = opts.priority ?? 0
  if (!Number.isInteger(priority)) invalidOption(`${where}.priority`, priority, 'an integer')
  let rateLimit: TaskDefinition['rateLimit']
  if (opts.rateLimit) {
    if (!Number.isInteger(opts.rateLimit.limit) || opts.rateLimit.limit < 1) invalidOption(`${where}.rateLimit.limit`, opts.rateLimit.limit, 'an integer >= 1')
    rateLimit = {
      limit: opts.rateLimit.limit,
      perMs: toMs(opts.rateLimit.per, `${where}.rateLimit.per`),
      key: opts.rateLimit.key as ((payload: unknown) => string) | undefined,
    }
  }
  const concurrency = opts.concurrency ?? 1
  if (!Number.isInteger(concurrency) || concurrency < 1) invalidOption(`${where}.concurrency`, concurrency, 'an integer >= 1')
  return {
    name,
    queue,
    priority,
    schema: opts.schema,
    retry: new RetryPolicy(opts.retry, `${where}.retry`),
    timeoutMs: opts.timeout === undefined ? undefined : toMs(opts.timeout, `${where}.timeout`),
    unique: opts.unique as ((payload: unknown) => string) | undefined,
    rateLimit,
    concurrencyKey: opts.concurrencyKey as ((payload: unknown) => string) | undefined,
    concurrency,
    handler: handler as (payload: unknown, ctx: RunContext) => unknown,
  }
}

/** The largest payload, as JSON text. */
export const MAX_PAYLOAD_BYTES = 256 * 1024

/** JSON text of a payload, or ERR_QUEUE_PAYLOAD saying why it cannot be stored. */
export function payloadJson(task: string, payload: unknown): string {
  let text: string | undefined
  try {
    text = JSON.stringify(payload)
  } catch (error) {
    throw new AfterworkError('ERR_QUEUE_PAYLOAD', `The payload of "${task}" is not JSON: ${(error as Error).message}`, { cause: error })
  }
  if (text === undefined) throw new AfterworkError('ERR_QUEUE_PAYLOAD', `The payload of "${task}" is not JSON (got ${typeof payload})`)
  const bytes = Buffer.byteLength(text)
  if (bytes > MAX_PAYLOAD_BYTES) {
    throw new AfterworkError('ERR_QUEUE_PAYLOAD', `The payload of "${task}" is ${bytes} bytes of JSON; the limit is ${MAX_PAYLOAD_BYTES} (256 KiB)`)
  }
  return text
}

/**
 * True when `value` comes back from its JSON unchanged: plain objects and arrays of strings, finite
 * numbers, booleans and null. Then the schema's check of the payload as given also holds for what
 * the worker will read back, and enqueue skips a second one. (A Date, a Map, a class instance,
 * undefined, NaN or a function would come back different, or not at all.)
 */
export function survivesJson(value: unknown): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true
    case 'number':
      return Number.isFinite(value)
    case 'object': {
      if (value === null) return true
      if (Array.isArray(value)) {
        for (const item of value) if (!survivesJson(item)) return false
        return true
      }
      const proto: unknown = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) return false
      for (const key in value) if (!survivesJson((value as Record<string, unknown>)[key])) return false
      return true
    }
    default:
      return false
  }
}

export function isSnooze(value: unknown): value is Snooze {
  return typeof value === 'object' && value !== null && typeof (value as Snooze).afterworkSnooze === 'number'
}

export function isCancelJob(value: unknown): value is CancelJob {
  return typeof value === 'object' && value !== null && typeof (value as CancelJob).afterworkCancel === 'string'
}
