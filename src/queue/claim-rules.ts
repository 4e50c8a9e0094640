/** The limits a claim must respect, as they travel on job rows. */
export interface ClaimCandidate {
  rateKey?: string | null
  rateLimit?: number | null
  ratePer?: number | null
  concurrencyKey?: string | null
  concurrencyLimit?: number | null
}

/**
 * Picks, in order, the candidates a claim may take: at most `limit`, skipping any whose rate key has
 * had `rateLimit` starts within `ratePer` ms or whose concurrency key already has
 * `concurrencyLimit` running. Counts include the jobs picked so far in this claim. Drivers call it
 * inside their claim transaction with counting functions over their own storage.
 */
export function pickClaimable<T extends ClaimCandidate>(
  candidates: readonly T[],
  limit: number,
  startedSince: (rateKey: string, sinceMs: number) => number,
  runningWith: (concurrencyKey: string) => number,
  now: number,
): T[] {
  const picked: T[] = []
  const rateUsed = new Map<string, number>()
  const concurrencyUsed = new Map<string, number>()
  for (const job of candidates) {
    if (picked.length >= limit) break
    if (job.rateKey != null && job.rateLimit != null && job.ratePer != null) {
      const used = rateUsed.get(job.rateKey) ?? startedSince(job.rateKey, now - job.ratePer)
      if (used >= job.rateLimit) continue
      rateUsed.set(job.rateKey, used + 1)
    }
    if (job.concurrencyKey != null && job.concurrencyLimit != null) {
      const used = concurrencyUsed.get(job.concurrencyKey) ?? runningWith(job.concurrencyKey)
      if (used >= job.concurrencyLimit) {
        if (job.rateKey != null) rateUsed.set(job.rateKey, (rateUsed.get(job.rateKey) as number) - 1)
        continue
      }
      concurrencyUsed.set(job.concurrencyKey, used + 1)
    }
    picked.push(job)
  }
  return picked
}
