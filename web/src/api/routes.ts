// Every API operation the web app calls. The client can only call routes listed here,
// and the contract test checks each one against the OpenAPI document.
export const ROUTES = [
  'POST /api/v1/auth/register',
  'POST /api/v1/auth/verify-email',
  'POST /api/v1/auth/login',
  'POST /api/v1/auth/refresh',
  'POST /api/v1/auth/logout',
  'POST /api/v1/auth/logout-all',
  'POST /api/v1/auth/password',
  'GET /api/v1/auth/me',
  'GET /api/v1/users',
  'GET /api/v1/users/suggestions',
  'GET /api/v1/users/{username}',
  'PATCH /api/v1/users/me',
  'PUT /api/v1/users/{username}/follow',
  'DELETE /api/v1/users/{username}/follow',
  'GET /api/v1/users/{username}/followers',
  'GET /api/v1/users/{username}/following',
  'POST /api/v1/posts',
  'GET /api/v1/posts',
  'GET /api/v1/posts/{id}',
  'GET /api/v1/posts/{id}/replies',
  'DELETE /api/v1/posts/{id}',
  'PUT /api/v1/posts/{id}/like',
  'DELETE /api/v1/posts/{id}/like',
  'GET /api/v1/timeline/home',
  'GET /api/v1/timeline/home/stream',
  'GET /api/v1/notifications',
  'GET /api/v1/notifications/unread_count',
  'POST /api/v1/notifications/read',
  'GET /api/v1/notifications/stream',
] as const

export type Route = (typeof ROUTES)[number]

/** Routes served by the notifications service, which may be deployed later than the rest. */
export const OPTIONAL_ROUTE_PREFIXES = ['/api/v1/notifications'] as const

/** Splits a route into its method and path template. */
export function splitRoute(route: Route): { method: string; path: string } {
  const space = route.indexOf(' ')
  return { method: route.slice(0, space), path: route.slice(space + 1) }
}

/** Fills `{name}` placeholders with URL-encoded values. */
export function fillPath(path: string, params: Record<string, string> = {}): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name]
    if (value === undefined) throw new Error(`missing path parameter ${name} for ${path}`)
    return encodeURIComponent(value)
  })
}
