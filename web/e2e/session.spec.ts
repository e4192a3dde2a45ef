import { account, expect, followViaApi, postViaApi, registerViaApi, signedInContext, test } from './fixtures'

test('an expired access token is refreshed once, centrally, and the refresh token rotates', async ({ browser, baseURL, request }) => {
  const user = account('refresh')
  const session = await registerViaApi(request, user)
  await postViaApi(request, session, 'still here after a refresh')
  const context = await browser.newContext({ baseURL })
  await signedInContext(context, { ...session, access_token: 'not-a-valid-token' })
  const page = await context.newPage()
  const refreshes: number[] = []
  page.on('response', (r) => {
    if (r.url().endsWith('/api/v1/auth/refresh')) refreshes.push(r.status())
  })
  await page.goto('/')
  await expect(page.getByText('still here after a refresh')).toBeVisible()
  expect(refreshes).toEqual([200])
  const saved = await page.evaluate(() => JSON.parse(localStorage.getItem('socialdevs.session') ?? '{}'))
  expect(saved.refresh_token).not.toBe(session.refresh_token)
  expect(saved.access_token).not.toBe('not-a-valid-token')

  // The old refresh token stopped working.
  const old = await request.post('/api/v1/auth/refresh', { data: { refresh_token: session.refresh_token } })
  expect(old.status()).toBe(401)
  await context.close()
})

test('a session that cannot be refreshed sends the user to log in again', async ({ browser, baseURL, request }) => {
  const user = account('expired')
  const session = await registerViaApi(request, user)
  const context = await browser.newContext({ baseURL })
  await signedInContext(context, { ...session, access_token: 'bad', refresh_token: 'also-bad' })
  const page = await context.newPage()
  await page.goto('/settings')
  await expect(page).toHaveURL(/\/login/)
  await expect(page.getByRole('heading', { name: 'Log in to SocialDevs' })).toBeVisible()
  await context.close()
})

test('logging out ends the session and protects private pages', async ({ browser, baseURL, request }) => {
  const session = await registerViaApi(request, account('bye'))
  const context = await browser.newContext({ baseURL })
  await signedInContext(context, session)
  const page = await context.newPage()
  await page.goto('/')
  await page.getByRole('button', { name: 'Log out' }).click()
  await expect(page).toHaveURL(/\/login$/)
  await page.goto('/notifications')
  await expect(page).toHaveURL(/\/login\?redirect=(%2F|\/)notifications$/)
  const refresh = await request.post('/api/v1/auth/refresh', { data: { refresh_token: session.refresh_token } })
  expect(refresh.status()).toBe(401)
  await context.close()
})

test('settings change the display name and bio shown on the profile', async ({ browser, baseURL, request }) => {
  const user = account('settings')
  const session = await registerViaApi(request, user)
  const context = await browser.newContext({ baseURL })
  await signedInContext(context, session)
  const page = await context.newPage()
  await page.goto('/settings')
  await page.getByLabel('Display name').fill('Margaret H.')
  await page.getByLabel('Bio').fill('Wrote the code that went to the Moon. #apollo')
  await page.getByRole('button', { name: 'Save' }).click()
  await expect(page.getByRole('status').filter({ hasText: 'Saved' }).first()).toBeVisible()
  await page.goto(`/@${user.username}`)
  await expect(page.getByRole('heading', { name: 'Margaret H.', level: 2 })).toBeVisible()
  await expect(page.getByText('Wrote the code that went to the Moon.')).toBeVisible()
  await context.close()
})

