import { describe, expect, it, vi } from 'vitest'
import { ApiError, problemKind } from './problem'
import { queryString } from './client'
import { alice, fakeClient, FakeServer, json, memoryTokens, problem } from '@/test/fakeServer'

const session = (n: number) => ({
  user: alice,
  access_token: `access-${n}`,
  refresh_token: `refresh-${n}`,
  expires_in: 900,
})

describe('ApiClient', () => {
  it('sends the access token and parses JSON', async () => {
    const server = new FakeServer().on('GET /api/v1/auth/me', json(200, alice))
    const api = fakeClient(server, memoryTokens({ access_token: 'access-1', refresh_token: 'refresh-1' }))
    await expect(api.me()).resolves.toEqual(alice)
    expect(server.requests[0].headers.Authorization).toBe('Bearer access-1')
  })

  it('does not send a token to login or register', async () => {
    const server = new FakeServer().on('POST /api/v1/auth/login', json(200, session(2)))
    const api = fakeClient(server, memoryTokens({ access_token: 'access-1', refresh_token: 'refresh-1' }))
    await api.login({ login: 'alice', password: 'pw' })
    expect(server.requests[0].headers.Authorization).toBeUndefined()
    expect(server.requests[0].body).toEqual({ login: 'alice', password: 'pw' })
  })

  it('tells an account signed in at once (201) from a confirmation link mailed first (202)', async () => {
    const pending = { status: 'confirmation_sent', email: 'alice@example.com', expires_in: 86_400 }
    const server = new FakeServer().on('POST /api/v1/auth/register', json(201, session(1)))
    const api = fakeClient(server, memoryTokens())
    const body = { username: 'alice', email: 'alice@example.com', password: 'long enough password' }
    await expect(api.register(body)).resolves.toEqual({ kind: 'signed-in', session: session(1) })
    server.on('POST /api/v1/auth/register', json(202, pending))
    await expect(api.register(body)).resolves.toEqual({ kind: 'confirmation-sent', pending })
  })

  it('confirms an e-mail address with the token alone, without a session', async () => {
    const server = new FakeServer().on('POST /api/v1/auth/verify-email', json(201, session(2)))
    const api = fakeClient(server, memoryTokens({ access_token: 'access-1', refresh_token: 'refresh-1' }))
    await expect(api.verifyEmail('t0ken')).resolves.toEqual(session(2))
    expect(server.requests[0].headers.Authorization).toBeUndefined()
    expect(server.requests[0].body).toEqual({ token: 't0ken' })
  })

  it('on 401 refreshes once, stores the rotated pair and retries', async () => {
    const server = new FakeServer()
      .on('GET /api/v1/auth/me', (req) =>
        req.headers.Authorization === 'Bearer access-2' ? json(200, alice) : problem(401, 'unauthorized', 'expired'),
      )
      .on('POST /api/v1/auth/refresh', (req) =>
        (req.body as { refresh_token: string }).refresh_token === 'refresh-1'
          ? json(200, session(2))
          : problem(401, 'unauthorized', 'bad refresh token'),
      )
    const tokens = memoryTokens({ access_token: 'access-1', refresh_token: 'refresh-1' })
    const api = fakeClient(server, tokens)
    await expect(api.me()).resolves.toEqual(alice)
    expect(server.count('POST /api/v1/auth/refresh')).toBe(1)
    expect(server.count('GET /api/v1/auth/me')).toBe(2)
    expect(tokens.refreshToken()).toBe('refresh-2')
    expect(tokens.accessToken()).toBe('access-2')
  })

  it('shares one refresh between concurrent requests', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const server = new FakeServer()
      .on('GET /api/v1/posts', (req) =>
        req.headers.Authorization === 'Bearer access-2'
          ? json(200, { items: [], next_cursor: null })
          : problem(401, 'unauthorized', 'expired'),
      )
      .on('POST /api/v1/auth/refresh', async () => {
        await gate
        return json(200, session(2))
      })
    const api = fakeClient(server, memoryTokens({ access_token: 'access-1', refresh_token: 'refresh-1' }))
    const calls = Promise.all([api.posts(), api.posts({ tag: 'a' }), api.posts({ author: 'b' })])
    await new Promise((r) => setTimeout(r, 10))
    release()
    await calls
    expect(server.count('POST /api/v1/auth/refresh')).toBe(1)
  })

  it('retries only once when the new token is refused too', async () => {
    const server = new FakeServer()
      .on('GET /api/v1/auth/me', problem(401, 'unauthorized', 'nope'))
      .on('POST /api/v1/auth/refresh', () => json(200, session(Math.random())))
    const api = fakeClient(server, memoryTokens({ access_token: 'access-1', refresh_token: 'refresh-1' }))
    await expect(api.me()).rejects.toMatchObject({ status: 401, kind: 'unauthorized' })
    expect(server.count('POST /api/v1/auth/refresh')).toBe(1)
    expect(server.count('GET /api/v1/auth/me')).toBe(2)
  })

  it('ends the session when the refresh token is refused', async () => {
    const expired = vi.fn()
    const server = new FakeServer()
      .on('GET /api/v1/auth/me', problem(401, 'unauthorized', 'expired'))
      .on('POST /api/v1/auth/refresh', problem(401, 'unauthorized', 'revoked'))
    const tokens = memoryTokens({ access_token: 'access-1', refresh_token: 'refresh-1' })
    const api = fakeClient(server, tokens, expired)
    await expect(api.me()).rejects.toBeInstanceOf(ApiError)
    expect(expired).toHaveBeenCalledTimes(1)
    expect(tokens.accessToken()).toBeNull()
    expect(tokens.refreshToken()).toBeNull()
  })

  it('does not try to refresh without a session', async () => {
    const server = new FakeServer().on('GET /api/v1/timeline/home', problem(401, 'unauthorized', 'log in'))
    const api = fakeClient(server, memoryTokens())
    await expect(api.homeTimeline()).rejects.toMatchObject({ status: 401 })
    expect(server.count('POST /api/v1/auth/refresh')).toBe(0)
  })

  it('turns problem+json into an ApiError with field messages', async () => {
    const server = new FakeServer().on(
      'POST /api/v1/auth/register',
      problem(409, 'conflict', 'That username is taken.', [{ field: 'username', message: 'is already taken' }]),
    )
    const api = fakeClient(server, memoryTokens())
    const err = await api.register({ username: 'alice', email: 'a@b.c', password: 'x' }).catch((e) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect(err.kind).toBe('conflict')
    expect(err.status).toBe(409)
    expect(err.detail).toBe('That username is taken.')
    expect(err.fieldError('username')).toBe('is already taken')
    expect(err.fieldError('email')).toBeUndefined()
  })

  it('copes with error answers that are not problem+json', async () => {
    const server = new FakeServer().on('GET /api/v1/posts/x', () => new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }))
    const api = fakeClient(server, memoryTokens())
    const err = await api.post('x').catch((e) => e)
    expect(err).toMatchObject({ status: 502, kind: 'server' })
    expect(err.detail).toMatch(/try again/i)
  })

  it('reports network failures as such', async () => {
    const api = fakeClient(
      { fetch: () => Promise.reject(new TypeError('Failed to fetch')) } as unknown as FakeServer,
      memoryTokens(),
    )
    await expect(api.posts()).rejects.toMatchObject({ kind: 'network', status: 0 })
  })

  it('reads Retry-After on 429', async () => {
    const server = new FakeServer().on('POST /api/v1/posts', () =>
      json(429, { type: 'https://socialdevs.dev/problems/rate-limited', title: 'Too many', status: 429 }, { 'Retry-After': '7' }),
    )
    const api = fakeClient(server, memoryTokens({ access_token: 'a', refresh_token: 'r' }))
    await expect(api.createPost({ text: 'hi' })).rejects.toMatchObject({ kind: 'rate-limited', retryAfter: 7 })
  })

  it('encodes path parameters and skips empty query values', async () => {
    const server = new FakeServer().on('GET /api/v1/users/a%2Fb', json(200, alice))
    const api = fakeClient(server, memoryTokens())
    await api.profile('a/b')
    expect(server.requests[0].url).toBe('/api/v1/users/a%2Fb')
    expect(queryString({ a: 1, b: undefined, c: null, d: '', e: 'x y' })).toBe('?a=1&e=x+y')
  })

  it('sends the Idempotency-Key header when posting', async () => {
    const server = new FakeServer().on('POST /api/v1/posts', json(201, { id: 'p1' }))
    const api = fakeClient(server, memoryTokens({ access_token: 'a', refresh_token: 'r' }))
    await api.createPost({ text: 'hi', reply_to: 'p0' }, 'key-1')
    expect(server.requests[0].headers['Idempotency-Key']).toBe('key-1')
    expect(server.requests[0].body).toEqual({ text: 'hi', reply_to: 'p0' })
  })

  it('builds stream URLs with the token as a query parameter, refreshing a stale one first', async () => {
    const server = new FakeServer().on('POST /api/v1/auth/refresh', json(200, session(2)))
    const tokens = memoryTokens({ access_token: 'access-1', refresh_token: 'refresh-1' })
    tokens.state.expiresAt = Date.now() + 1000 // about to expire
    const api = fakeClient(server, tokens)
    expect(await api.streamUrl('GET /api/v1/timeline/home/stream')).toBe(
      '/api/v1/timeline/home/stream?access_token=access-2',
    )
    expect(await fakeClient(server, memoryTokens()).streamUrl('GET /api/v1/notifications/stream')).toBeNull()
  })
})

describe('problemKind', () => {
  it('takes the last path segment of the type', () => {
    expect(problemKind({ type: 'https://socialdevs.dev/problems/validation', status: 422 })).toBe('validation')
    expect(problemKind({ type: 'https://socialdevs.dev/problems/rate-limited/', status: 429 })).toBe('rate-limited')
    expect(problemKind({ type: '/problems/not-found', status: 404 })).toBe('not-found')
  })

  it('falls back to the status for about:blank', () => {
    expect(problemKind({ type: 'about:blank', status: 409 })).toBe('conflict')
    expect(problemKind({ type: 'about:blank', status: 503 })).toBe('server')
  })
})
