import { AfterworkError } from './errors.js'

/**
 * One vocabulary for in-process and durable jobs. `scheduled` and `retrying` occur only in the
 * durable queue. See docs/lifecycle.md for the diagram.
 */
export type JobState =
  | 'scheduled'
  | 'queued'
  | 'running'
  | 'cancelling'
  | 'retrying'
  | 'succeeded'
  | 'failed'
  | 'cancelled'

/** The states a job never leaves. */
export const finalStates: ReadonlySet<JobState> = new Set<JobState>(['succeeded', 'failed', 'cancelled'])

/** Every allowed transition: the one table that in-process jobs and the durable queue both obey. */
export const jobTransitions: Readonly<Record<JobState, readonly JobState[]>> = {
  scheduled: ['queued', 'running', 'cancelled'],
  queued: ['running', 'scheduled', 'cancelled'],
  running: ['succeeded', 'failed', 'retrying', 'cancelling', 'cancelled', 'queued'],
  cancelling: ['cancelled', 'succeeded', 'failed'],
  retrying: ['queued', 'running', 'cancelled', 'failed'],
  // Manual retry of a finished durable job starts it again.
  succeeded: [],
  failed: ['queued'],
  cancelled: ['queued'],
}

export function isFinalState(state: JobState): boolean {
  return finalStates.has(state)
}

export function canTransition(from: JobState, to: JobState): boolean {
  return jobTransitions[from].includes(to)
}

/** Throws when `from -> to` is not in {@link jobTransitions}: a bug in the caller, never user input. */
export function assertTransition(from: JobState, to: JobState): void {
  if (!canTransition(from, to)) {
    throw new AfterworkError('ERR_JOB_INVALID_TRANSITION', `A job cannot go from ${from} to ${to}`)
  }
}
