/** The reference service's cache: Redis when REDIS_URL is set, else a bounded in-memory map. */
export interface Cache {
  readonly kind: 'redis' | 'memory'
  get(key: string): Promise<string | undefined>
  set(key: string, value: string, ttlSeconds: number): Promise<void>
  /** Drops expired entries and returns how many (Redis expires keys itself: 0). */
  purgeExpired(): Promise<number>
  /** Throws when the cache cannot be reached. */
  ping(): Promise<void>
  close(): Promise<void>
}

/** A TTL map capped at `maxEntries` (oldest first out), so state in memory stays bounded. */
export class MemoryCache implements Cache {
  readonly kind = 'memory'
  readonly #entries = new Map<string, { value: string; expiresAt: number }>()
  readonly #maxEntries: number
  readonly #now: () => number

  constructor(opts: { maxEntries?: number; now?: () => number } = {}) {
    this.#maxEntries = opts.maxEntries ?? 10_000
    this.#now = opts.now ?? Date.now
  }

  async get(key: string): Promise<string | undefined> {
    const entry = this.#entries.get(key)
    if (!entry) return undefined
    if (entry.expiresAt <= this.#now()) {
      this.#entries.delete(key)
      return undefined
    }
    return entry.value
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    this.#entries.delete(key)
    this.#entries.set(key, { value, expiresAt: this.#now() + ttlSeconds * 1000 })
    if (this.#entries.size > this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value as string)
  }

  async purgeExpired(): Promise<number> {
    const now = this.#now()
    let removed = 0
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt <= now) {
        this.#entries.delete(key)
        removed++
      }
    }
    return removed
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.#entries.clear()
  }
}

/** Connects to Redis and checks it answers, so a wrong REDIS_URL fails startup instead of every request. */
export async function openRedisCache(url: string): Promise<Cache> {
  const { Redis } = await import('ioredis')
  let connected = false
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 3_000,
    // Fail startup on the first refusal; once up, reconnect with backoff like any long-lived client.
    retryStrategy: (times) => (connected ? Math.min(times * 200, 2_000) : null),
  })
  redis.on('error', () => {}) // reported through ping() on /status; without a listener ioredis logs to stderr
  await redis.connect()
  connected = true
  await redis.ping()
  return {
    kind: 'redis',
    async get(key) {
      return (await redis.get(key)) ?? undefined
    },
    async set(key, value, ttlSeconds) {
      await redis.set(key, value, 'EX', ttlSeconds)
    },
    async purgeExpired() {
      return 0
    },
    async ping() {
      await redis.ping()
    },
    async close() {
      await redis.quit()
    },
  }
}
