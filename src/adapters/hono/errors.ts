import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { answerError, answerHttpError } from '../error-response.js'
import { scopeOf } from '../request-scope.js'

/**
 * `app.onError(afterworkErrors)`: answers afterwork's errors in the one shape every adapter uses
 * (422 with the fields for invalid input, 503 with Retry-After when full or stopping, a bare 500
 * for the unexpected, which is logged with the request id). In Hono a handler's error never reaches
 * a middleware's `await next()`, so this has to be the app's error handler.
 */
export function afterworkErrors(error: Error, c: Context): Response {
  // The middleware's, or the one serve() or the test client hands the app in c.env.
  const scope = scopeOf(c) ?? (c.env ? scopeOf(c.env as object) : undefined)
  if (error instanceof HTTPException) {
    if (error.res) {
      if (scope && error.status >= 500) scope.threw = true
      return error.getResponse()
    }
    const answer = answerHttpError(error.status, error.message || 'HTTP error', scope)
    return c.json(answer.body, answer.status as ContentfulStatusCode)
  }
  const answer = answerError(error, scope)
  return c.json(answer.body, answer.status as ContentfulStatusCode, answer.headers)
}
