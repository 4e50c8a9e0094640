import type { Readiness } from './readiness.js'

/**
 * Every event the library emits, by name. Later capabilities add their events here. Events reuse the
 * state words (`job:running`, `schedule:fired`, ...) and serve both observability and tests, which
 * wait on them instead of sleeping.
 */
export interface EventMap {
  'service:readiness': { readiness: Readiness }
  'lifespan:started': { name: string; durationMs: number }
  'lifespan:stopped': { name: string; durationMs: number; error?: unknown }
  'background:succeeded': { requestId: string; task: string; durationMs: number }
  'background:failed': { requestId: string; task: string; durationMs: number; error: unknown }
  'shutdown:abandoned': { step: string; detail: string }
  /** `queue` and `lagMs` (from its run time to the claim) are set for durable jobs. */
  'job:running': { id: string; name: string; attempt: number; queue?: string; lagMs?: number }
  'job:cancelling': { id: string; name: string }
  'job:succeeded': { id: string; name: string; durationMs: number; queue?: string }
  'job:failed': { id: string; name: string; durationMs: number; error: unknown; queue?: string }
  'job:cancelled': { id: string; name: string; durationMs: number }
  'job:retrying': { id: string; name: string; attempt: number; retryAt: Date; error: unknown; queue?: string; durationMs?: number }
  'job:rescued': { count: number }
  'supervisor:child:restarting': { supervisor: string; child: string; delayMs: number; restarts: number }
  'supervisor:child:gave-up': { supervisor: string; child: string; error: Error }
  'service:stop-requested': { reason: Error }
  'schedule:fired': { name: string; slot: Date; late: number }
  'schedule:missed': { name: string; count: number }
  'schedule:coalesced': { name: string; count: number }
  'schedule:skipped': { name: string; slot: Date; running: number }
}

export type EventName = keyof EventMap
export type Listener<K extends EventName> = (payload: EventMap[K]) => void

/**
 * A small typed emitter. A listener that throws is reported through `onListenerError` and never
 * stops the other listeners or the code that emitted.
 */
export class Events {
  readonly #listeners = new Map<EventName, Set<(payload: never) => void>>()
  readonly #onListenerError: (error: unknown, event: EventName) => void

  constructor(onListenerError: (error: unknown, event: EventName) => void) {
    this.#onListenerError = onListenerError
  }

  /** Adds a listener; returns a function that removes it. */
  on<K extends EventName>(event: K, listener: Listener<K>): () => void {
    let set = this.#listeners.get(event)
    if (!set) this.#listeners.set(event, (set = new Set()))
    set.add(listener as (payload: never) => void)
    return () => this.off(event, listener)
  }

  off<K extends EventName>(event: K, listener: Listener<K>): void {
    this.#listeners.get(event)?.delete(listener as (payload: never) => void)
  }

  /** True when anyone listens: lets hot paths skip building a payload nobody reads. */
  has(event: EventName): boolean {
    const set = this.#listeners.get(event)
    return set !== undefined && set.size > 0
  }

  emit<K extends EventName>(event: K, payload: EventMap[K]): void {
    const set = this.#listeners.get(event)
    if (!set) return
    for (const listener of set) {
      try {
        ;(listener as Listener<K>)(payload)
      } catch (error) {
        this.#onListenerError(error, event)
      }
    }
  }
}
