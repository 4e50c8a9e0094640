import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll } from 'vitest'
import { uuidv7 } from '../../core/ids.js'
import { runDriverConformance } from '../conformance/suite.js'
import { sqlite } from './driver.js'

const dir = mkdtempSync(join(tmpdir(), 'afterwork-sqlite-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const pathOf = (key: string) => join(dir, `${key}.db`)

runDriverConformance('sqlite', {
  async open(key = uuidv7(Date.now())) {
    const driver = sqlite({ path: pathOf(key) })
    await driver.migrate()
    return driver
  },
  thread: (key) => ({ module: new URL('./driver.ts', import.meta.url).href, factory: 'sqlite', options: { path: pathOf(key) } }),
})
