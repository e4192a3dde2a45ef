import type { AuthSession, User } from './types'
import type { TokenStore } from './client'

const KEY = 'socialdevs.session'

interface Saved {
  access_token: string
  refresh_token: string
  /** Epoch ms. */
  expires_at: number | null
  user: User | null
}

function storage(): Storage | null {
  try {
    return typeof localStorage !== 'undefined' ? localStorage : null
  } catch {
    return null // storage disabled by the browser
  }
}

function read(): Saved | null {
  const raw = storage()?.getItem(KEY)
  if (!raw) return null
  try {
    const saved = JSON.parse(raw) as Saved
    return typeof saved.access_token === 'string' && typeof saved.refresh_token === 'string' ? saved : null
  } catch {
    return null
  }
}

function write(saved: Saved | null): void {
  const s = storage()
  if (!s) return
  if (saved) s.setItem(KEY, JSON.stringify(saved))
  else s.removeItem(KEY)
}

/**
 * Keeps the session in localStorage so it survives reloads and is shared by tabs. It is read
 * afresh on every use, so a refresh done by one tab is seen by the others.
 */
export const localSession: TokenStore & {
  user(): User | null
  saveSession(session: AuthSession): void
  saveUser(user: User): void
} = {
  accessToken: () => read()?.access_token ?? null,
  refreshToken: () => read()?.refresh_token ?? null,
  expiresAt: () => read()?.expires_at ?? null,
  user: () => read()?.user ?? null,
  saveTokens(tokens) {
    const prev = read()
    write({
      access_token: tokens.access_token,
      refresh_token: tokens.refresh_token,
      expires_at: expiry(tokens.expires_in),
      user: prev?.user ?? null,
    })
  },
  saveSession(session) {
    write({
      access_token: session.access_token,
      refresh_token: session.refresh_token,
      expires_at: expiry(session.expires_in),
      user: session.user,
    })
  },
  saveUser(user) {
    const prev = read()
    if (prev) write({ ...prev, user })
  },
  clear: () => write(null),
}

function expiry(expiresIn: number | undefined): number | null {
  return typeof expiresIn === 'number' && expiresIn > 0 ? Date.now() + expiresIn * 1000 : null
}
