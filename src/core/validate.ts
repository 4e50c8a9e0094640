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
  let result = schema['~standard'].validate(value)
  if (result instanceof Promise) result = await result
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
