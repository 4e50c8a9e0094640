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
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  let ts = ms
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ts % 256
    ts = Math.floor(ts / 256)
  }
  bytes[6] = 0x70 | (sequence >> 8)
  bytes[7] = sequence & 0xff
  bytes[8] = 0x80 | ((bytes[8] as number) & 0x3f)
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
