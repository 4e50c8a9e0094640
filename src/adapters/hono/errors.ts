import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { ValidationError } from '../../core/errors.js'
import { errorAnswer } from '../error-response.js'
import type { RequestScope } from './middleware.js'

/**
 * `app.onError(afterworkErrors)`: answers afterwork's errors in the one shape every adapter uses
 * (422 with the fields for invalid input, 503 with Retry-After when full or stopping, a bare 500
 * for the unexpected, which is logged with the request id). In Hono a handler's error never reaches
 * a middleware's `await next()`, so this has to be the app's error handler.
 */
export function afterworkErrors(error: Error, c: Context): Response {
  const scope = c.get('afterwork') as RequestScope | undefined
  const requestId = scope?.requestId
  if (error instanceof HTTPException) {
    if (scope && error.status >= 500) scope.threw = true
    if (error.res) return error.getResponse()
    return c.json(
      { error: { code: 'ERR_HTTP', message: error.message || 'HTTP error', ...(requestId === undefined ? {} : { requestId }) } },
      error.status as ContentfulStatusCode,
    )
  }
  const answer = errorAnswer(error, requestId)
  if (!(error instanceof ValidationError) && scope) scope.threw = true
  if (answer.status === 500) {
    if (scope) scope.service.log.error({ err: error, requestId }, 'request failed')
    else console.error('afterwork: request failed (the afterwork middleware did not run)', error)
  }
  return c.json(answer.body, answer.status as ContentfulStatusCode, answer.headers)
}
