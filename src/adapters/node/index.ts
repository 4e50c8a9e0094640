export { serveHttp } from './serve-http.js'
export type { HttpHandle, ServeHttpOptions } from './serve-http.js'
export { errorAnswer } from '../error-response.js'
export type { ErrorAnswer, ErrorBody } from '../error-response.js'
