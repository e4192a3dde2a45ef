import type { Page } from '@playwright/test'
import {
  account,
  expect,
  followViaApi,
  likeViaApi,
  notificationsViaApi,
  postViaApi,
  registerViaApi,
  signedInContext,
  test,
  unreadCountViaApi,
} from './fixtures'

// Notifications against the real notifications service: the unread badge in the side
// navigation counts live over the stream, the Notifications page lists what happened
// (newest first) and marks it read, and nobody is notified of their own acts.

/** The Notifications entry of the side navigation. */
function notificationsLink(page: Page) {
  return page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Notifications/ })
}

/** The list on the Notifications page. */
function feed(page: Page) {
  return page.getByRole('region', { name: 'Notifications' })
}

/** Waits until the page listens to the notifications stream, so what follows arrives live. */
async function waitForLiveNotifications(page: Page) {
  await expect(notificationsLink(page)).toHaveAttribute('data-live', 'live')
}

/**
 * What an item says, as a pattern: each part in order (spaces match any white space), so
 * `said('Bea liked your post', 'the post text')` matches the item about Bea's like of that post.
 */
function said(...parts: string[]) {
  const escape = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/ +/g, '\\s+')
  return new RegExp(parts.map(escape).join('[\\s\\S]*'))
}

/** Marks the document, to tell later whether the page was reloaded. */
async function markDocument(page: Page) {
  await page.evaluate(() => ((window as unknown as Record<string, unknown>).__sameDocument = true))
}

async function sameDocument(page: Page) {
  return page.evaluate(() => (window as unknown as Record<string, unknown>).__sameDocument === true)
}

test('the unread badge counts a follow and a like live, without a reload', async ({ browser, baseURL, request }) => {
  const ana = account('ana', 'Ana Author')
  const bea = account('bea', 'Bea Builder')
  const a = await registerViaApi(request, ana)
  const b = await registerViaApi(request, bea)
  const post = await postViaApi(request, a, 'Notifications are live now')

  const context = await browser.newContext({ baseURL })
  await signedInContext(context, a)
  const page = await context.newPage()
  await page.goto('/')
  await expect(page.getByRole('heading', { name: 'Home', level: 1 })).toBeVisible()
  await waitForLiveNotifications(page)
  await expect(page.getByTestId('unread-badge')).toHaveCount(0)
  await markDocument(page)

  await test.step('Bea follows Ana: the badge shows 1', async () => {
    await followViaApi(request, b, ana.username)
    await expect(page.getByTestId('unread-badge')).toHaveText('1')
    await expect(notificationsLink(page)).toContainText('(1 unread)')
  })

  await test.step('Bea likes Ana’s post: the badge shows 2', async () => {
    await likeViaApi(request, b, post.id)
    await expect(page.getByTestId('unread-badge')).toHaveText('2')
    await expect(notificationsLink(page)).toContainText('(2 unread)')
  })

  expect(await sameDocument(page), 'the badge changed without a reload').toBe(true)
  expect(await unreadCountViaApi(request, a)).toBe(2)
  await context.close()
})

