import type { APIRequestContext, Page, Route } from '@playwright/test'
import { account, expect, followViaApi, postViaApi, registerViaApi, signedInContext, test } from './fixtures'

// The home timeline's live stream ends itself: with `expired` when the access token runs
// out, with `resync` when the reader fell too far behind. The app connects again at once and
// asks for the first page, because a new EventSource sends no Last-Event-ID and so the server
// replays nothing. Waiting 15 minutes for a real expiry is no test: the first stream the page
// opens is held here, answered with the server's last words once the test has posted in the
// gap, and every later stream goes to the real server.

const STREAM_PATH = '/api/v1/timeline/home/stream'

/** Holds the page's first home stream; `opened` resolves with it once the page asked for it. */
async function holdFirstStream(page: Page): Promise<{ opened: Promise<Route> }> {
  let held!: (route: Route) => void
  const opened = new Promise<Route>((resolve) => (held = resolve))
  await page.route((url) => url.pathname === STREAM_PATH, (route) => held(route), { times: 1 })
  return { opened }
}

/** Answers a held stream the way the server ends one: `ready`, then `event`, then the end. */
async function endStream(route: Route, event: 'expired' | 'resync') {
  await route.fulfill({
    status: 200,
    headers: { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' },
    body: `event: ready\ndata: {}\n\nevent: ${event}\ndata: {}\n\n`,
  })
}

/** The URLs of the home streams the page opens, in order. */
function streamRequests(page: Page): string[] {
  const urls: string[] = []
  page.on('request', (request) => {
    if (new URL(request.url()).pathname === STREAM_PATH) urls.push(request.url())
  })
  return urls
}

/** A reader who follows a writer, both signed up through the API. */
async function readerFollowingWriter(request: APIRequestContext) {
  const reader = await registerViaApi(request, account('reader'))
  const writerAccount = account('writer')
  const writer = await registerViaApi(request, writerAccount)
  await followViaApi(request, reader, writerAccount.username)
  return { reader, writer }
}

function homeFeed(page: Page) {
  return page.getByRole('feed', { name: 'Home timeline' })
}

test('after the stream expires, the home timeline reconnects and shows what was posted in between', async ({ browser, baseURL, request }) => {
  const { reader, writer } = await readerFollowingWriter(request)
  await postViaApi(request, writer, 'posted before the reader came')

  const context = await browser.newContext({ baseURL })
  await signedInContext(context, reader)
  const page = await context.newPage()
  const streams = streamRequests(page)
  const firstStream = await holdFirstStream(page)
  await page.goto('/')
  const feed = homeFeed(page)
  await expect(feed.getByText('posted before the reader came')).toBeVisible()
  const held = await firstStream.opened
  await page.evaluate(() => ((window as unknown as Record<string, unknown>).__sameDocument = true))

  await test.step('a post written while no stream is open shows up once the stream ends with "expired"', async () => {
    await postViaApi(request, writer, 'posted in the gap')
    await endStream(held, 'expired')
    await expect(page.getByTestId('live-status')).toHaveAttribute('data-status', 'live')
    await expect(feed.getByRole('article')).toHaveText([/posted in the gap/, /posted before the reader came/])
    await expect.poll(() => streams.length).toBe(2) // the held one, then a new one at once
  })

  await test.step('the new stream is the real one: the next post arrives live', async () => {
    await postViaApi(request, writer, 'posted after the reconnection')
    await expect(feed.getByRole('article')).toHaveText([
      /posted after the reconnection/,
      /posted in the gap/,
      /posted before the reader came/,
    ])
  })

  expect(await page.evaluate(() => (window as unknown as Record<string, unknown>).__sameDocument)).toBe(true)
  await context.close()
})

test('after a resync that missed more than a page, the home timeline starts over', async ({ browser, baseURL, request }) => {
  const { reader, writer } = await readerFollowingWriter(request)
  await postViaApi(request, writer, 'an old post')

  const context = await browser.newContext({ baseURL })
  await signedInContext(context, reader)
  const page = await context.newPage()
  const firstStream = await holdFirstStream(page)
  await page.goto('/')
  const feed = homeFeed(page)
  await expect(feed.getByText('an old post')).toBeVisible()
  const held = await firstStream.opened

  // More than the 20 posts of a page, so the first page holds nothing the reader has.
  for (let i = 1; i <= 21; i++) await postViaApi(request, writer, `missed post ${String(i).padStart(2, '0')}`)
  await endStream(held, 'resync')

  await expect(page.getByTestId('live-status')).toHaveAttribute('data-status', 'live')
  await expect(feed.getByRole('article').first()).toContainText('missed post 21')
  await expect(feed.getByRole('article')).toHaveCount(20)
  await expect(feed.getByText('an old post')).toHaveCount(0) // no hole below the new posts: it is on page 2

  await feed.getByRole('article').last().scrollIntoViewIfNeeded()
  await page.mouse.wheel(0, 5000)
  await expect(feed.getByText('an old post')).toBeVisible()
  await expect(feed.getByRole('article')).toHaveCount(22)
  await context.close()
})
