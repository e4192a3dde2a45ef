// Shapes of the SocialDevs public API (v1), written to the contract in API.md.
// `contract.ts` lists the same fields at run time so tests can check them against
// the OpenAPI document the server publishes.

/** An account as the API shows it to everyone. */
export interface User {
  id: string
  username: string
  display_name: string
  bio: string
  created_at: string
}

/** A user plus counts and the caller's relation to them. */
export interface Profile extends User {
  followers_count: number
  following_count: number
  posts_count: number
  followed_by_me: boolean
}

/** The author as embedded in a post. */
export interface PostAuthor {
  id: string
  username: string
  display_name: string
}

export interface Post {
  id: string
  author: PostAuthor
  text: string
  created_at: string
  reply_to: string | null
  like_count: number
  reply_count: number
  liked_by_me: boolean
  hashtags: string[]
  mentions: string[]
}

export type NotificationKind = 'followed' | 'liked' | 'mentioned' | 'replied'

export interface Notification {
  id: string
  kind: NotificationKind
  actor: User
  post?: Post | null
  created_at: string
  read: boolean
}

/** One page of a cursor-paginated list. */
export interface Page<T> {
  items: T[]
  next_cursor: string | null
}

/** Answer of register, login, refresh and verify-email. */
export interface AuthSession {
  user: User
  access_token: string
  refresh_token: string
  expires_in: number
}

/** Answer of register (202) when the server confirms e-mail addresses: a link was mailed. */
export interface SignupPending {
  status: 'confirmation_sent'
  /** The address the link was mailed to. */
  email: string
  /** How long the link works, in seconds. */
  expires_in: number
}

/** What register did: signed in at once (201), or mailed a confirmation link first (202). */
export type Registration =
  | { kind: 'signed-in'; session: AuthSession }
  | { kind: 'confirmation-sent'; pending: SignupPending }

export interface RegisterRequest {
  username: string
  email: string
  password: string
  display_name?: string
}

export interface LoginRequest {
  /** Username or email. */
  login: string
  password: string
}

export interface ChangePasswordRequest {
  current_password: string
  /** 12–128 characters, not the current one. */
  new_password: string
}

export interface UpdateProfileRequest {
  display_name?: string
  bio?: string
}

export interface CreatePostRequest {
  text: string
  reply_to?: string
}

export interface PageQuery {
  limit?: number
  cursor?: string | null
}

export interface PostsQuery extends PageQuery {
  author?: string
  tag?: string
}

export interface UnreadCount {
  count: number
}

/** One failing field of a validation problem. */
export interface FieldError {
  field: string
  message: string
}

/** RFC 9457 problem details, as every SocialDevs service answers errors. */
export interface ProblemDetails {
  type: string
  title: string
  status: number
  detail?: string
  errors?: FieldError[]
}
