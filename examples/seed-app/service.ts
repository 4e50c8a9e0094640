import { createService, type Logger } from 'afterwork'
import { Agent } from 'undici'
import { MemoryCache, openRedisCache } from './cache.js'
import { DevMailSink } from './mail.js'
import { Users, type SignupLogEntry } from './signup.js'

/** What the reference service reads from its environment. */
export interface SeedConfig {
  /** REDIS_URL: the cache is Redis when set, else in memory. */
  redisUrl?: string | undefined
  /** MAIL_FAIL_FIRST: the dev mail sink fails its first n sends. */
  mailFailFirst?: number
  logger?: Logger
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): SeedConfig {
  return {
    redisUrl: env.REDIS_URL || undefined,
    mailFailFirst: Number(env.MAIL_FAIL_FIRST ?? 0) || 0,
  }
}

/**
 * The seed's service: its lifespan opens a pooled HTTP client and a cache and closes them at
 * shutdown, in reverse. Creating it starts nothing; `main.ts` serves it.
 */
export function createSeedService(config: SeedConfig = configFromEnv()) {
  const svc = createService({
    name: 'seed-app',
    ...(config.logger ? { logger: config.logger } : {}),
    metrics: { processMetrics: true },
    lifespan: [
      // The seed's httpx.AsyncClient: one pooled client for the whole process.
      async function* http() {
        const http = new Agent({ connections: 100, keepAliveTimeout: 30_000, connectTimeout: 5_000, bodyTimeout: 30_000 })
        try {
          yield { http }
        } finally {
          await http.close()
        }
      },
      async function* cache() {
        const cache = config.redisUrl ? await openRedisCache(config.redisUrl) : new MemoryCache()
        try {
          yield { cache }
        } finally {
          await cache.close()
        }
      },
      async function* app() {
        yield { mail: new DevMailSink({ failFirst: config.mailFailFirst ?? 0 }), users: new Users(), signups: [] as SignupLogEntry[] }
      },
    ],
  })
  svc.healthCheck('cache', ({ state }) => state.cache.ping())
  svc.healthCheck('http', ({ state }) => !state.http.closed && !state.http.destroyed)
  return svc
}

export type SeedService = ReturnType<typeof createSeedService>

/** The CLI (`afterwork worker`) loads this module's default export. */
export default createSeedService()
