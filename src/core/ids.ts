let lastMs = -1
let sequence = 0

/**
 * A UUIDv7 (RFC 9562): 48 bits of epoch milliseconds, a 12-bit sequence, then random bits. Ids made
 * by one process are strictly increasing, even within one millisecond (RFC 9562 method 1, a counter
 * in rand_a), so jobs enqueued together keep their order and listings and indexes stay sorted.
 */
export function uuidv7(nowMs: number): string {
  let ms = Math.max(0, Math.floor(nowMs))
  if (ms <= lastMs) {
    ms = lastMs
    sequence++
    if (sequence > 0xfff) {
      ms++
      sequence = 0
    }
  } else {
    sequence = 0
  }
  lastMs = ms
  const r = randomBytes(8)
  // 48 bits of time as 12 hex digits; 2^48 ms fits a double exactly.
  const time = ms.toString(16).padStart(12, '0')
  const pool = randomPool
  return (
    `${time.slice(0, 8)}-${time.slice(8)}-${HEX[0x70 | (sequence >> 8)]}${HEX[sequence & 0xff]}-` +
    `${HEX[0x80 | ((pool[r] as number) & 0x3f)]}${HEX[pool[r + 1] as number]}-` +
    `${HEX[pool[r + 2] as number]}${HEX[pool[r + 3] as number]}${HEX[pool[r + 4] as number]}${HEX[pool[r + 5] as number]}${HEX[pool[r + 6] as number]}${HEX[pool[r + 7] as number]}`
  )
}

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'))

// Random bytes are drawn from the OS 4 KiB at a time: one getRandomValues call per id was most of
// an in-process job's start cost.
const randomPool = new Uint8Array(4096)
let randomOffset = randomPool.length

/** The offset in `randomPool` of `n` fresh random bytes. */
function randomBytes(n: number): number {
  if (randomOffset + n > randomPool.length) {
    crypto.getRandomValues(randomPool)
    randomOffset = 0
  }
  const at = randomOffset
  randomOffset += n
  return at
}
