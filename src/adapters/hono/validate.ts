import type { StandardSchemaV1 } from '@standard-schema/spec'
import type { Env, MiddlewareHandler, ValidationTargets } from 'hono'
import { validator } from 'hono/validator'
import { assertStandardSchema, validateWith } from '../../core/validate.js'

/**
 * Validates the request's `target` (`json` by default) against any Standard Schema (zod, valibot,
 * arktype). Handlers read the parsed value with `c.req.valid('json')`; an invalid one throws
 * `ValidationError`, which `afterworkErrors` answers with 422 and the fields that are wrong.
 *
 * @example
 * app.post('/signup', validate(z.object({ email: z.email() })), (c) => c.json(c.req.valid('json')))
 */
export function validate<
  S extends StandardSchemaV1,
  Target extends keyof ValidationTargets = 'json',
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Hono's own validators default these to any
  E extends Env = any,
  P extends string = string,
>(
  schema: S,
  target?: Target,
): MiddlewareHandler<
  E,
  P,
  {
    in: { [K in Target]: StandardSchemaV1.InferInput<S> }
    out: { [K in Target]: StandardSchemaV1.InferOutput<S> }
  }
> {
  assertStandardSchema(schema, 'validate(schema)')
  const where = target ?? 'json'
  const what = where === 'json' || where === 'form' ? 'request body' : `request ${where}`
  return validator(where, (value) => validateWith(schema, value, what)) as never
}
