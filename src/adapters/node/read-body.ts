import type { IncomingMessage } from 'node:http'
import type { StandardSchemaV1 } from '@standard-schema/spec'
import { assertStandardSchema, validateWith } from '../../core/validate.js'
import { httpError } from '../error-response.js'

export interface ReadBodyOptions {
  /** The largest body accepted, in bytes; a larger one is answered 413. @default 1048576 (1 MiB) */
  limit?: number
}

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i

/**
 * Reads a JSON request body and validates it against any Standard Schema (zod, valibot, arktype).
 * Throws errors that a handler wrapped by `withAfterwork` answers: 415 for a body that is not JSON,
 * 413 past `limit`, 400 for malformed JSON, and `ValidationError` (422 naming the fields) for a
 * body the schema refuses.
 *
 * @example
 * const body = await readBody(req, z.object({ email: z.email() }))
 */
export async function readBody<S extends StandardSchemaV1>(
  req: IncomingMessage,
  schema: S,
  opts: ReadBodyOptions = {},
): Promise<StandardSchemaV1.InferOutput<S>> {
  assertStandardSchema(schema, 'readBody(req, schema)')
  const limit = opts.limit ?? 1_048_576
  if (!JSON_TYPE.test(req.headers['content-type'] ?? '')) throw httpError(415, 'Expected a JSON body (content-type: application/json)')
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) throw httpError(413, `Request body larger than ${limit} bytes`)
    chunks.push(chunk)
  }
  let value: unknown
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw httpError(400, 'Malformed JSON body')
  }
  return validateWith(schema, value, 'request body')
}
