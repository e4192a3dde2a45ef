import { ApiError, networkError, toProblem } from './problem'
import { fillPath, splitRoute, type Route } from './routes'
import type {
  AuthSession,
  ChangePasswordRequest,
  CreatePostRequest,
  LoginRequest,
  Notification,
  Page,
  PageQuery,
  Post,
  PostsQuery,
  Profile,
  RegisterRequest,
  Registration,
  SignupPending,
  UnreadCount,
  UpdateProfileRequest,
  User,
} from './types'

/** Where the client keeps the session's tokens. */
export interface TokenStore {
  accessToken(): string | null
  refreshToken(): string | null
  /** Epoch milliseconds when the access token stops working, if known. */
  expiresAt(): number | null
  saveTokens(tokens: Pick<AuthSession, 'access_token' | 'refresh_token' | 'expires_in'>): void
  clear(): void
}

export interface ApiClientOptions {
  /** Prefix for every path; empty for the same origin. */
  baseUrl?: string
  tokens: TokenStore
  fetch?: typeof fetch
  /** Called once when the refresh token no longer works. */
  onSessionExpired?: () => void
  /** Runs the refresh under a cross-tab lock when the browser has one. */
  lock?: <T>(name: string, fn: () => Promise<T>) => Promise<T>
}

type Query = Record<string, string | number | boolean | null | undefined>

interface CallOptions {
  params?: Record<string, string>
  query?: Query
  body?: unknown
  headers?: Record<string, string>
  /** Send the access token (default true when there is one). */
  auth?: boolean
  signal?: AbortSignal
}

/** Treat the access token as expired this long before it really expires. */
const EXPIRY_MARGIN_MS = 15_000

function browserLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined
  return locks ? locks.request(name, fn) : fn()
}

/**
 * The typed SocialDevs API client. Refreshes the access token centrally: a request answered
 * 401 triggers one refresh (shared by concurrent callers and across tabs) and one retry.
 */
export class ApiClient {
  private readonly baseUrl: string
  private readonly tokens: TokenStore
  private readonly fetchImpl: typeof fetch
  private readonly onSessionExpired?: () => void
  private readonly lock: <T>(name: string, fn: () => Promise<T>) => Promise<T>
  private refreshing: Promise<boolean> | null = null

  constructor(options: ApiClientOptions) {
    this.baseUrl = options.baseUrl ?? ''
    this.tokens = options.tokens
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
    this.onSessionExpired = options.onSessionExpired
    this.lock = options.lock ?? browserLock
  }

  /** Absolute-or-relative URL for a route, with query. */
  url(route: Route, params?: Record<string, string>, query?: Query): string {
    const { path } = splitRoute(route)
    return this.baseUrl + fillPath(path, params) + queryString(query)
  }

  async call<T>(route: Route, options: CallOptions = {}): Promise<T> {
    return parse<T>(await this.respond(route, options))
  }

  /** Sends a request (refreshing and retrying once on 401) and returns the answer unread. */
  private async respond(route: Route, options: CallOptions): Promise<Response> {
    const { method } = splitRoute(route)
    const url = this.url(route, options.params, options.query)
    const useAuth = options.auth ?? true
    const token = useAuth ? this.tokens.accessToken() : null
    let response = await this.send(method, url, options, token)
    if (response.status === 401 && token) {
      if (await this.refreshAfterRejected(token)) {
        response = await this.send(method, url, options, this.tokens.accessToken())
      }
    }
    return response
  }

  /**
   * Makes sure the access token is valid for a while (for EventSource URLs, which cannot
   * be retried on 401). Returns the token, or null when signed out.
   */
  async freshAccessToken(): Promise<string | null> {
    const token = this.tokens.accessToken()
    if (!token) return null
    const expiresAt = this.tokens.expiresAt()
    if (expiresAt !== null && expiresAt - Date.now() < EXPIRY_MARGIN_MS) {
      await this.refreshAfterRejected(token)
    }
    return this.tokens.accessToken()
  }

  /** Refreshes once for everyone who saw `rejected` fail; true when a usable token exists. */
  private refreshAfterRejected(rejected: string): Promise<boolean> {
    if (this.tokens.accessToken() !== rejected && this.tokens.accessToken()) {
      return Promise.resolve(true)
    }
    if (!this.refreshing) {
      this.refreshing = this.lock('socialdevs-token-refresh', () => this.doRefresh(rejected)).finally(
        () => {
          this.refreshing = null
        },
      )
    }
    return this.refreshing
  }

  private async doRefresh(rejected: string): Promise<boolean> {
    // Another tab may have refreshed while we waited for the lock.
    const current = this.tokens.accessToken()
    if (current && current !== rejected) return true
    const refreshToken = this.tokens.refreshToken()
    if (!refreshToken) return false
    const { method } = splitRoute('POST /api/v1/auth/refresh')
    let response: Response
    try {
      response = await this.send(
        method,
        this.url('POST /api/v1/auth/refresh'),
        { body: { refresh_token: refreshToken } },
        null,
      )
    } catch {
      return false // offline: keep the session, the caller sees the 401
    }
    if (!response.ok) {
      if (response.status === 400 || response.status === 401 || response.status === 403) {
        this.tokens.clear()
        this.onSessionExpired?.()
      }
      return false
    }
    const session = (await response.json()) as AuthSession
    this.tokens.saveTokens(session)
    return true
  }

