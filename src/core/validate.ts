import type { StandardSchemaV1 } from '@standard-schema/spec'
import { ValidationError, invalidOption, type ValidationIssue } from './errors.js'

/**
 * Validates `value` against any Standard Schema (zod 3.24+, valibot, arktype) and returns the
 * schema's output. Throws {@link ValidationError} whose issues name each bad field by dotted path.
 */
export async function validateWith<S extends StandardSchemaV1>(
  schema: S,
  value: unknown,
  what = 'input',
): Promise<StandardSchemaV1.InferOutput<S>> {
  return validateNow(schema, value, what)
}

/**
 * {@link validateWith} without a promise when the schema validates synchronously (most do): the
 * worker validates every job's payload, and a promise and a microtask per job show in its profile.
 */
export function validateNow<S extends StandardSchemaV1>(
  schema: S,
  value: unknown,
  what = 'input',
): StandardSchemaV1.InferOutput<S> | Promise<StandardSchemaV1.InferOutput<S>> {
  const result = schema['~standard'].validate(value)
  if (result instanceof Promise) return result.then((settled) => valueOf(settled, what))
  return valueOf(result, what)
}

function valueOf<T>(result: StandardSchemaV1.Result<T>, what: string): T {
  if (result.issues) throw new ValidationError(result.issues.map(toIssue), what)
  return result.value
}

/** Throws ERR_INVALID_OPTION unless `schema` is a Standard Schema. */
export function assertStandardSchema(schema: unknown, option: string): asserts schema is StandardSchemaV1 {
  const standard = (schema as { '~standard'?: { validate?: unknown } } | null)?.['~standard']
  if (typeof standard?.validate !== 'function') invalidOption(option, schema, 'a Standard Schema (zod 3.24+, valibot, arktype)')
}

function toIssue(issue: StandardSchemaV1.Issue): ValidationIssue {
  const path = (issue.path ?? []).map((segment) => String(typeof segment === 'object' ? segment.key : segment)).join('.')
  return { path, message: issue.message }
}
