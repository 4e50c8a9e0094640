/** Whether `value` has a callable `then`: a promise of any kind, or a bare thenable, which `await` and `Promise.resolve` adopt. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function'
}
