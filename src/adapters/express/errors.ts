import type { NextFunction, Request, Response } from 'express'
import { answerNodeError } from '../error-response.js'
import { scopeOf } from '../request-scope.js'

/**
 * `app.use(afterworkErrors)`, after every route: answers errors in the one shape every adapter uses
 * (422 with the fields for invalid input, 503 with Retry-After when full or stopping, an error's own
 * 4xx status such as body-parser's 400 for malformed JSON, and a bare 500 for the unexpected, which
 * is logged with the request id). After the headers went out it hands the error to Express, which
 * closes the connection.
 */
export function afterworkErrors(error: unknown, req: Request, res: Response, next: NextFunction): void {
  const answer = answerNodeError(error, scopeOf(req))
  if (res.headersSent) {
    next(error)
    return
  }
  res.status(answer.status).set(answer.headers).json(answer.body)
}
