import { AfterworkError, ValidationError, type ValidationIssue } from '../core/errors.js'

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
