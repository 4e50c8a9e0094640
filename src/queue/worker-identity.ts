import { hostname } from 'node:os'
import { AfterworkError } from '../core/errors.js'
import type { QueueDriver } from './driver.js'

const MAX_IDENTITY_INDEX = 1_000

/**
 * Registers a worker identity: `explicitId` if given (refused while a live process holds it), else
 * the first free `hostname:service:index`. Taking over an identity whose heartbeat is older than the
 * lease reclaims the dead holder's jobs at once; `reclaimed` counts them.
 */
export async function registerWorker(params: {
  driver: QueueDriver<unknown>
  service: string
  lease: number
  explicitId: string | undefined
  now: number | undefined
}): Promise<{ workerId: string; reclaimed: number }> {
  const { driver, service, lease, explicitId, now } = params
  const attempt = async (workerId: string) => driver.workerHeartbeat({ workerId, service, lease, takeover: true, ...(now === undefined ? {} : { now }) })
  if (explicitId !== undefined) {
    const result = await attempt(explicitId)
    if (!result.ok) throw new AfterworkError('ERR_QUEUE_WORKER_ID_IN_USE', `Worker id "${explicitId}" is held by a live process (heartbeat younger than the lease)`)
    return { workerId: explicitId, reclaimed: result.reclaimed }
  }
  for (let index = 0; index < MAX_IDENTITY_INDEX; index++) {
    const workerId = `${hostname()}:${service}:${index}`
    const result = await attempt(workerId)
    if (result.ok) return { workerId, reclaimed: result.reclaimed }
  }
  throw new AfterworkError('ERR_QUEUE_WORKER_ID_IN_USE', `All ${MAX_IDENTITY_INDEX} worker identities of "${service}" on this host are live`)
}