  private async send(
    method: string,
    url: string,
    options: CallOptions,
    token: string | null,
  ): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'application/json', ...options.headers }
    if (token) headers.Authorization = `Bearer ${token}`
    let body: string | undefined
    if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json'
      body = JSON.stringify(options.body)
    }
    try {
      return await this.fetchImpl(url, { method, headers, body, signal: options.signal })
    } catch (err) {
      if (err instanceof DOMException && err.name === 'AbortError') throw err
      throw networkError()
    }
  }

  // --- auth ---
  /**
   * Creates an account: signed in at once (201), or, when the server confirms e-mail
   * addresses, a link is mailed first (202) and nothing is signed in yet.
   */
  async register(body: RegisterRequest): Promise<Registration> {
    const response = await this.respond('POST /api/v1/auth/register', { body, auth: false })
    const answer = await parse<AuthSession | SignupPending>(response)
    return response.status === 202
      ? { kind: 'confirmation-sent', pending: answer as SignupPending }
      : { kind: 'signed-in', session: answer as AuthSession }
  }
  /** Confirms a sign-up with the token of its mailed link: the account is created and signed in. */
  verifyEmail(token: string) {
    return this.call<AuthSession>('POST /api/v1/auth/verify-email', { body: { token }, auth: false })
  }
  login(body: LoginRequest) {
    return this.call<AuthSession>('POST /api/v1/auth/login', { body, auth: false })
  }
  logout(refreshToken: string) {
    return this.call<void>('POST /api/v1/auth/logout', { body: { refresh_token: refreshToken } })
  }
  /** Signs out every session of the caller (every refresh token). */
  logoutAll() {
    return this.call<void>('POST /api/v1/auth/logout-all')
  }
  /** Changes the password; every session is signed out and a new one comes back. */
  changePassword(body: ChangePasswordRequest) {
    return this.call<AuthSession>('POST /api/v1/auth/password', { body })
  }
  me() {
    return this.call<User>('GET /api/v1/auth/me')
  }

  // --- users ---
  searchUsers(q: string, page: PageQuery = {}) {
    return this.call<Page<User>>('GET /api/v1/users', { query: { q: q || undefined, ...page } })
  }
  /** People the caller might follow (not followed yet). */
  suggestions(limit = 5) {
    return this.call<User[]>('GET /api/v1/users/suggestions', { query: { limit } })
  }
  profile(username: string) {
    return this.call<Profile>('GET /api/v1/users/{username}', { params: { username } })
  }
  updateMe(body: UpdateProfileRequest) {
    return this.call<User>('PATCH /api/v1/users/me', { body })
  }
  follow(username: string) {
    return this.call<void>('PUT /api/v1/users/{username}/follow', { params: { username } })
  }
  unfollow(username: string) {
    return this.call<void>('DELETE /api/v1/users/{username}/follow', { params: { username } })
  }
  followers(username: string, page: PageQuery = {}) {
    return this.call<Page<User>>('GET /api/v1/users/{username}/followers', {
      params: { username },
      query: { ...page },
    })
  }
  following(username: string, page: PageQuery = {}) {
    return this.call<Page<User>>('GET /api/v1/users/{username}/following', {
      params: { username },
      query: { ...page },
    })
  }

  // --- posts ---
  createPost(body: CreatePostRequest, idempotencyKey?: string) {
    return this.call<Post>('POST /api/v1/posts', {
      body,
      headers: idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : undefined,
    })
  }
  posts(query: PostsQuery = {}) {
    return this.call<Page<Post>>('GET /api/v1/posts', { query: { ...query } })
  }
  post(id: string) {
    return this.call<Post>('GET /api/v1/posts/{id}', { params: { id } })
  }
  replies(id: string, page: PageQuery = {}) {
    return this.call<Page<Post>>('GET /api/v1/posts/{id}/replies', {
      params: { id },
      query: { ...page },
    })
  }
  deletePost(id: string) {
    return this.call<void>('DELETE /api/v1/posts/{id}', { params: { id } })
  }
  like(id: string) {
    return this.call<void>('PUT /api/v1/posts/{id}/like', { params: { id } })
  }
  unlike(id: string) {
    return this.call<void>('DELETE /api/v1/posts/{id}/like', { params: { id } })
  }

  // --- timeline ---
  homeTimeline(page: PageQuery = {}) {
    return this.call<Page<Post>>('GET /api/v1/timeline/home', { query: { ...page } })
  }

  // --- notifications ---
  notifications(page: PageQuery = {}) {
    return this.call<Page<Notification>>('GET /api/v1/notifications', { query: { ...page } })
  }
  unreadCount() {
    return this.call<UnreadCount>('GET /api/v1/notifications/unread_count')
  }
  markNotificationsRead(upTo?: string) {
    return this.call<void>('POST /api/v1/notifications/read', {
      body: upTo ? { up_to: upTo } : {},
    })
  }

  /** URL of a live stream, authenticated by query parameter (EventSource sends no headers). */
  async streamUrl(
    route: 'GET /api/v1/timeline/home/stream' | 'GET /api/v1/notifications/stream',
  ): Promise<string | null> {
    const token = await this.freshAccessToken()
    if (!token) return null
    return this.url(route, undefined, { access_token: token })
  }
}

export function queryString(query?: Query): string {
  if (!query) return ''
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue
    params.set(key, String(value))
  }
  const s = params.toString()
  return s ? `?${s}` : ''
}

async function parse<T>(response: Response): Promise<T> {
  const text = await response.text().catch(() => '')
  let body: unknown = undefined
  if (text) {
    try {
      body = JSON.parse(text)
    } catch {
      body = undefined
    }
  }
  if (!response.ok) {
    const retryAfter = Number(response.headers.get('Retry-After'))
    throw new ApiError(
      toProblem(response.status, response.statusText, body),
      Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null,
    )
  }
  return body as T
}
