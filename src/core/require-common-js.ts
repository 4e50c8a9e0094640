import { createRequire } from 'node:module'

const requireModule = createRequire(import.meta.url)

/**
 * Loads a CommonJS dependency synchronously where it is first needed, so a heavy one (prom-client,
 * piscina: about 11 and 7 MiB of RSS) costs nothing to a process that never uses it.
 */
export function requireCommonJs<T>(name: string): T {
  return requireModule(name) as T
}
