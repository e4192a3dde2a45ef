import { ApiClient } from './client'
import { localSession } from './session'

export { ApiClient } from './client'
export { ApiError, errorMessage } from './problem'
export type * from './types'

type ExpiredListener = () => void
const expiredListeners = new Set<ExpiredListener>()

/** Runs `fn` when the session can no longer be refreshed. */
export function onSessionExpired(fn: ExpiredListener): () => void {
  expiredListeners.add(fn)
  return () => expiredListeners.delete(fn)
}

let client = new ApiClient({
  baseUrl: import.meta.env.VITE_API_BASE_URL ?? '',
  tokens: localSession,
  onSessionExpired: () => expiredListeners.forEach((fn) => fn()),
})

/** The app's API client. */
export function useApi(): ApiClient {
  return client
}

/** Replaces the client (tests use a client with a fake fetch). */
export function setApi(next: ApiClient): void {
  client = next
}