test('changing the password keeps this session and signs out the others', async ({ browser, baseURL, request }) => {
  const user = account('newpass')
  const session = await registerViaApi(request, user)
  const elsewhere = await request.post('/api/v1/auth/login', { data: { login: user.username, password: user.password } })
  expect(elsewhere.status()).toBe(200)
  const other = (await elsewhere.json()) as { refresh_token: string }
  const context = await browser.newContext({ baseURL })
  await signedInContext(context, session)
  const page = await context.newPage()
  await page.goto('/settings')

  // A wrong current password is named on its field; nothing changes.
  await page.getByLabel('Current password').fill('not-my-password-at-all')
  await page.getByLabel('New password').fill('a-much-better-passphrase')
  await page.getByRole('button', { name: 'Change password' }).click()
  await expect(page.getByText('Current password is not your current password.')).toBeVisible()

  await page.getByLabel('Current password').fill(user.password)
  await page.getByRole('button', { name: 'Change password' }).click()
  await expect(page.getByText('Password changed. Other sessions are signed out.')).toBeVisible()
  // This tab goes on with its new session; the other session's refresh token is dead.
  await page.goto('/notifications')
  await expect(page).toHaveURL(/\/notifications$/)
  const refused = await request.post('/api/v1/auth/refresh', { data: { refresh_token: other.refresh_token } })
  expect(refused.status()).toBe(401)
  const oldPassword = await request.post('/api/v1/auth/login', { data: { login: user.username, password: user.password } })
  expect(oldPassword.status()).toBe(401)
  const newPassword = await request.post('/api/v1/auth/login', { data: { login: user.username, password: 'a-much-better-passphrase' } })
  expect(newPassword.status()).toBe(200)
  await context.close()
})

test('signing out everywhere ends every session and returns to the login page', async ({ browser, baseURL, request }) => {
  const user = account('everywhere')
  const session = await registerViaApi(request, user)
  const elsewhere = await request.post('/api/v1/auth/login', { data: { login: user.username, password: user.password } })
  const other = (await elsewhere.json()) as { refresh_token: string }
  const context = await browser.newContext({ baseURL })
  await signedInContext(context, session)
  const page = await context.newPage()
  await page.goto('/settings')
  await page.getByRole('button', { name: 'Sign out everywhere' }).click()
  await expect(page).toHaveURL(/\/login$/)
  for (const token of [session.refresh_token, other.refresh_token]) {
    const refused = await request.post('/api/v1/auth/refresh', { data: { refresh_token: token } })
    expect(refused.status()).toBe(401)
  }
  await context.close()
})

test('the home timeline pages in older posts as the reader scrolls', async ({ browser, baseURL, request }) => {
  const reader = await registerViaApi(request, account('reader'))
  const writer = account('writer')
  const writerSession = await registerViaApi(request, writer)
  await followViaApi(request, reader, writer.username)
  for (let i = 1; i <= 26; i++) await postViaApi(request, writerSession, `numbered post ${String(i).padStart(2, '0')}`)

  const context = await browser.newContext({ baseURL })
  await signedInContext(context, reader)
  const page = await context.newPage()
  await page.goto('/')
  const feed = page.getByRole('feed', { name: 'Home timeline' })
  await expect(feed.getByText('numbered post 26')).toBeVisible()
  await expect(feed.getByText('numbered post 01')).toHaveCount(0)
  await feed.getByRole('article').last().scrollIntoViewIfNeeded()
  await page.mouse.wheel(0, 5000)
  await expect(feed.getByText('numbered post 01')).toBeVisible()
  await expect(feed.getByRole('article')).toHaveCount(26)
  await context.close()
})

test('Explore lists everyone’s posts and finds people', async ({ page, request }) => {
  const someone = account('findme', 'Findable Person')
  const session = await registerViaApi(request, someone)
  await postViaApi(request, session, 'hello from explore #explore')
  await page.goto('/explore')
  await expect(page.getByText('hello from explore')).toBeVisible()
  await page.getByLabel('Search people by name or username').fill(someone.username)
  await page.getByRole('button', { name: 'Search' }).click()
  await expect(page.getByRole('region', { name: 'People' }).getByText(`@${someone.username}`)).toBeVisible()
})

test('the app is served with history fallback and can be used by keyboard', async ({ page, request }) => {
  const session = await registerViaApi(request, account('keys'))
  const post = await postViaApi(request, session, 'deep link target')
  // A deep link loads the app straight away (history-mode fallback to index.html).
  const res = await page.goto(`/posts/${post.id}`)
  expect(res?.status()).toBe(200)
  await expect(page.getByText('deep link target')).toBeVisible()
  // The skip link is the first stop and moves focus to the content.
  await page.keyboard.press('Tab')
  await expect(page.getByRole('link', { name: 'Skip to content' })).toBeFocused()
  const outline = await page.getByRole('link', { name: 'Skip to content' }).evaluate((el) => getComputedStyle(el).outlineStyle)
  expect(outline).not.toBe('none')
})
