import type { Context } from 'hono'
import { routePath } from 'hono/route'
import { UNMATCHED_ROUTE, type RequestScope } from '../request-scope.js'

/** The part of a Hono app that names a request's route: its router and its path reader. */
interface RoutedApp {
  router: { match(method: string, path: string): [readonly unknown[], ...unknown[]] }
  getPath(request: Request, options?: { env?: unknown }): string
}

const isRouted = (app: object): app is RoutedApp =>
  typeof (app as Partial<RoutedApp>).getPath === 'function' && typeof (app as Partial<RoutedApp>).router?.match === 'function'

/**
 * The route `request` matched in `app`, as `routePath(c, -1)` names it inside the app: the path
 * of the last handler the router matched (`/items/:id`, never the raw path), or `(unmatched)`.
 * Read from outside the app by matching again, once, when the response closes: Hono keeps the
 * match on the request's Context, which only a middleware can see. Undefined when `app` has no
 * Hono router (a `{ fetch }` wrapper, another framework).
 */
export function matchedRoute(app: object, request: Request, env: unknown): string | undefined {
  if (!isRouted(app)) return undefined
  // Hono answers HEAD with its GET route.
  const method = request.method === 'HEAD' ? 'GET' : request.method
  const handlers = app.router.match(method, app.getPath(request, { env }))[0]
  // Each entry is [[handler, { path, method, ... }], params].
  const last = handlers.at(-1) as [[unknown, { path?: unknown }?]?] | undefined
  const path = last?.[0]?.[1]?.path
  return typeof path === 'string' ? path : UNMATCHED_ROUTE
}

/**
 * The route label of a request a host (`serve()`, the test client) served to `app`: the one the
 * middleware's Context matched inside the app, else the app's router matched again; undefined
 * when neither can name it (a `{ fetch }` wrapper with no middleware inside).
 */
export function hostedRoute(app: object, request: Request, scope: RequestScope): string | undefined {
  const inApp = scope.routeContext as Context | undefined
  return inApp !== undefined ? routePath(inApp, -1) : matchedRoute(app, request, scope)
}
