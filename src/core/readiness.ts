/**
 * Where a Service is in its life. `ready` is the only state in which `/health/ready` answers 200.
 * `idle` before start(), `starting` while lifespans run, `draining` from the first shutdown step.
 */
export type Readiness = 'idle' | 'starting' | 'ready' | 'draining' | 'stopped'
