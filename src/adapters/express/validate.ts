import type { StandardSchemaV1 } from '@standard-schema/spec'
import type { RequestHandler } from 'express'
import { assertStandardSchema, validateWith } from '../../core/validate.js'

/**
 * Validates `req.body` (parsed by `express.json()`) against any Standard Schema (zod, valibot,
 * arktype) and replaces it with the schema's output, which types `req.body` in the handlers after
 * it. An invalid body goes to `afterworkErrors` as a `ValidationError`: 422 naming the fields.
 *
 * @example
 * app.post('/signup', validate(z.object({ email: z.email() })), (req, res) => res.json(req.body))
 */
export function validate<S extends StandardSchemaV1>(
  schema: S,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Express's own default for the response body
): RequestHandler<Record<string, string>, any, StandardSchemaV1.InferOutput<S>> {
  assertStandardSchema(schema, 'validate(schema)')
  return function validateBody(req, _res, next) {
    validateWith(schema, req.body, 'request body').then((value) => {
      req.body = value
      next()
    }, next)
  }
}
