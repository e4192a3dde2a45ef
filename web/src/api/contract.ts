// Run-time lists of the fields our types expect, and a checker that compares them (and our
// routes) with an OpenAPI document. Used by a unit test on a saved copy of the server's
// document and by an end-to-end test on the live one.
import { OPTIONAL_ROUTE_PREFIXES, ROUTES, splitRoute, type Route } from './routes'
import type { AuthSession, Notification, Post, PostAuthor, Profile, SignupPending, User } from './types'

/** Returns the list; does not compile unless the list names every field of T. */
function complete<T>() {
  return <L extends readonly (keyof T)[]>(
    list: L,
    ..._missing: [Exclude<keyof T, L[number]>] extends [never] ? [] : [missing: Exclude<keyof T, L[number]>]
  ) => list
}

const USER = ['id', 'username', 'display_name', 'bio', 'created_at'] as const
const PROFILE = [...USER, 'followers_count', 'following_count', 'posts_count', 'followed_by_me'] as const
const AUTHOR = ['id', 'username', 'display_name'] as const
const POST = [
  'id',
  'author',
  'text',
  'created_at',
  'reply_to',
  'like_count',
  'reply_count',
  'liked_by_me',
  'hashtags',
  'mentions',
] as const
const SESSION = ['user', 'access_token', 'refresh_token', 'expires_in'] as const
const SIGNUP_PENDING = ['status', 'email', 'expires_in'] as const
const NOTIFICATION = ['id', 'kind', 'actor', 'post', 'created_at', 'read'] as const

/** Every field of each type, checked to be complete by the compiler. */
export const FIELDS = {
  User: complete<User>()(USER),
  Profile: complete<Profile>()(PROFILE),
  PostAuthor: complete<PostAuthor>()(AUTHOR),
  Post: complete<Post>()(POST),
  AuthSession: complete<AuthSession>()(SESSION),
  SignupPending: complete<SignupPending>()(SIGNUP_PENDING),
  Notification: complete<Notification>()(NOTIFICATION),
}

/** Fields the contract marks optional, which a schema may leave out. */
const OPTIONAL_FIELDS: Record<string, readonly string[]> = { Notification: ['post'] }

/** Which answer of which route has which shape. `page` means `{items: [shape], next_cursor}`. */
const RESPONSES: { route: Route; status: string; shape: keyof typeof FIELDS; page?: boolean }[] = [
  { route: 'POST /api/v1/auth/register', status: '201', shape: 'AuthSession' },
  { route: 'POST /api/v1/auth/register', status: '202', shape: 'SignupPending' },
  { route: 'POST /api/v1/auth/verify-email', status: '201', shape: 'AuthSession' },
  { route: 'POST /api/v1/auth/login', status: '200', shape: 'AuthSession' },
  { route: 'GET /api/v1/auth/me', status: '200', shape: 'User' },
  { route: 'GET /api/v1/users', status: '200', shape: 'User', page: true },
  { route: 'GET /api/v1/users/{username}', status: '200', shape: 'Profile' },
  { route: 'PATCH /api/v1/users/me', status: '200', shape: 'User' },
  { route: 'GET /api/v1/users/{username}/followers', status: '200', shape: 'User', page: true },
  { route: 'POST /api/v1/posts', status: '201', shape: 'Post' },
  { route: 'GET /api/v1/posts', status: '200', shape: 'Post', page: true },
  { route: 'GET /api/v1/posts/{id}', status: '200', shape: 'Post' },
  { route: 'GET /api/v1/posts/{id}/replies', status: '200', shape: 'Post', page: true },
  { route: 'GET /api/v1/timeline/home', status: '200', shape: 'Post', page: true },
  { route: 'GET /api/v1/notifications', status: '200', shape: 'Notification', page: true },
]

interface Schema {
  $ref?: string
  type?: string | string[]
  properties?: Record<string, Schema>
  items?: Schema
  allOf?: Schema[]
  oneOf?: Schema[]
  anyOf?: Schema[]
}

