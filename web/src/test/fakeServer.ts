import { ApiClient, type TokenStore } from '@/api/client'
import type { AuthSession } from '@/api/types'

export interface Recorded {
  method: string
  url: string
  path: string
  headers: Record<string, string>
  body: unknown
}

type Handler = (req: Recorded) => Response | Promise<Response>

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json', ...headers },
  })
}

export function problem(status: number, kind: string, detail: string, errors?: { field: string; message: string }[]) {
  return json(status, {
    type: `https://socialdevs.dev/problems/${kind}`,
    title: kind,
    status,
    detail,
    ...(errors ? { errors } : {}),
  })
}

/** A fake API answering by "METHOD /path" (no query), recording every request. */
export class FakeServer {
  readonly requests: Recorded[] = []
  private readonly handlers = new Map<string, Handler>()

  on(route: string, handler: Handler | Response | (() => Response)): this {
    this.handlers.set(route, typeof handler === 'function' ? (handler as Handler) : () => handler.clone())
    return this
  }

  readonly fetch = async (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    const url = String(input)
    const path = new URL(url, 'http://test.local').pathname
    const method = init.method ?? 'GET'
    const headers = { ...(init.headers as Record<string, string>) }
    const req: Recorded = { method, url, path, headers, body: init.body ? JSON.parse(String(init.body)) : undefined }
    this.requests.push(req)
    const handler = this.handlers.get(`${method} ${path}`)
    if (!handler) return problem(404, 'not-found', `no fake for ${method} ${path}`)
    return handler(req)
  }

  count(route: string): number {
    const [method, path] = route.split(' ')
    return this.requests.filter((r) => r.method === method && r.path === path).length
  }
}

/** An in-memory token store. */
export function memoryTokens(initial?: Partial<AuthSession>): TokenStore & { state: Record<string, unknown> } {
  const state: Record<string, unknown> = {
    access: initial?.access_token ?? null,
    refresh: initial?.refresh_token ?? null,
    expiresAt: null,
  }
  return {
    state,
    accessToken: () => state.access as string | null,
    refreshToken: () => state.refresh as string | null,
    expiresAt: () => state.expiresAt as number | null,
    saveTokens(t) {
      state.access = t.access_token
      state.refresh = t.refresh_token
      state.expiresAt = Date.now() + t.expires_in * 1000
    },
    clear() {
      state.access = null
      state.refresh = null
      state.expiresAt = null
    },
  }
}

export function fakeClient(server: FakeServer, tokens: TokenStore, onSessionExpired?: () => void) {
  return new ApiClient({
    tokens,
    fetch: server.fetch as typeof fetch,
    onSessionExpired,
    lock: (_name, fn) => fn(),
  })
}

export const alice = {
  id: '0190a000-0000-7000-8000-000000000001',
  username: 'alice',
  display_name: 'Alice',
  bio: '',
  created_at: '2025-01-01T00:00:00Z',
}

export function makePost(id: string, overrides: Record<string, unknown> = {}) {
  return {
    id,
    author: { id: alice.id, username: 'alice', display_name: 'Alice' },
    text: `post ${id}`,
    created_at: '2025-01-01T00:00:00Z',
    reply_to: null,
    like_count: 0,
    reply_count: 0,
    liked_by_me: false,
    hashtags: [],
    mentions: [],
    ...overrides,
  }
}

/** Resolves after pending promise callbacks ran. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0))
}
