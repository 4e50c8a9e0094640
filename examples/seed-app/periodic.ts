import type { RunContext } from 'afterwork'
import type { SeedService } from './service.js'

/**
 * The guide's periodic jobs and APScheduler cron jobs. They receive the RunContext: `ctx.slot` is
 * the time they are for, `ctx.signal` aborts at shutdown, `ctx.log` tags logs with the schedule.
 */
export function registerSchedules(svc: SeedService, timezone: string): void {
  // The guide's periodic() helper: every 300 s and every 3600 s, measured from the plan (no drift).
  svc.every('300s', async function cleanupExpiredSessions(_: undefined, ctx: RunContext) {
    const removed = await svc.state.cache.purgeExpired()
    ctx.log.info({ removed }, 'expired sessions cleaned')
  })
  svc.every('3600s', async function refreshExchangeRates(_: undefined, ctx: RunContext) {
    // A real service would call a forex API through svc.state.http; the dev build derives rates locally.
    const rates = { USD: 1, EUR: 0.92, INR: 83.1, at: (ctx.slot as Date).toISOString() }
    await svc.state.cache.set('exchange_rates', JSON.stringify(rates), 3600)
    ctx.log.info({}, 'exchange rates refreshed')
  })
  svc.every('3600s', async function aggregateAnalytics(_: undefined, ctx: RunContext) {
    ctx.log.info({ signups: svc.state.signups.length }, 'hourly analytics aggregated')
  })

  // The guide's APScheduler cron jobs, in Asia/Kolkata by default (SCHEDULE_TZ overrides).
  svc.cron('0 9 * * *', async function dailyDigest(_: undefined, ctx: RunContext) {
    ctx.log.info({}, 'sending daily digest emails')
  }, { timezone })
  svc.cron('0 * * * *', async function hourlyCleanup(_: undefined, ctx: RunContext) {
    ctx.log.info({}, 'running hourly cleanup')
  }, { timezone })
  svc.cron('0 8 * * mon', async function weeklyReport(_: undefined, ctx: RunContext) {
    ctx.log.info({}, 'generating weekly report')
  }, { timezone })
}

/**
 * The guide's background_cache_warmer, run under the supervisor: it warms the cache every
 * `intervalMs` until its signal aborts; if it crashes it is restarted with backoff, and
 * /health/ready shows its state.
 */
export function cacheWarmer(svc: SeedService, intervalMs: number) {
  return async function cacheWarmer(_: undefined, ctx: RunContext): Promise<void> {
    for (;;) {
      await svc.state.cache.set('warm', new Date(svc.clock.now()).toISOString(), Math.ceil((2 * intervalMs) / 1000))
      ctx.log.debug({}, 'cache warmed')
      await svc.clock.sleep(intervalMs, ctx.signal)
    }
  }
}
