export { sqlite } from './driver.js'
export type { SqliteOptions } from './driver.js'
