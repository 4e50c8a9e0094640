import { STATUS_CODES } from 'node:http'
import { AfterworkError, ValidationError, type ValidationIssue } from '../core/errors.js'
import type { RequestScope } from './request-scope.js'

/** The JSON body every adapter answers an error with. */
export interface ErrorBody {
  error: {
    code: string
    message: string
    issues?: readonly ValidationIssue[]
    requestId?: string
  }
}

export interface ErrorAnswer {
  status: number
  headers: Record<string, string>
  body: ErrorBody
}

/**
 * Maps an error a handler threw to the answer every adapter gives: 422 for invalid input (naming the
 * fields), 503 with Retry-After when the service is full, starting or stopping, and a bare 500 for
 * anything unexpected (whose details belong in the log, not the response).
 */
export function errorAnswer(error: unknown, requestId?: string): ErrorAnswer {
  const withId = requestId === undefined ? {} : { requestId }
  if (error instanceof ValidationError) {
    return { status: 422, headers: {}, body: { error: { code: error.code, message: error.message, issues: error.issues, ...withId } } }
  }
  if (error instanceof AfterworkError) {
    switch (error.code) {
      case 'ERR_JOB_NOT_FOUND':
      case 'ERR_SCHEDULE_NOT_FOUND':
        return { status: 404, headers: {}, body: { error: { code: error.code, message: error.message, ...withId } } }
      case 'ERR_JOB_FULL':
      case 'ERR_OFFLOAD_FULL':
      case 'ERR_BACKGROUND_FULL':
      case 'ERR_BACKGROUND_CLOSED':
      case 'ERR_SERVICE_NOT_STARTED':
      case 'ERR_SERVICE_STOPPED':
        return { status: 503, headers: { 'retry-after': '1' }, body: { error: { code: error.code, message: error.message, ...withId } } }
      default:
        break
    }
  }
  return { status: 500, headers: {}, body: { error: { code: 'ERR_INTERNAL', message: 'Internal Server Error', ...withId } } }
}

/**
 * The one error path of every adapter: maps `error` with {@link errorAnswer}, counts it as an error
 * when the answer is 5xx (a 404 or 422 is the client's mistake, as for thrown HTTP errors), and logs the unexpected ones
 * (the bare 500s) with the request id through the service's logger.
 */
export function answerError(error: unknown, scope: RequestScope | undefined): ErrorAnswer {
  const answer = errorAnswer(error, scope?.requestId)
  if (scope && answer.status >= 500) scope.threw = true
  if (answer.status === 500) {
    if (scope) scope.service.log.error({ err: error, requestId: scope.requestId }, 'request failed')
    else console.error('afterwork: request failed (the afterwork middleware did not run)', error)
  }
  return answer
}

/**
 * The answer to an error that carries its own HTTP status (Hono's HTTPException, http-errors,
 * Fastify's errors): that status, in the shape of every other error. A 5xx counts as an error.
 */
export function answerHttpError(status: number, message: string, scope: RequestScope | undefined): ErrorAnswer {
  if (scope && status >= 500) scope.threw = true
  const withId = scope === undefined ? {} : { requestId: scope.requestId }
  return { status, headers: {}, body: { error: { code: 'ERR_HTTP', message, ...withId } } }
}

/**
 * The status an error asks for in the Node convention (`status` or `statusCode`, as http-errors,
 * body-parser and Fastify set them), when it is an error status; else undefined.
 */
function httpStatusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const { status, statusCode } = error as { status?: unknown; statusCode?: unknown }
  const value = typeof statusCode === 'number' ? statusCode : status
  return typeof value === 'number' && Number.isInteger(value) && value >= 400 && value <= 599 ? value : undefined
}

/**
 * Answers an error thrown by a handler of a Node-convention framework (Express, Fastify, a bare
 * listener): an error with its own 4xx/5xx status keeps it (its message is shown below 500, the
 * status text above), anything else goes through {@link answerError}.
 */
export function answerNodeError(error: unknown, scope: RequestScope | undefined): ErrorAnswer {
  const status = httpStatusOf(error)
  if (status === undefined) return answerError(error, scope)
  const message = status < 500 && error instanceof Error && error.message !== '' ? error.message : (STATUS_CODES[status] ?? 'HTTP error')
  return answerHttpError(status, message, scope)
}

/** An error in the Node convention (`status`, `expose`) that {@link answerNodeError} answers with `status`. */
export function httpError(status: number, message: string): Error & { status: number; expose: boolean } {
  return Object.assign(new Error(message), { status, expose: status < 500 })
}
