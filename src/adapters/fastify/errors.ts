import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { ValidationError, type ValidationIssue } from '../../core/errors.js'
import { answerError, answerNodeError } from '../error-response.js'
import { scopeOf } from '../request-scope.js'

type SchemaIssue = NonNullable<FastifyError['validation']>[number]

/**
 * The error handler the plugin installs (`errorHandler: false` leaves it out; a handler of your own
 * can call it): afterwork's one error shape, with Fastify's schema validation answered like every
 * other invalid input, 422 naming the fields, instead of Fastify's own 400; an error's own 4xx
 * status (malformed JSON, body too large) is kept; 503 when full or stopping; a bare 500 for the
 * unexpected, logged with the request id.
 */
export function afterworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const scope = scopeOf(request)
  const answer = error.validation ? answerError(validationError(error), scope) : answerNodeError(error, scope)
  void reply.code(answer.status).headers(answer.headers).send(answer.body)
}

function validationError(error: FastifyError): ValidationError {
  const issues = (error.validation ?? []).map((issue): ValidationIssue => ({ path: pathOf(issue), message: issue.message ?? 'is invalid' }))
  const context = error.validationContext ?? 'body'
  return new ValidationError(issues, context === 'body' ? 'request body' : `request ${context}`)
}

/** Ajv's JSON pointer as a dotted path; a missing property is named by its own path. */
function pathOf(issue: SchemaIssue): string {
  const segments = issue.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
  const missing = (issue.params as { missingProperty?: unknown }).missingProperty
  if (issue.keyword === 'required' && typeof missing === 'string') segments.push(missing)
  return segments.join('.')
}
