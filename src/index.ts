export { createService, Service } from './service.js'
export type { AnyService, HealthCheck, HealthCheckContext, HealthReport, ServiceOptions, ShutdownOptions } from './service.js'
export { ServiceMetrics } from './metrics.js'
export type { MetricsSnapshot, ServiceMetricsOptions } from './metrics.js'
export { systemClock } from './core/clock.js'
export type { Clock } from './core/clock.js'
export { toMs } from './core/duration.js'
export type { Duration } from './core/duration.js'
export {
  AfterworkError,
  LifespanError,
  ShutdownError,
  ValidationError,
  errorCodes,
  isAfterworkError,
} from './core/errors.js'
export type { ErrorCode, ValidationIssue } from './core/errors.js'
export type { EventMap, EventName, Listener } from './core/events.js'
export { finalStates, isFinalState, jobTransitions } from './core/job-state.js'
export type { JobState } from './core/job-state.js'
export type { Lifespan, LifespanContext, LifespanFn, LifespanOption, LifespanState, NamedLifespan } from './core/lifecycle.js'
export type { Logger } from './core/logger.js'
export { silentLogger } from './core/logger.js'
export type { Readiness } from './core/readiness.js'
export { BackgroundTasks } from './core/background-tasks.js'
export type { BackgroundStats } from './core/background-tasks.js'
export { currentRequestId } from './core/request-context.js'
export { validateWith } from './core/validate.js'
export type { ErrorInfo, RunContext, Runnable } from './core/run-context.js'
export { JobKind, Jobs } from './core/jobs.js'
export type { CancelOutcome, JobKindOptions, JobStatus } from './core/jobs.js'
export { Supervisor } from './core/supervisor.js'
export type {
  BackoffOptions,
  ChildOptions,
  ChildState,
  ChildStatus,
  IntensityOptions,
  RestartPolicy,
  SupervisorOptions,
  SupervisorStatus,
} from './core/supervisor.js'
export { Scheduler } from './core/schedule/scheduler.js'
export type { RunOutcome, ScheduleInfo, ScheduleOptions } from './core/schedule/scheduler.js'
export type { Trigger, TriggerBounds } from './core/schedule/trigger.js'
export { OffloadPool } from './core/offload/pool.js'
export type { OffloadOptions, OffloadRunOptions, OffloadStats } from './core/offload/pool.js'
export type { OffloadContext } from './core/offload/messages.js'
export { Queue, Task } from './queue/queue.js'
export type { EnqueueOptions, EnqueueResult } from './queue/queue.js'
export { cancelJob, snooze } from './queue/task.js'
export type { CancelJob, Snooze, TaskHandler, TaskOptions } from './queue/task.js'
export type { RetryOptions } from './queue/retry-policy.js'
export { Worker } from './queue/worker.js'
export type { WorkerOptions } from './queue/worker.js'
export type { Completion, JobCount, JobInsert, JobInsertResult, JobRow, QueueDriver } from './queue/driver.js'
