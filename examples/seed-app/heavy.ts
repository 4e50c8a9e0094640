// The CPU-heavy part of a report. It runs on a worker thread (svc.offload), never on the event
// loop; this module is loaded in the thread by URL, so it imports nothing from the service.
import { createHash } from 'node:crypto'
import type { OffloadContext } from 'afterwork'

export interface CrunchInput {
  /** How much CPU time to spend, in milliseconds. */
  cpuMs: number
  /** The report's parameters, folded into the digest. */
  seed: string
  /** Checks the cancel flag (true), or ignores it so the pool must terminate the thread (false). */
  cooperative: boolean
  /** Optional: counter[0] counts rounds, so a test can see the work stop. */
  counter?: Int32Array
}

export interface CrunchResult {
  digest: string
  rounds: number
}

/** Chains SHA-256 over the seed for `cpuMs` of CPU time: real work, and proof of it in the digest. */
export function crunch(input: CrunchInput, ctx: OffloadContext): CrunchResult {
  let digest = createHash('sha256').update(input.seed).digest()
  let rounds = 0
  const until = performance.now() + input.cpuMs
  while (performance.now() < until) {
    for (let i = 0; i < 1_000; i++) digest = createHash('sha256').update(digest).digest()
    rounds += 1_000
    if (input.counter) {
      Atomics.add(input.counter, 0, 1)
      Atomics.notify(input.counter, 0)
    }
    if (input.cooperative) ctx.throwIfCancelled()
  }
  return { digest: digest.toString('hex'), rounds }
}
