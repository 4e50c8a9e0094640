import type { StandardSchemaV1 } from '@standard-schema/spec'
import type { FastifyRequest, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault, RouteShorthandOptions } from 'fastify'
import { assertStandardSchema, validateWith } from '../../core/validate.js'

/** Route options whose `preHandler` validates the body; spread them to add options of your own. */
export type ValidatedRoute<S extends StandardSchemaV1> = RouteShorthandOptions<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  { Body: StandardSchemaV1.InferOutput<S> }
>

/**
 * Route options that validate `request.body` against any Standard Schema (zod, valibot, arktype) in
 * a `preHandler` and replace it with the schema's output, which also types `request.body` in the
 * handler. An invalid body is answered 422 naming the fields (by `afterworkErrors`).
 *
 * @example
 * app.post('/signup', validate(z.object({ email: z.email() })), async (request) => request.body.email)
 * app.post('/signup', { ...validate(Signup), bodyLimit: 4096 }, handler)
 */
export function validate<S extends StandardSchemaV1>(schema: S): ValidatedRoute<S> {
  assertStandardSchema(schema, 'validate(schema)')
  return {
    preHandler: async function validateBody(request: FastifyRequest) {
      request.body = await validateWith(schema, request.body, 'request body')
    },
  }
}
