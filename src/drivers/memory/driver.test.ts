import type { QueueDriver } from '../../queue/driver.js'
import { runDriverConformance } from '../conformance/suite.js'
import { memory } from './driver.js'

const stores = new Map<string, QueueDriver>()

runDriverConformance('memory', {
  // One memory driver is one store: "another connection" to it is the same instance.
  async open(key) {
    if (key === undefined) return memory()
    let store = stores.get(key)
    if (!store) stores.set(key, (store = memory()))
    return store
  },
})
