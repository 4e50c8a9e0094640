import { createRequire } from 'node:module'
import { expect, it } from 'vitest'
import { silentLogger } from './core/logger.js'
import { createService } from './service.js'

const requireModule = createRequire(import.meta.url)

it('loads prom-client with the first scrape, not with the service', async () => {
  const promClient = requireModule.resolve('prom-client')
  const svc = createService({ logger: silentLogger })
  await svc.start()
  expect(requireModule.cache[promClient]).toBeUndefined()
  expect(await svc.metrics.prometheus()).toContain('afterwork_service_ready 1')
  expect(requireModule.cache[promClient]).toBeDefined()
  await svc.stop()
})
