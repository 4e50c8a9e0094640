import pg from 'pg'
import { afterAll, describe, it } from 'vitest'
import { runDriverConformance } from '../conformance/suite.js'
import { postgres } from './driver.js'

const url = process.env.AFTERWORK_TEST_PG_URL
const schemas = new Set<string>()
let next = 0
const prefix = `aw_test_${process.pid}_${Date.now().toString(36)}`

if (!url) {
  describe('QueueDriver conformance: postgres', () => {
    it.skip('skipped: AFTERWORK_TEST_PG_URL is not set', () => {})
  })
} else {
  afterAll(async () => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await client.end()
  })
  const keyed = new Map<string, string>()
  runDriverConformance('postgres', {
    async open(key) {
      let schema = key === undefined ? undefined : keyed.get(key)
      if (schema === undefined) {
        schema = `${prefix}_${next++}`
        if (key !== undefined) keyed.set(key, schema)
        schemas.add(schema)
      }
      // Test pools stay small: PostgreSQL allows 100 connections in all.
      const driver = postgres({ url, schema, max: 2 })
      await driver.migrate()
      return driver
    },
  })
}
