import { test as base, expect, type APIRequestContext, type BrowserContext, type Page } from '@playwright/test'

/** Tests get the server that global setup started. */
export const test = base.extend({
  // eslint-disable-next-line no-empty-pattern
  baseURL: async ({}, use) => {
    const url = process.env.E2E_BASE_URL
    if (!url) throw new Error('E2E_BASE_URL is not set: global setup did not start the server')
    await use(url)
  },
})
export { expect }

export interface Account {
  username: string
  email: string
  password: string
  displayName: string
}

let counter = 0
/** A username no other test (or earlier run) uses: 3–30 letters, digits, underscores. */
export function account(prefix: string, displayName?: string, exactUsername = false): Account {
  const suffix = `${Date.now().toString(36).slice(-5)}${(counter++).toString(36)}${Math.random().toString(36).slice(2, 5)}`
  const username = exactUsername ? prefix : `${prefix}_${suffix}`.slice(0, 30)
  return {
    username,
    email: `${username}@example.com`,
    password: `pw-${suffix}-Secret!`,
    displayName: displayName ?? prefix.charAt(0).toUpperCase() + prefix.slice(1),
  }
}

export interface Session {
  user: { id: string; username: string }
  access_token: string
  refresh_token: string
  expires_in: number
}

/** Registers through the API (for accounts a test needs but is not about). */
export async function registerViaApi(request: APIRequestContext, a: Account): Promise<Session> {
  const res = await request.post('/api/v1/auth/register', {
    data: { username: a.username, email: a.email, password: a.password, display_name: a.displayName },
  })
  expect(res.status(), await res.text()).toBe(201)
  return (await res.json()) as Session
}

/** Fills in and sends the sign-up page. */
export async function signUpViaUi(page: Page, a: Account): Promise<void> {
  await page.goto('/register')
  await page.getByLabel('Username', { exact: true }).fill(a.username)
  await page.getByLabel('Display name (optional)').fill(a.displayName)
  await page.getByLabel('Email').fill(a.email)
  await page.getByLabel('Password').fill(a.password)
  await page.getByRole('button', { name: 'Create account' }).click()
}

/** Registers through the sign-up page and waits for the home timeline. */
export async function registerViaUi(page: Page, a: Account): Promise<void> {
  await signUpViaUi(page, a)
  await expect(page).toHaveURL(/\/$/)
  await expect(page.getByRole('heading', { name: 'Home', level: 1 })).toBeVisible()
}

/** Starts a browser context already signed in with `session`. */
export async function signedInContext(context: BrowserContext, session: Session): Promise<void> {
  const saved = {
    access_token: session.access_token,
    refresh_token: session.refresh_token,
    expires_at: Date.now() + session.expires_in * 1000,
    user: session.user,
  }
  // Only on the first page load of each tab, so logging out stays logged out.
  await context.addInitScript((value) => {
    if (sessionStorage.getItem('e2e.seeded')) return
    sessionStorage.setItem('e2e.seeded', '1')
    localStorage.setItem('socialdevs.session', value)
  }, JSON.stringify(saved))
}

/** Creates a post through the API. */
export async function postViaApi(request: APIRequestContext, session: Session, text: string, replyTo?: string) {
  const res = await request.post('/api/v1/posts', {
    headers: { Authorization: `Bearer ${session.access_token}` },
    data: replyTo ? { text, reply_to: replyTo } : { text },
  })
  expect(res.status(), await res.text()).toBe(201)
  return (await res.json()) as { id: string; text: string }
}

export async function followViaApi(request: APIRequestContext, session: Session, username: string) {
  const res = await request.put(`/api/v1/users/${username}/follow`, {
    headers: { Authorization: `Bearer ${session.access_token}` },
  })
  expect(res.status(), await res.text()).toBe(204)
}

export async function likeViaApi(request: APIRequestContext, session: Session, postId: string) {
  const res = await request.put(`/api/v1/posts/${postId}/like`, {
    headers: { Authorization: `Bearer ${session.access_token}` },
  })
  expect(res.status(), await res.text()).toBe(204)
}

/** The post on screen whose text contains `text`. */
export function postCard(page: Page, text: string) {
  return page.getByRole('article').filter({ hasText: text })
}

export interface NotificationItem {
  id: string
  kind: 'followed' | 'liked' | 'mentioned' | 'replied'
  actor: { id: string; username: string; display_name: string }
  post: { id: string; text: string } | null
  created_at: string
  read: boolean
}

/** The newest notifications of `session`'s user (one page), through the API. */
export async function notificationsViaApi(request: APIRequestContext, session: Session): Promise<NotificationItem[]> {
  const res = await request.get('/api/v1/notifications?limit=50', {
    headers: { Authorization: `Bearer ${session.access_token}` },
  })
  expect(res.status(), await res.text()).toBe(200)
  return ((await res.json()) as { items: NotificationItem[] }).items
}

/** How many notifications of `session`'s user are unread, through the API. */
export async function unreadCountViaApi(request: APIRequestContext, session: Session): Promise<number> {
  const res = await request.get('/api/v1/notifications/unread_count', {
    headers: { Authorization: `Bearer ${session.access_token}` },
  })
  expect(res.status(), await res.text()).toBe(200)
  return ((await res.json()) as { count: number }).count
}
