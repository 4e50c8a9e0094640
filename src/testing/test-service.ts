import type { Lifespan, LifespanOption, LifespanState, Lifespans, YieldedState } from '../core/lifecycle.js'
import { silentLogger } from '../core/logger.js'
import { memory } from '../drivers/memory/driver.js'
import { Service, type AnyService, type ServiceOptions } from '../service.js'
import { ManualClock } from './manual-clock.js'

/**
 * A Service for tests: the memory queue driver, a silent logger and a ManualClock unless you pass
 * your own. `await svc.queue.drain()` runs every due durable job in process.
 *
 * @example
 * const svc = createTestService()
 * const email = svc.task('send-email', { schema: Email }, send)
 * await svc.start()
 * await email.enqueue({ to: 'ada@example.com' })
 * await svc.queue.drain()
 */
export function createTestService<const T extends readonly unknown[]>(
  opts: Omit<ServiceOptions, 'lifespan'> & { lifespan: Lifespans<T> },
): Service<YieldedState<T[number]>> & { clock: ManualClock }
export function createTestService<S = undefined>(opts?: Omit<ServiceOptions, 'lifespan'> & { lifespan?: Lifespan<S> }): Service<YieldedState<S>> & { clock: ManualClock }
/** Lifespans typed beforehand as a whole (a `LifespanOption` value, options built elsewhere, a generic wrapper). */
export function createTestService<const L extends LifespanOption | undefined = undefined>(opts: ServiceOptions<L>): Service<LifespanState<L>> & { clock: ManualClock }
export function createTestService(opts: ServiceOptions<LifespanOption | undefined> = {}): AnyService & { clock: ManualClock } {
  const clock = opts.clock ?? new ManualClock()
  return new Service({ logger: silentLogger, queue: memory(), random: () => 0.5, ...opts, clock }) as AnyService & { clock: ManualClock }
}
