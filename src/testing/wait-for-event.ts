import { onAbort } from '../core/abort-fanout.js'
import type { EventMap, EventName } from '../core/events.js'

interface HasEvents {
  on<K extends EventName>(event: K, listener: (payload: EventMap[K]) => void): () => void
}

/**
 * Resolves with the first `event` payload that matches `predicate`: how tests wait for something to
 * happen without sleeping. Rejects with `signal.reason` if the signal aborts first.
 *
 * @example
 * const failed = waitForEvent(svc, 'background:failed')
 * await client.post('/signup', { json: body })
 * expect((await failed).task).toBe('sendWelcomeEmail')
 */
export function waitForEvent<K extends EventName>(
  source: HasEvents,
  event: K,
  predicate: (payload: EventMap[K]) => boolean = () => true,
  opts: { signal?: AbortSignal } = {},
): Promise<EventMap[K]> {
  const { signal } = opts
  if (signal?.aborted) return Promise.reject(signal.reason)
  return new Promise((resolve, reject) => {
    const off = source.on(event, (payload) => {
      if (!predicate(payload)) return
      off()
      leave?.()
      resolve(payload)
    })
    const leave =
      signal &&
      onAbort(signal, () => {
        off()
        reject(signal.reason)
      })
  })
}
