import { ServerResponse, type IncomingMessage, type OutgoingHttpHeader, type OutgoingHttpHeaders } from 'node:http'

const REQUEST_ID = 'x-request-id'

type HeadersArg = OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined

/**
 * The response class afterwork's `serve()` functions give `http.Server`: it echoes the request id by
 * adding `x-request-id` to the headers `writeHead()` is handed. The plain way, `setHeader()` before
 * the framework's `writeHead(status, headers)`, makes Node merge the two sets one `setHeader()` at a
 * time, validating each header twice; on Hono that was the largest single share of the middleware's
 * cost. A response from any other server keeps working: the adapters fall back to `setHeader()`
 * (see {@link echoRequestId}).
 */
export class AfterworkResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> {
  /** The id to echo, until the headers are written; unset when the handler named its own. */
  requestIdToEcho: string | undefined = undefined

  override writeHead(statusCode: number, statusMessage?: string, headers?: HeadersArg): this
  override writeHead(statusCode: number, headers?: HeadersArg): this
  override writeHead(statusCode: number, messageOrHeaders?: string | HeadersArg, headers?: HeadersArg): this {
    const id = this.requestIdToEcho
    if (id === undefined) return super.writeHead(statusCode, messageOrHeaders as string, headers)
    this.requestIdToEcho = undefined
    if (typeof messageOrHeaders === 'string') return super.writeHead(statusCode, messageOrHeaders, this.#withRequestId(headers, id))
    return super.writeHead(statusCode, this.#withRequestId(messageOrHeaders, id))
  }

  /** `headers` with the request id added, unless the handler already set one (here or by setHeader). */
  #withRequestId(headers: HeadersArg, id: string): HeadersArg {
    if (this.hasHeader(REQUEST_ID)) return headers
    if (headers === undefined || headers === null) return { 'x-request-id': id }
    if (Array.isArray(headers)) {
      // Raw [name, value, ...] pairs (or [[name, value], ...]): rare enough for the plain way.
      if (!rawHeadersName(headers)) this.setHeader(REQUEST_ID, id)
      return headers
    }
    for (const name in headers) if (name.length === 12 && name.toLowerCase() === REQUEST_ID) return headers
    // A copy: the framework may reuse the object it passed (a constant default headers object).
    // A literal key: a computed one makes V8 define it through the runtime, per request.
    return { ...headers, 'x-request-id': id }
  }
}

function rawHeadersName(headers: OutgoingHttpHeader[]): boolean {
  for (let i = 0; i < headers.length; i++) {
    const entry = headers[i]
    const name = Array.isArray(entry) ? entry[0] : i % 2 === 0 ? entry : undefined
    if (typeof name === 'string' && name.toLowerCase() === REQUEST_ID) return true
  }
  return false
}

/**
 * Echoes the request id in the response's `x-request-id` header: through `writeHead()` on an
 * {@link AfterworkResponse}, else with `setHeader()` now. A header the handler sets wins either way.
 */
export function echoRequestId(res: ServerResponse, requestId: string): void {
  if (res instanceof AfterworkResponse) res.requestIdToEcho = requestId
  else res.setHeader(REQUEST_ID, requestId)
}
