import type { RunContext } from 'afterwork'
import { z } from 'zod'
import type { CrunchInput, CrunchResult } from './heavy.js'
import type { SeedService } from './service.js'

/** The body of POST /reports/generate: the guide's free-form params, plus `durable`. */
export const ReportRequest = z
  .object({
    durable: z.boolean().default(false),
    /** false demonstrates a task that ignores cancellation: the pool terminates its thread. */
    cooperative: z.boolean().default(true),
  })
  .catchall(z.unknown())
export type ReportRequest = z.infer<typeof ReportRequest>

export interface ReportOptions {
  /** How long a report takes in all (REPORT_SECONDS); half waits on "data", half is CPU work. */
  seconds: number
  /** Test hook: counts the CPU work's rounds. */
  counter?: Int32Array
}

const heavy = new URL('./heavy.ts', import.meta.url)

/**
 * The guide's long_running_report: progress while it gathers data, then a real CPU-bound part on a
 * worker thread. Cancel (DELETE /reports/{id}) aborts ctx.signal, which stops the waiting and the
 * thread alike.
 */
export function reportJob(svc: SeedService, opts: ReportOptions) {
  return async function report(params: ReportRequest, ctx: RunContext): Promise<CrunchResult & { params: Record<string, unknown> }> {
    const { durable: _durable, cooperative, ...rest } = params
    const steps = 5
    const waitMs = (opts.seconds * 1000) / 2 / steps
    for (let step = 1; step <= steps; step++) {
      ctx.progress((step - 1) / (steps + 1), `gathering data (${step}/${steps})`)
      await svc.clock.sleep(waitMs, ctx.signal)
    }
    ctx.progress(steps / (steps + 1), 'crunching numbers')
    const input: CrunchInput = { cpuMs: (opts.seconds * 1000) / 2, seed: JSON.stringify(rest), cooperative, ...(opts.counter ? { counter: opts.counter } : {}) }
    const result = await svc.offload.run<CrunchResult>(heavy, 'crunch', input, { signal: ctx.signal })
    return { ...result, params: rest }
  }
}

/** The guide's words for a state: `complete` for succeeded, `queued` for anything waiting. */
export function seedStatus(state: string): string {
  if (state === 'succeeded') return 'complete'
  if (state === 'queued' || state === 'scheduled' || state === 'retrying') return 'queued'
  return state
}