export interface OpenApiDocument {
  paths?: Record<string, Record<string, { responses?: Record<string, { content?: Record<string, { schema?: Schema }> }> }>>
  components?: { schemas?: Record<string, Schema> }
}

export interface ContractReport {
  /** Things the web app needs that the document lacks. */
  problems: string[]
  /** Routes of services that may not be deployed yet and are missing. */
  missingOptional: string[]
}

/** Compares the document with what the web app calls and reads. */
export function checkContract(doc: OpenApiDocument): ContractReport {
  const problems: string[] = []
  const missingOptional: string[] = []
  const isOptional = (path: string) => OPTIONAL_ROUTE_PREFIXES.some((p) => path.startsWith(p))

  for (const route of ROUTES) {
    const { method, path } = splitRoute(route)
    if (!findOperation(doc, method, path)) (isOptional(path) ? missingOptional : problems).push(`missing operation ${route}`)
  }

  for (const r of RESPONSES) {
    const { method, path } = splitRoute(r.route)
    const op = findOperation(doc, method, path)
    if (!op) continue // already reported
    const content = op.responses?.[r.status]?.content
    let schema = content?.['application/json']?.schema ?? Object.values(content ?? {})[0]?.schema
    if (!schema) {
      problems.push(`${r.route}: no schema for ${r.status}`)
      continue
    }
    if (r.page) {
      const props = properties(doc, schema)
      if (!props.items) {
        problems.push(`${r.route}: page has no items`)
        continue
      }
      if (!props.next_cursor) problems.push(`${r.route}: page has no next_cursor`)
      schema = resolve(doc, props.items).items ?? {}
    }
    problems.push(...checkShape(doc, schema, r.shape, r.route))
  }
  return { problems, missingOptional }
}

function checkShape(doc: OpenApiDocument, schema: Schema, shape: keyof typeof FIELDS, where: string): string[] {
  const props = properties(doc, schema)
  const optional = OPTIONAL_FIELDS[shape] ?? []
  const out: string[] = []
  for (const field of FIELDS[shape]) {
    if (!props[field] && !optional.includes(field)) out.push(`${where}: ${shape} lacks ${field}`)
  }
  const nested: [string, keyof typeof FIELDS][] =
    shape === 'Post' ? [['author', 'PostAuthor']] : shape === 'AuthSession' ? [['user', 'User']] : shape === 'Notification' ? [['actor', 'User']] : []
  for (const [field, inner] of nested) {
    if (props[field]) out.push(...checkShape(doc, props[field], inner, `${where}.${field}`))
  }
  return out
}

/** Finds an operation, accepting any parameter names in the path template. */
function findOperation(doc: OpenApiDocument, method: string, path: string) {
  const norm = (p: string) => p.replace(/\{[^}]+\}/g, '{}')
  const key = Object.keys(doc.paths ?? {}).find((p) => norm(p) === norm(path))
  return key ? doc.paths?.[key]?.[method.toLowerCase()] : undefined
}

function resolve(doc: OpenApiDocument, schema: Schema, depth = 0): Schema {
  if (depth > 20) return schema
  if (schema.$ref) {
    const name = schema.$ref.split('/').pop() ?? ''
    const target = doc.components?.schemas?.[name]
    return target ? resolve(doc, target, depth + 1) : {}
  }
  return schema
}

/** The properties of a schema, merging allOf and the non-null branch of oneOf/anyOf. */
function properties(doc: OpenApiDocument, schema: Schema, depth = 0): Record<string, Schema> {
  const s = resolve(doc, schema)
  if (depth > 20) return {}
  let props: Record<string, Schema> = { ...(s.properties ?? {}) }
  for (const part of s.allOf ?? []) props = { ...props, ...properties(doc, part, depth + 1) }
  for (const part of [...(s.oneOf ?? []), ...(s.anyOf ?? [])]) {
    const r = resolve(doc, part)
    if (r.type !== 'null') props = { ...props, ...properties(doc, r, depth + 1) }
  }
  return props
}
