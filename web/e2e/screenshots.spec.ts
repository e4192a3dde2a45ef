import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { account, expect, followViaApi, likeViaApi, postViaApi, registerViaApi, signedInContext, test } from './fixtures'

// Screenshots of Home, Profile and Post at desktop and phone widths. They go to
// web/test-results/screenshots; UPDATE_SCREENSHOTS=1 refreshes the ones the README shows
// (docs/screenshots), and SCREENSHOT_DIR picks any other folder.
const here = dirname(fileURLToPath(import.meta.url))
const outDir =
  process.env.SCREENSHOT_DIR ??
  (process.env.UPDATE_SCREENSHOTS === '1' ? resolve(here, '../../docs/screenshots') : resolve(here, '../test-results/screenshots'))

const SIZES = [
  { name: 'desktop', viewport: { width: 1280, height: 800 }, isMobile: false, colorScheme: 'light' },
  { name: 'phone', viewport: { width: 390, height: 844 }, isMobile: true, colorScheme: 'light' },
  { name: 'desktop-dark', viewport: { width: 1280, height: 800 }, isMobile: false, colorScheme: 'dark' },
] as const

test('screenshots of Home, Profile and Post at desktop and phone widths', async ({ browser, baseURL, request }) => {
  mkdirSync(outDir, { recursive: true })
  // This project runs first on a fresh database, so the accounts can have plain names.
  const grace = account('grace', 'Grace Hopper', true)
  const ada = account('ada', 'Ada Lovelace', true)
  const linus = account('linus', 'Linus Torvalds', true)
  const [g, a, l] = [await registerViaApi(request, grace), await registerViaApi(request, ada), await registerViaApi(request, linus)]
  // Someone Grace does not follow yet, for "Who to follow".
  const margaret = await registerViaApi(request, account('margaret', 'Margaret Hamilton', true))
  await followViaApi(request, margaret, grace.username)
  for (const s of [a, l]) await followViaApi(request, g, s.user.username)
  await followViaApi(request, a, grace.username)
  const update = await request.patch('/api/v1/users/me', {
    headers: { Authorization: `Bearer ${g.access_token}` },
    data: { bio: 'Compilers, COBOL and nanoseconds. Debugging since 1947. #compilers' },
  })
  expect(update.status()).toBe(200)

  await postViaApi(request, l, 'Talk is cheap. Show me the code. https://example.com/kernel #opensource')
  const parser = await postViaApi(request, a, `The analytical engine weaves algebraic patterns just as the Jacquard loom weaves flowers and leaves. #history @${grace.username}`)
  const ship = await postViaApi(request, g, `Shipped a new #rustlang parser today — 3× faster on big files. Thanks @${ada.username} for the review! 🚀`)
  await postViaApi(request, a, 'Congratulations! The benchmarks look great. 🎉', ship.id)
  await postViaApi(request, l, 'Nice. Does it handle the weird macro cases too?', ship.id)
  for (const s of [a, l]) await likeViaApi(request, s, ship.id)
  await likeViaApi(request, g, parser.id)

  for (const size of SIZES) {
    const context = await browser.newContext({
      baseURL,
      viewport: size.viewport,
      isMobile: size.isMobile,
      hasTouch: size.isMobile,
      deviceScaleFactor: 1,
      colorScheme: size.colorScheme,
    })
    await signedInContext(context, g)
    const page = await context.newPage()

    await page.goto('/')
    await expect(page.getByText('Shipped a new')).toBeVisible()
    await expect(page.getByText('Talk is cheap')).toBeVisible()
    await page.evaluate(() => document.fonts.ready)
    await page.screenshot({ path: `${outDir}/home-${size.name}.png`, animations: 'disabled' })

    if (size.name === 'desktop-dark') {
      await context.close()
      continue // one dark screenshot is enough to show the theme
    }

    await page.goto(`/@${grace.username}`)
    await expect(page.getByText('Debugging since 1947')).toBeVisible()
    await expect(page.getByText('Shipped a new')).toBeVisible()
    await page.screenshot({ path: `${outDir}/profile-${size.name}.png`, animations: 'disabled' })

    await page.goto(`/posts/${ship.id}`)
    await expect(page.getByText('Does it handle the weird macro cases')).toBeVisible()
    await page.screenshot({ path: `${outDir}/post-${size.name}.png`, animations: 'disabled' })
    await context.close()
  }
})
