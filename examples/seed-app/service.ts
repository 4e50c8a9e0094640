import { createService, type Clock, type LifespanState, type Logger, type Service } from 'afterwork'
import { Agent } from 'undici'
import { MemoryCache, openRedisCache, type Cache } from './cache.js'
import { DevMailSink } from './mail.js'
import { cacheWarmer, registerSchedules } from './periodic.js'
import { Users, type SignupLogEntry } from './signup.js'

/** What the reference service reads from its environment. */
export interface SeedConfig {
  /** REDIS_URL: the cache is Redis when set, else in memory. */
  redisUrl?: string | undefined
  /** MAIL_FAIL_FIRST: the dev mail sink fails its first n sends. */
  mailFailFirst?: number
  /** SCHEDULE_TZ: the time zone of the cron jobs. @default 'Asia/Kolkata' */
  scheduleTimezone?: string
  /** REPORT_SECONDS: how long a report takes. @default 60 */
  reportSeconds?: number
  /** How often the supervised cache warmer runs. @default 300000 (the guide's 5 minutes) */
  cacheWarmIntervalMs?: number
  logger?: Logger
  clock?: Clock
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): SeedConfig {
  return {
    redisUrl: env.REDIS_URL || undefined,
    mailFailFirst: Number(env.MAIL_FAIL_FIRST ?? 0) || 0,
    scheduleTimezone: env.SCHEDULE_TZ || 'Asia/Kolkata',
    reportSeconds: env.REPORT_SECONDS === undefined ? 60 : Number(env.REPORT_SECONDS),
  }
}

/**
 * The guide's lifespan: a pooled HTTP client and a cache, opened at startup and closed at shutdown
 * in reverse, plus the in-memory stand-ins for the mail server and databases.
 */
function seedLifespans(config: SeedConfig) {
  return [
    // The guide's httpx.AsyncClient: one pooled client for the whole process.
    async function* http() {
      const http = new Agent({ connections: 100, keepAliveTimeout: 30_000, connectTimeout: 5_000, bodyTimeout: 30_000 })
      try {
        yield { http }
      } finally {
        await http.close()
      }
    },
    async function* cache() {
      const cache: Cache = config.redisUrl ? await openRedisCache(config.redisUrl) : new MemoryCache()
      try {
        yield { cache }
      } finally {
        await cache.close()
      }
    },
    async function* app() {
      yield { mail: new DevMailSink({ failFirst: config.mailFailFirst ?? 0 }), users: new Users(), signups: [] as SignupLogEntry[] }
    },
  ]
}

export type SeedState = LifespanState<ReturnType<typeof seedLifespans>>
export type SeedService = Service<SeedState>

/**
 * The guide's service, end to end: lifespan, schedules and the supervised cache warmer. Creating it
 * starts nothing; `main.ts` serves it.
 */
export function createSeedService(config: SeedConfig = configFromEnv()): SeedService {
  const svc: SeedService = createService({
    name: 'seed-app',
    ...(config.logger ? { logger: config.logger } : {}),
    ...(config.clock ? { clock: config.clock } : {}),
    metrics: { processMetrics: true },
    lifespan: seedLifespans(config),
  })
  svc.healthCheck('cache', ({ state }) => state.cache.ping())
  svc.healthCheck('http', ({ state }) => !state.http.closed && !state.http.destroyed)
  registerSchedules(svc, config.scheduleTimezone ?? 'Asia/Kolkata')
  svc.supervise('cache-warmer', cacheWarmer(svc, config.cacheWarmIntervalMs ?? 300_000), { backoff: { initial: '1s', max: '1m' } })
  return svc
}

/** The CLI (`afterwork worker`) loads this module's default export. */
export default createSeedService()
