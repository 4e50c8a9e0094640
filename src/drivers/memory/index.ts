export { memory } from './driver.js'
