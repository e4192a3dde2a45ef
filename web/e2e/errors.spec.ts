import { account, expect, postViaApi, registerViaApi, signedInContext, test } from './fixtures'

test('a taken username is refused next to the username field', async ({ page, request }) => {
  const taken = account('taken')
  await registerViaApi(request, taken)
  await page.goto('/register')
  await page.getByLabel('Username', { exact: true }).fill(taken.username)
  await page.getByLabel('Email').fill(`other_${taken.email}`)
  await page.getByLabel('Password').fill('another-long-password')
  await page.getByRole('button', { name: 'Create account' }).click()
  const field = page.locator('.field').filter({ has: page.getByLabel('Username', { exact: true }) })
  await expect(field.getByRole('alert')).toBeVisible()
  await expect(field.getByRole('alert')).toHaveText(/taken|exists|already|in use/i)
  await expect(page.getByLabel('Username', { exact: true })).toHaveAttribute('aria-invalid', 'true')
  await expect(page).toHaveURL(/\/register$/)
})

test('a taken email is refused next to the email field', async ({ page, request }) => {
  const first = account('mail')
  await registerViaApi(request, first)
  const second = account('mail2')
  await page.goto('/register')
  await page.getByLabel('Username', { exact: true }).fill(second.username)
  await page.getByLabel('Email').fill(first.email)
  await page.getByLabel('Password').fill(second.password)
  await page.getByRole('button', { name: 'Create account' }).click()
  const field = page.locator('.field').filter({ has: page.getByLabel('Email') })
  await expect(field.getByRole('alert')).toHaveText(/taken|exists|already|in use|registered/i)
})

test('the sign-up form explains bad input before asking the server', async ({ page }) => {
  await page.goto('/register')
  await page.getByLabel('Username', { exact: true }).fill('no spaces!')
  await page.getByLabel('Email').fill('not-an-email')
  await page.getByLabel('Password').fill('short')
  await page.getByRole('button', { name: 'Create account' }).click()
  await expect(page.getByText('Usernames are 3–30 characters')).toBeVisible()
  await expect(page.getByText('Enter a valid email address.')).toBeVisible()
  await expect(page.getByText('Use at least 12 characters.')).toBeVisible()
})

test('a wrong password says so clearly and keeps the user on the login page', async ({ page, request }) => {
  const user = account('grace')
  await registerViaApi(request, user)
  await page.goto('/login')
  await page.getByLabel('Username or email').fill(user.username)
  await page.getByLabel('Password').fill('definitely-not-the-password')
  await page.getByRole('button', { name: 'Log in' }).click()
  await expect(page.getByTestId('form-error')).toHaveText(/Wrong username, email or password/)
  await expect(page).toHaveURL(/\/login$/)

  // The right password (by email this time) gets in.
  await page.getByLabel('Password').fill(user.password)
  await page.getByLabel('Username or email').fill(user.email)
  await page.getByRole('button', { name: 'Log in' }).click()
  await expect(page.getByRole('heading', { name: 'Home', level: 1 })).toBeVisible()
})

test('an over-long post is explained and cannot be sent; the server counts as the counter does', async ({ browser, baseURL, request }) => {
  const user = account('counter')
  const session = await registerViaApi(request, user)
  const context = await browser.newContext({ baseURL })
  await signedInContext(context, session)
  const page = await context.newPage()
  await page.goto('/')
  const box = page.getByLabel('Post text')
  const send = page.getByRole('button', { name: 'Post', exact: true })

  await box.fill('x'.repeat(281))
  await expect(page.getByRole('alert')).toHaveText(/1 character too long.*up to 280 characters/)
  await expect(page.getByTestId('char-counter')).toHaveAttribute('data-remaining', '-1')
  await expect(send).toBeDisabled()

  // 280 family emoji are 280 characters for people, the counter and the server alike.
  const family = '👨‍👩‍👧‍👦'
  await box.fill(family.repeat(280))
  await expect(page.getByTestId('char-counter')).toHaveAttribute('data-remaining', '0')
  await expect(send).toBeEnabled()
  await send.click()
  await expect(box).toHaveValue('')
  await expect(page.getByRole('feed', { name: 'Home timeline' }).getByRole('article').first()).toContainText(family)

  // And the server refuses 281 with a field error the compose box would show.
  const res = await request.post('/api/v1/posts', {
    headers: { Authorization: `Bearer ${session.access_token}` },
    data: { text: family.repeat(281) },
  })
  expect(res.status()).toBe(422)
  expect(res.headers()['content-type']).toContain('application/problem+json')
  const body = await res.json()
  expect(body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'text' })]))
  await context.close()
})

test('a post that is gone says so instead of failing', async ({ page, request }) => {
  const user = account('ghost')
  const session = await registerViaApi(request, user)
  const post = await postViaApi(request, session, 'here today')
  const del = await request.delete(`/api/v1/posts/${post.id}`, { headers: { Authorization: `Bearer ${session.access_token}` } })
  expect(del.status()).toBe(204)
  await page.goto(`/posts/${post.id}`)
  await expect(page.getByRole('heading', { name: 'This post doesn’t exist' })).toBeVisible()
  await page.goto('/@no_such_user_here')
  await expect(page.getByRole('heading', { name: 'This account doesn’t exist' })).toBeVisible()
})
