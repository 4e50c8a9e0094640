import { toMs, type Duration } from '../core/duration.js'
import { invalidOption } from '../core/errors.js'

export interface RetryOptions {
  /** Attempts in all, the first included. @default 3 */
  attempts?: number
  backoff?: {
    /** Delay before the second attempt. @default '1s' */
    initial?: Duration
    /** @default '1h' */
    max?: Duration
    /** @default 2 */
    factor?: number
    /** Spread as a fraction of the delay. @default 0.2 */
    jitter?: number
  }
}

/** When a failed attempt is retried: exponential backoff with jitter, up to a cap, then `failed`. */
export class RetryPolicy {
  readonly attempts: number
  readonly #initialMs: number
  readonly #maxMs: number
  readonly #factor: number
  readonly #jitter: number

  constructor(opts: RetryOptions = {}, where = 'retry') {
    this.attempts = opts.attempts ?? 3
    if (!Number.isInteger(this.attempts) || this.attempts < 1) invalidOption(`${where}.attempts`, opts.attempts, 'an integer >= 1')
    this.#initialMs = toMs(opts.backoff?.initial ?? '1s', `${where}.backoff.initial`)
    this.#maxMs = toMs(opts.backoff?.max ?? '1h', `${where}.backoff.max`)
    this.#factor = opts.backoff?.factor ?? 2
    this.#jitter = opts.backoff?.jitter ?? 0.2
    if (!(this.#factor >= 1)) invalidOption(`${where}.backoff.factor`, this.#factor, 'a number >= 1')
    if (!(this.#jitter >= 0 && this.#jitter <= 1)) invalidOption(`${where}.backoff.jitter`, this.#jitter, 'a number from 0 to 1')
  }

  /** The delay after failed attempt number `attempt` (1-based), or null when no attempt is left. */
  delayAfter(attempt: number, random: () => number): number | null {
    if (attempt >= this.attempts) return null
    const base = Math.min(this.#maxMs, this.#initialMs * this.#factor ** (attempt - 1))
    return Math.round(Math.min(this.#maxMs, base * (1 - this.#jitter + 2 * this.#jitter * random())))
  }
}
