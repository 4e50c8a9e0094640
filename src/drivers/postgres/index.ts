export { postgres } from './driver.js'
export type { PostgresOptions, Queryable } from './driver.js'
