import type { FieldError, ProblemDetails } from './types'

/** The stable kinds of problem the services answer, from the last segment of `type`. */
export type ProblemKind =
  | 'validation'
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'conflict'
  | 'rate-limited'
  | 'network'
  | 'server'
  | (string & {})

/** An API call that did not succeed, carrying the server's problem details. */
export class ApiError extends Error {
  readonly status: number
  readonly kind: ProblemKind
  readonly title: string
  readonly detail: string
  readonly fieldErrors: FieldError[]
  /** Seconds to wait before retrying, from `Retry-After` on 429. */
  readonly retryAfter: number | null

  constructor(problem: ProblemDetails, retryAfter: number | null = null) {
    const detail = problem.detail || problem.title || 'Something went wrong.'
    super(detail)
    this.name = 'ApiError'
    this.status = problem.status
    this.kind = problemKind(problem)
    this.title = problem.title
    this.detail = detail
    this.fieldErrors = Array.isArray(problem.errors) ? problem.errors : []
    this.retryAfter = retryAfter
  }

  /** The message for one field, if the server named it. */
  fieldError(field: string): string | undefined {
    return this.fieldErrors.find((e) => e.field === field)?.message
  }

  /** Field messages keyed by field name (first message wins). */
  fieldMap(): Record<string, string> {
    const map: Record<string, string> = {}
    for (const e of this.fieldErrors) {
      if (!(e.field in map)) map[e.field] = e.message
    }
    return map
  }
}

/** Picks the machine-readable kind out of a problem's `type` URI, falling back to the status. */
export function problemKind(problem: Pick<ProblemDetails, 'type' | 'status'>): ProblemKind {
  const type = typeof problem.type === 'string' ? problem.type : ''
  const segment = type.replace(/[?#].*$/, '').replace(/\/+$/, '').split('/').pop() ?? ''
  if (segment && segment !== 'about:blank' && type !== 'about:blank') return segment
  switch (problem.status) {
    case 400:
    case 422:
      return 'validation'
    case 401:
      return 'unauthorized'
    case 403:
      return 'forbidden'
    case 404:
      return 'not-found'
    case 409:
      return 'conflict'
    case 429:
      return 'rate-limited'
    default:
      return problem.status >= 500 ? 'server' : 'unknown'
  }
}

/** Builds problem details from any error answer, even one that is not problem+json. */
export function toProblem(status: number, statusText: string, body: unknown): ProblemDetails {
  if (body && typeof body === 'object' && ('type' in body || 'title' in body || 'detail' in body)) {
    const b = body as Partial<ProblemDetails>
    return {
      type: typeof b.type === 'string' ? b.type : 'about:blank',
      title: typeof b.title === 'string' ? b.title : statusText || `HTTP ${status}`,
      status: typeof b.status === 'number' ? b.status : status,
      detail: typeof b.detail === 'string' ? b.detail : undefined,
      errors: Array.isArray(b.errors) ? b.errors : undefined,
    }
  }
  return {
    type: 'about:blank',
    title: statusText || `HTTP ${status}`,
    status,
    detail: status >= 500 ? 'The server had a problem. Please try again in a moment.' : undefined,
  }
}

/** An ApiError for a request that never got an answer. */
export function networkError(): ApiError {
  return new ApiError({
    type: 'https://socialdevs.dev/problems/network',
    title: 'Network error',
    status: 0,
    detail: 'Could not reach SocialDevs. Check your connection and try again.',
  })
}

/** A human sentence for any thrown value. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.kind === 'rate-limited') {
      return err.retryAfter
        ? `Slow down a little — try again in ${err.retryAfter} s.`
        : 'Slow down a little — try again in a moment.'
    }
    return err.detail
  }
  if (err instanceof Error) return err.message
  return 'Something went wrong.'
}
