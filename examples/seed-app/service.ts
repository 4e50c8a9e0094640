import { createService, type Clock, type JobKind, type LifespanState, type Logger, type QueueDriver, type Service, type Task } from 'afterwork'
import { postgres } from 'afterwork/postgres'
import { sqlite } from 'afterwork/sqlite'
import { Agent } from 'undici'
import { MemoryCache, openRedisCache, type Cache } from './cache.js'
import { DevMailSink } from './mail.js'
import { cacheWarmer, registerSchedules } from './periodic.js'
import { ReportRequest, reportJob } from './reports.js'
import { WelcomeEmail, Users, sendWelcomeEmail, type SignupLogEntry } from './signup.js'

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
  /** Test hook: counts the report's CPU rounds (see heavy.ts). */
  reportCounter?: Int32Array
  /** The durable queue's store. @default SQLite at AFTERWORK_DB or data/afterwork.db */
  queue?: QueueDriver
  /** EMAIL_DELIVERY: `background` (the guide's BackgroundTasks) or `durable` (a retried task). @default 'background' */
  emailDelivery?: 'background' | 'durable'
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): SeedConfig {
  return {
    redisUrl: env.REDIS_URL || undefined,
    mailFailFirst: Number(env.MAIL_FAIL_FIRST ?? 0) || 0,
    scheduleTimezone: env.SCHEDULE_TZ || 'Asia/Kolkata',
    reportSeconds: env.REPORT_SECONDS === undefined ? 60 : Number(env.REPORT_SECONDS),
    emailDelivery: env.EMAIL_DELIVERY === 'durable' ? 'durable' : 'background',
    queue: queueFromEnv(env),
  }
}

/** PostgreSQL with DATABASE_URL (many machines), else the embedded SQLite file. */
function queueFromEnv(env: NodeJS.ProcessEnv): QueueDriver {
  if (env.DATABASE_URL) return postgres({ url: env.DATABASE_URL }) as QueueDriver
  return sqlite({ path: env.AFTERWORK_DB || 'data/afterwork.db' })
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

/** Offload threads load .ts modules only with tsx registered inside them (see tsx-in-thread.mjs). */
const offloadExecArgv = import.meta.url.endsWith('.ts') ? ['--import', new URL('./tsx-in-thread.mjs', import.meta.url).href] : []

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
    // The signup log and the dev outbox record the request id of the task's request.
    background: { requestContext: true },
    lifespan: seedLifespans(config),
    offload: { execArgv: offloadExecArgv },
    queue: config.queue ?? sqlite({ path: 'data/afterwork.db' }),
  })
  svc.healthCheck('cache', ({ state }) => state.cache.ping())
  svc.healthCheck('http', ({ state }) => !state.http.closed && !state.http.destroyed)
  registerSchedules(svc, config.scheduleTimezone ?? 'Asia/Kolkata')
  const reportOptions = { seconds: config.reportSeconds ?? 60, ...(config.reportCounter ? { counter: config.reportCounter } : {}) }
  // One handler, two ways to run it: in process (svc.jobs), or durable (svc.task) surviving restarts.
  const handler = reportJob(svc, reportOptions)
  const parts: SeedParts = {
    report: svc.jobs.define(handler, { concurrency: 4, maxQueued: 100 }),
    durableReport: svc.task('report', { schema: ReportRequest, retry: { attempts: 3 } }, handler),
    welcomeEmail: svc.task('send-welcome-email', { schema: WelcomeEmail, retry: { attempts: 5, backoff: { initial: '1s', max: '1m' } } }, async (msg) =>
      sendWelcomeEmail(svc.state.mail, msg.email, msg.name),
    ),
    emailDelivery: config.emailDelivery ?? 'background',
  }
  partsOf.set(svc, parts)
  svc.supervise('cache-warmer', cacheWarmer(svc, config.cacheWarmIntervalMs ?? 300_000), { backoff: { initial: '1s', max: '1m' } })
  return svc
}

/** The handles the endpoints use: the report kinds and the durable welcome email. */
export interface SeedParts {
  report: JobKind<ReportRequest, unknown>
  durableReport: Task<unknown, unknown>
  welcomeEmail: Task<{ email: string; name: string }, unknown>
  emailDelivery: 'background' | 'durable'
}

const partsOf = new WeakMap<SeedService, SeedParts>()

export function seedParts(svc: SeedService): SeedParts {
  return partsOf.get(svc) as SeedParts
}

/** The CLI (`afterwork worker`) loads this module's default export. */
export default createSeedService()
