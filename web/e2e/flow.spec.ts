import { account, expect, postCard, registerViaUi, test } from './fixtures'

test('two developers follow, post live, like, reply and browse tags and profiles', async ({ browser, baseURL }) => {
  const ada = account('ada', 'Ada Lovelace')
  const linus = account('linus', 'Linus T')
  const adaContext = await browser.newContext({ baseURL })
  const linusContext = await browser.newContext({ baseURL })
  const adaPage = await adaContext.newPage()
  const linusPage = await linusContext.newPage()

  await test.step('both register through the sign-up page', async () => {
    await registerViaUi(adaPage, ada)
    await registerViaUi(linusPage, linus)
  })

  await test.step('Ada follows Linus from his profile', async () => {
    await adaPage.goto(`/@${linus.username}`)
    await expect(adaPage.getByRole('heading', { name: linus.displayName, level: 2 })).toBeVisible()
    await expect(adaPage.getByTestId('followers-count')).toContainText('0')
    await adaPage.getByRole('button', { name: `Follow @${linus.username}` }).click()
    await expect(adaPage.getByRole('button', { name: `Unfollow @${linus.username}` })).toBeVisible()
    await expect(adaPage.getByTestId('followers-count')).toContainText('1')
    // The follow is stored, not just shown.
    await adaPage.reload()
    await expect(adaPage.getByRole('button', { name: `Unfollow @${linus.username}` })).toBeVisible()
    await expect(adaPage.getByTestId('followers-count')).toContainText('1 Follower')
  })

  const text = `Shipping the new parser today #rustlang thanks @${ada.username} for the review`

  await test.step("Linus's post shows up on Ada's home timeline live, without a reload", async () => {
    await adaPage.getByRole('link', { name: 'Home', exact: true }).click()
    await expect(adaPage.getByRole('heading', { name: 'Home', level: 1 })).toBeVisible()
    await expect(adaPage.getByTestId('live-status')).toHaveAttribute('data-status', 'live')
    await adaPage.evaluate(() => ((window as unknown as Record<string, unknown>).__sameDocument = true))

    await linusPage.getByLabel('Post text').fill(text)
    await expect(linusPage.getByTestId('char-counter')).toHaveAttribute('data-remaining', String(280 - [...text].length))
    await linusPage.getByRole('button', { name: 'Post', exact: true }).click()
    await expect(postCard(linusPage, 'Shipping the new parser')).toBeVisible()
    await expect(linusPage.getByLabel('Post text')).toHaveValue('')

    await expect(postCard(adaPage, 'Shipping the new parser')).toBeVisible()
    expect(await adaPage.evaluate(() => (window as unknown as Record<string, unknown>).__sameDocument)).toBe(true)
  })

  const card = postCard(adaPage, 'Shipping the new parser')

  await test.step('the #tag and @mention are links, the text is not HTML', async () => {
    await expect(card.getByRole('link', { name: '#rustlang' })).toHaveAttribute('href', '/tags/rustlang')
    await expect(card.getByRole('link', { name: `@${ada.username}` })).toHaveAttribute('href', `/@${ada.username}`)
  })

  await test.step('Ada likes it', async () => {
    const like = card.getByRole('button', { name: /^Like/ })
    await like.click()
    await expect(card.getByRole('button', { name: 'Unlike (1 like)' })).toHaveAttribute('aria-pressed', 'true')
  })

  await test.step('Ada replies on the post page', async () => {
    await card.getByRole('link', { name: /^Reply/ }).click()
    await expect(adaPage).toHaveURL(/\/posts\/[^/]+#reply$/)
    const reply = adaPage.getByLabel('Your reply')
    await expect(reply).toBeFocused()
    await reply.fill('Congrats, great work! 🎉')
    await adaPage.getByRole('button', { name: 'Reply', exact: true }).click()
    const replies = adaPage.getByRole('region', { name: 'Replies' })
    await expect(replies.getByRole('article').filter({ hasText: 'Congrats, great work!' })).toBeVisible()
    await expect(reply).toHaveValue('')
  })

  await test.step('after a reload the like and the reply are still there', async () => {
    await adaPage.reload()
    const focus = adaPage.getByRole('article').filter({ hasText: 'Shipping the new parser' }).first()
    await expect(focus.getByRole('button', { name: 'Unlike (1 like)' })).toBeVisible()
    await expect(focus.getByRole('link', { name: 'Reply (1 reply)' })).toBeVisible()
    await expect(adaPage.getByRole('region', { name: 'Replies' }).getByText('Congrats, great work!')).toBeVisible()
  })

  await test.step('the tag page lists the post', async () => {
    await adaPage.getByRole('link', { name: '#rustlang' }).first().click()
    await expect(adaPage).toHaveURL(/\/tags\/rustlang$/)
    await expect(adaPage.getByRole('heading', { name: '#rustlang', level: 1 })).toBeVisible()
    await expect(postCard(adaPage, 'Shipping the new parser')).toBeVisible()
  })

  await test.step("Linus's profile shows his post, counts and followers", async () => {
    await postCard(adaPage, 'Shipping the new parser').getByRole('link', { name: linus.displayName }).click()
    await expect(adaPage).toHaveURL(new RegExp(`/@${linus.username}$`))
    await expect(adaPage.getByText('1 post', { exact: true })).toBeVisible()
    await expect(adaPage.getByTestId('followers-count')).toContainText('1 Follower')
    await expect(adaPage.getByTestId('following-count')).toContainText('0 Following')
    await expect(postCard(adaPage, 'Shipping the new parser')).toBeVisible()
    await adaPage.getByRole('navigation', { name: 'Profile sections' }).getByRole('link', { name: 'Followers' }).click()
    await expect(adaPage.getByRole('region', { name: `Followers of @${linus.username}` }).getByText(`@${ada.username}`)).toBeVisible()
  })

  await test.step('the mention leads to Ada’s profile, which counts whom she follows', async () => {
    await adaPage.goto('/tags/rustlang')
    await postCard(adaPage, 'Shipping the new parser').getByRole('link', { name: `@${ada.username}` }).click()
    await expect(adaPage).toHaveURL(new RegExp(`/@${ada.username}$`))
    await expect(adaPage.getByTestId('following-count')).toContainText('1 Following')
    await expect(adaPage.getByRole('link', { name: 'Edit profile' })).toBeVisible()
  })

  await test.step('Linus sees the like and the reply counted on his post', async () => {
    await linusPage.reload()
    const mine = postCard(linusPage, 'Shipping the new parser')
    await expect(mine.getByRole('button', { name: 'Like (1 like)' })).toBeVisible()
    await expect(mine.getByRole('link', { name: 'Reply (1 reply)' })).toBeVisible()
  })

  await test.step('notifications light up for Linus, or say quietly that they are not available', async () => {
    const res = await linusPage.request.get('/api/v1/notifications/unread_count', {
      headers: { Authorization: `Bearer ${await linusPage.evaluate(() => JSON.parse(localStorage.getItem('socialdevs.session') ?? '{}').access_token)}` },
    })
    await linusPage.getByRole('link', { name: /Notifications/ }).click()
    if (res.status() === 404) {
      await expect(linusPage.getByRole('heading', { name: 'Notifications are on their way' })).toBeVisible()
      await expect(linusPage.getByRole('alert')).toHaveCount(0)
    } else {
      expect(res.status()).toBe(200)
      const feed = linusPage.getByRole('region', { name: 'Notifications' })
      await expect(feed.getByText('followed you')).toBeVisible()
      await expect(feed.getByText('liked your post')).toBeVisible()
      await expect(feed.getByText('replied to your post')).toBeVisible()
      await expect(linusPage.getByTestId('unread-badge')).toHaveCount(0)
    }
  })

  await adaContext.close()
  await linusContext.close()
})
