// The trivial offloaded task of bench/jobs.ts: plain JavaScript, so the threads need no loader.
export function noop(input) {
  return input
}
export default noop
