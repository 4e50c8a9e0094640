import type { Logger } from '../../core/logger.js'

/**
 * Runs `stop` on the first SIGTERM or SIGINT and exits at once (code 1) on a second one, or on a
 * first one that arrives while `alreadyStopping()` says a shutdown is under way. Sets the exit code
 * (0, or 1 when stop rejects) but never exits after a clean stop: the process ends when nothing
 * else holds it. Returns a function that removes the handlers.
 */
export function onShutdownSignals(log: Logger, stop: () => Promise<void>, alreadyStopping: () => boolean = () => false): () => void {
  let stopping = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping || alreadyStopping()) {
      log.warn({ signal }, 'second signal: exiting now')
      process.exit(1)
    }
    stopping = true
    log.info({ signal }, 'signal received: graceful shutdown')
    stop().then(
      () => {
        process.exitCode ??= 0
      },
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed')
        process.exitCode = 1
      },
    )
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  return () => {
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
  }
}
