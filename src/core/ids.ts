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

// Random bytes are drawn from the OS 64 KiB at a time (getRandomValues' largest): one call per id
// was most of an in-process job's start cost, and a 4 KiB pool's refills still cost 9-10 ns an id
// to 64 KiB's 2.5 (Node 20 and 24).
const randomPool = new Uint8Array(65536)
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

/** Each byte value's first and second lowercase hex digit, as character codes. */
const HIGH_DIGIT = new Uint8Array(256)
const LOW_DIGIT = new Uint8Array(256)
for (let byte = 0; byte < 256; byte++) {
  HIGH_DIGIT[byte] = (HEX[byte] as string).charCodeAt(0)
  LOW_DIGIT[byte] = (HEX[byte] as string).charCodeAt(1)
}
const DASH = 0x2d

const high = (byte: number): number => HIGH_DIGIT[byte] as number
const low = (byte: number): number => LOW_DIGIT[byte] as number

/**
 * A random (version 4) UUID, as `crypto.randomUUID()` makes, for request ids: its 36 characters
 * made by one `String.fromCharCode()` call, a flat string. `crypto.randomUUID()` joins an id from
 * 20 pieces into a rope, which Node's header check and the socket write then copy flat on every
 * request (an id made and written into a header line: 450-520 ns that way on Node 24, 600 on
 * Node 20). Writing the digits into a buffer and reading it out with `toString('latin1')` instead
 * took 120 ns an id to this way's 70-75, in a loop of a million ids on Node 20 and 24.
 */
export function randomUUIDv4(): string {
  const r = randomBytes(16)
  const p = randomPool
  const b0 = p[r] as number
  const b1 = p[r + 1] as number
  const b2 = p[r + 2] as number
  const b3 = p[r + 3] as number
  const b4 = p[r + 4] as number
  const b5 = p[r + 5] as number
  // RFC 9562: version 4 in the high nibble of byte 6, variant 10 in the top two bits of byte 8.
  const b6 = ((p[r + 6] as number) & 0x0f) | 0x40
  const b7 = p[r + 7] as number
  const b8 = ((p[r + 8] as number) & 0x3f) | 0x80
  const b9 = p[r + 9] as number
  const b10 = p[r + 10] as number
  const b11 = p[r + 11] as number
  const b12 = p[r + 12] as number
  const b13 = p[r + 13] as number
  const b14 = p[r + 14] as number
  const b15 = p[r + 15] as number
  return String.fromCharCode(
    high(b0), low(b0), high(b1), low(b1), high(b2), low(b2), high(b3), low(b3), DASH,
    high(b4), low(b4), high(b5), low(b5), DASH,
    high(b6), low(b6), high(b7), low(b7), DASH,
    high(b8), low(b8), high(b9), low(b9), DASH,
    high(b10), low(b10), high(b11), low(b11), high(b12), low(b12), high(b13), low(b13), high(b14), low(b14), high(b15), low(b15),
  )
}