test('the Notifications page lists what happened, newest first, and opening it marks all read', async ({ browser, baseURL, request }) => {
  const ana = account('ana', 'Ana Author')
  const bea = account('bea', 'Bea Builder')
  const a = await registerViaApi(request, ana)
  const b = await registerViaApi(request, bea)
  const post = await postViaApi(request, a, 'Refactored the build scripts today')
  await followViaApi(request, b, ana.username)
  await likeViaApi(request, b, post.id)
  await expect.poll(() => unreadCountViaApi(request, a)).toBe(2)

  const context = await browser.newContext({ baseURL })
  await signedInContext(context, a)
  const page = await context.newPage()
  await page.goto('/')
  await expect(page.getByTestId('unread-badge')).toHaveText('2')

  await test.step('the page lists the like above the follow, with who did it and the post', async () => {
    await notificationsLink(page).click()
    await expect(page.getByRole('heading', { name: 'Notifications', level: 1 })).toBeVisible()
    const items = feed(page).getByRole('article')
    await expect(items).toHaveText([
      said(`${bea.displayName} liked your post`, 'Refactored the build scripts today'),
      said(`${bea.displayName} followed you`),
    ])
    await expect(items.nth(1)).not.toContainText('Refactored the build scripts today')
  })

  await test.step('opening the page clears the badge, also on the server', async () => {
    await expect(page.getByTestId('unread-badge')).toHaveCount(0)
    await expect(feed(page).getByText('(unread)')).toHaveCount(0)
    await expect.poll(() => unreadCountViaApi(request, a)).toBe(0)
    expect((await notificationsViaApi(request, a)).map((n) => n.read)).toEqual([true, true])
  })

  await test.step('after a reload the badge stays cleared', async () => {
    const counted = page.waitForResponse((r) => r.url().includes('/api/v1/notifications/unread_count') && r.ok())
    await page.goto('/')
    await expect(page.getByRole('heading', { name: 'Home', level: 1 })).toBeVisible()
    expect(await (await counted).json()).toEqual({ count: 0 })
    await expect(page.getByTestId('unread-badge')).toHaveCount(0)
  })

  await test.step('the items lead to the post and to the actor’s profile', async () => {
    await notificationsLink(page).click()
    const items = feed(page).getByRole('article')
    await items.first().getByRole('link', { name: 'liked your post' }).click()
    await expect(page).toHaveURL(new RegExp(`/posts/${post.id}$`))
    await expect(page.getByRole('article').filter({ hasText: 'Refactored the build scripts today' }).first()).toBeVisible()
    await page.goBack()
    await feed(page).getByRole('article').nth(1).getByRole('link', { name: 'followed you' }).click()
    await expect(page).toHaveURL(new RegExp(`/@${bea.username}$`))
    await expect(page.getByRole('heading', { name: bea.displayName, level: 2 })).toBeVisible()
  })

  await context.close()
})

test('mentions and replies arrive on the open page with their own wording; acts on one’s own posts notify nobody', async ({ browser, baseURL, request }) => {
  const ana = account('ana', 'Ana Author')
  const bea = account('bea', 'Bea Builder')
  const cy = account('cy', 'Cy Coder')
  const a = await registerViaApi(request, ana)
  const b = await registerViaApi(request, bea)
  const c = await registerViaApi(request, cy)
  const post = await postViaApi(request, a, 'Which test runner do you use?')

  const context = await browser.newContext({ baseURL })
  await signedInContext(context, a)
  const page = await context.newPage()
  await page.goto('/notifications')
  await expect(page.getByRole('heading', { name: 'Nothing to see here — yet' })).toBeVisible()
  await waitForLiveNotifications(page)
  await markDocument(page)
  const items = feed(page).getByRole('article')

  await test.step('Ana likes, replies to and mentions herself: nothing', async () => {
    await likeViaApi(request, a, post.id)
    await postViaApi(request, a, `Answering myself, @${ana.username}: Vitest`, post.id)
  })

  await test.step('Bea mentions Ana: “mentioned you”, with the post, at the top', async () => {
    await postViaApi(request, b, `Ask @${ana.username}, she knows test runners`)
    await expect(items).toHaveText([said(`${bea.displayName} mentioned you`, `Ask @${ana.username}, she knows test runners`)])
  })

  await test.step('Cy replies to Ana’s post and mentions her: one “replied to your post”', async () => {
    await postViaApi(request, c, `@${ana.username} Playwright for the browser bits`, post.id)
    await expect(items).toHaveText([
      said(`${cy.displayName} replied to your post`, 'Playwright for the browser bits'),
      said(`${bea.displayName} mentioned you`),
    ])
  })

  await test.step('seen on the open page: no badge, read on the server', async () => {
    await expect(page.getByTestId('unread-badge')).toHaveCount(0)
    await expect.poll(() => unreadCountViaApi(request, a)).toBe(0)
    expect(await sameDocument(page), 'the items arrived without a reload').toBe(true)
  })

  await test.step('the server agrees: two notifications, none by Ana herself', async () => {
    const stored = await notificationsViaApi(request, a)
    expect(stored.map((n) => [n.kind, n.actor.username])).toEqual([
      ['replied', cy.username],
      ['mentioned', bea.username],
    ])
    await page.reload()
    await expect(items).toHaveCount(2)
    await expect(feed(page)).not.toContainText(ana.displayName)
  })

  await context.close()
})
