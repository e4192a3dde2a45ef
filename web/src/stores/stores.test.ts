import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { setApi } from '@/api'
import { localSession } from '@/api/session'
import { setEventSourceImpl } from '@/lib/stream'
import { FakeEventSource } from '@/test/fakeEventSource'
import { alice, fakeClient, FakeServer, flush, json, makePost, memoryTokens, problem } from '@/test/fakeServer'
import { useAuthStore } from './auth'
import { useHomeStore } from './home'
import { useNotificationsStore } from './notifications'
import { usePostsStore } from './posts'
import { useUsersStore } from './users'

let server: FakeServer

beforeEach(() => {
  localStorage.clear()
  setActivePinia(createPinia())
  server = new FakeServer()
  setApi(fakeClient(server, memoryTokens({ access_token: 'a', refresh_token: 'r' })))
})

describe('posts store', () => {
  it('likes at once and keeps it when the server agrees', async () => {
    let resolve!: (r: Response) => void
    server.on('PUT /api/v1/posts/p1/like', () => new Promise<Response>((r) => (resolve = r)))
    const posts = usePostsStore()
    posts.upsert(makePost('p1', { like_count: 2 }))
    const pending = posts.toggleLike('p1')
    expect(posts.byId.p1).toMatchObject({ liked_by_me: true, like_count: 3 }) // before the answer
    resolve(new Response(null, { status: 204 }))
    await pending
    expect(posts.byId.p1).toMatchObject({ liked_by_me: true, like_count: 3 })
    expect(posts.actionErrors.p1).toBeUndefined()
  })

  it('rolls a like back and explains why when the server refuses', async () => {
    server.on('PUT /api/v1/posts/p1/like', problem(404, 'not-found', 'This post was deleted.'))
    const posts = usePostsStore()
    posts.upsert(makePost('p1', { like_count: 2 }))
    await posts.toggleLike('p1')
    expect(posts.byId.p1).toMatchObject({ liked_by_me: false, like_count: 2 })
    expect(posts.actionErrors.p1).toBe("Couldn't like: This post was deleted.")
  })

  it('rolls an unlike back too', async () => {
    server.on('DELETE /api/v1/posts/p1/like', problem(503, 'unavailable', 'Try later.'))
    const posts = usePostsStore()
    posts.upsert(makePost('p1', { like_count: 1, liked_by_me: true }))
    await posts.toggleLike('p1')
    expect(posts.byId.p1).toMatchObject({ liked_by_me: true, like_count: 1 })
    expect(posts.actionErrors.p1).toMatch(/^Couldn't unlike/)
  })

  it('ignores a second click while the first is in flight', async () => {
    server.on('PUT /api/v1/posts/p1/like', () => new Response(null, { status: 204 }))
    const posts = usePostsStore()
    posts.upsert(makePost('p1'))
    await Promise.all([posts.toggleLike('p1'), posts.toggleLike('p1')])
    expect(server.count('PUT /api/v1/posts/p1/like')).toBe(1)
    expect(posts.byId.p1.like_count).toBe(1)
  })

  it('updates one shared copy of a post', () => {
    const posts = usePostsStore()
    posts.upsert(makePost('p1', { text: 'old' }))
    const ref = posts.byId.p1
    posts.upsert(makePost('p1', { text: 'new', like_count: 9 }))
    expect(ref).toMatchObject({ text: 'new', like_count: 9 })
  })

  it('counts a reply on its parent', async () => {
    server.on('POST /api/v1/posts', json(201, makePost('r1', { reply_to: 'p1' })))
    const posts = usePostsStore()
    posts.upsert(makePost('p1'))
    await posts.create('a reply', 'p1', 'key')
    expect(posts.byId.p1.reply_count).toBe(1)
    expect(server.requests[0].body).toEqual({ text: 'a reply', reply_to: 'p1' })
  })
})

describe('users store', () => {
  const profile = { ...alice, followers_count: 5, following_count: 1, posts_count: 3, followed_by_me: false }

  it('follows at once and counts the new follower', async () => {
    server.on('GET /api/v1/users/alice', json(200, profile)).on('PUT /api/v1/users/alice/follow', () => new Response(null, { status: 204 }))
    const users = useUsersStore()
    await users.load('alice')
    const pending = users.toggleFollow('alice')
    expect(users.get('alice')).toMatchObject({ followed_by_me: true, followers_count: 6 })
    await pending
    expect(users.isFollowing('ALICE')).toBe(true)
    expect(users.followError('alice')).toBeUndefined()
  })

  it('rolls a follow back with a message when refused', async () => {
    server
      .on('GET /api/v1/users/alice', json(200, profile))
      .on('PUT /api/v1/users/alice/follow', problem(429, 'rate-limited', 'Too many follows.'))
    const users = useUsersStore()
    await users.load('alice')
    await users.toggleFollow('alice')
    expect(users.get('alice')).toMatchObject({ followed_by_me: false, followers_count: 5 })
    expect(users.followError('alice')).toMatch(/^Couldn't follow/)
  })

  it('unfollows with the count going down', async () => {
    server
      .on('GET /api/v1/users/alice', json(200, { ...profile, followed_by_me: true }))
      .on('DELETE /api/v1/users/alice/follow', () => new Response(null, { status: 204 }))
    const users = useUsersStore()
    await users.load('alice')
    await users.toggleFollow('alice')
    expect(users.get('alice')).toMatchObject({ followed_by_me: false, followers_count: 4 })
  })
})

describe('auth store', () => {
  it('keeps the session after login and forgets it on logout', async () => {
    server
      .on('POST /api/v1/auth/login', json(200, { user: alice, access_token: 'A', refresh_token: 'R', expires_in: 900 }))
      .on('POST /api/v1/auth/logout', () => new Response(null, { status: 204 }))
    const auth = useAuthStore()
    expect(auth.isLoggedIn).toBe(false)
    await auth.login({ login: 'alice', password: 'pw' })
    expect(auth.user).toEqual(alice)
    expect(localSession.accessToken()).toBe('A')
    expect(localSession.refreshToken()).toBe('R')
    expect(localSession.expiresAt()).toBeGreaterThan(Date.now())
    await auth.logout()
    expect(auth.isLoggedIn).toBe(false)
    expect(localSession.accessToken()).toBeNull()
    expect(server.requests.at(-1)?.body).toEqual({ refresh_token: 'R' })
  })

  it('signs in when registering creates the account at once (201)', async () => {
    server.on('POST /api/v1/auth/register', json(201, { user: alice, access_token: 'A', refresh_token: 'R', expires_in: 900 }))
    const auth = useAuthStore()
    await expect(auth.register({ username: 'alice', email: 'alice@example.com', password: 'long enough password' })).resolves.toBeNull()
    expect(auth.user).toEqual(alice)
    expect(localSession.accessToken()).toBe('A')
  })

  it('signs nothing in when registering mails a confirmation link (202), and says where it went', async () => {
    const pending = { status: 'confirmation_sent', email: 'alice@example.com', expires_in: 86_400 }
    server.on('POST /api/v1/auth/register', json(202, pending))
    const auth = useAuthStore()
    await expect(auth.register({ username: 'alice', email: 'alice@example.com', password: 'long enough password' })).resolves.toEqual(pending)
    expect(auth.isLoggedIn).toBe(false)
    expect(localSession.accessToken()).toBeNull()
  })

  it('signs in with the account a confirmed e-mail address created, signing out the one before', async () => {
    const bob = { ...alice, id: '0190a000-0000-7000-8000-000000000002', username: 'bob', display_name: 'Bob' }
    localSession.saveSession({ user: alice, access_token: 'A', refresh_token: 'R', expires_in: 900 })
    server
      .on('POST /api/v1/auth/verify-email', json(201, { user: bob, access_token: 'B', refresh_token: 'RB', expires_in: 900 }))
      .on('POST /api/v1/auth/logout', () => new Response(null, { status: 204 }))
    const auth = useAuthStore()
    await auth.verifyEmail('t0ken')
    expect(auth.user).toEqual(bob)
    expect(localSession.accessToken()).toBe('B')
    expect(localSession.refreshToken()).toBe('RB')
    expect(server.requests.map((r) => [r.path, r.body])).toEqual([
      ['/api/v1/auth/verify-email', { token: 't0ken' }],
      ['/api/v1/auth/logout', { refresh_token: 'R' }],
    ])
  })

  it('keeps the current session when a confirmation link is refused', async () => {
    localSession.saveSession({ user: alice, access_token: 'A', refresh_token: 'R', expires_in: 900 })
    server.on(
      'POST /api/v1/auth/verify-email',
      problem(422, 'validation', 'Invalid fields: token.', [{ field: 'token', message: 'is not valid or has expired' }]),
    )
    const auth = useAuthStore()
    await expect(auth.verifyEmail('used')).rejects.toMatchObject({ status: 422 })
    expect(auth.user).toEqual(alice)
    expect(localSession.refreshToken()).toBe('R')
    expect(server.count('POST /api/v1/auth/logout')).toBe(0)
  })

  it('drops a saved session the server no longer accepts', async () => {
    localSession.saveSession({ user: alice, access_token: 'A', refresh_token: 'R', expires_in: 900 })
    server.on('GET /api/v1/auth/me', problem(401, 'unauthorized', 'gone'))
    const auth = useAuthStore()
    expect(auth.user).toEqual(alice) // shown at once from storage
    await auth.restore()
    expect(auth.user).toBeNull()
    expect(localSession.accessToken()).toBeNull()
  })

  it('keeps a saved session while the server is unreachable', async () => {
    localSession.saveSession({ user: alice, access_token: 'A', refresh_token: 'R', expires_in: 900 })
    server.on('GET /api/v1/auth/me', problem(503, 'unavailable', 'down'))
    const auth = useAuthStore()
    await auth.restore()
    expect(auth.user).toEqual(alice)
  })
})

describe('home store', () => {
  it('pages through the timeline without duplicates', async () => {
    server.on('GET /api/v1/timeline/home', (req) =>
      req.url.includes('cursor=c1')
        ? json(200, { items: [makePost('p2'), makePost('p3')], next_cursor: null })
        : json(200, { items: [makePost('p1'), makePost('p2')], next_cursor: 'c1' }),
    )
    const home = useHomeStore()
    await home.feed.loadMore()
    expect(home.feed.state).toMatchObject({ items: ['p1', 'p2'], done: false })
    await home.feed.loadMore()
    expect(home.feed.state).toMatchObject({ items: ['p1', 'p2', 'p3'], done: true })
    await home.feed.loadMore()
    expect(server.count('GET /api/v1/timeline/home')).toBe(2)
  })

  it('puts live posts on top while the reader is at the top, and holds them otherwise', async () => {
    server.on('GET /api/v1/timeline/home', json(200, { items: [makePost('p1')], next_cursor: null }))
    const home = useHomeStore()
    await home.feed.loadMore()
    home.receive(makePost('p2') as never)
    expect(home.feed.state.items).toEqual(['p2', 'p1'])
    home.receive(makePost('p2') as never) // the same post again
    expect(home.feed.state.items).toEqual(['p2', 'p1'])
    home.atTop = false
    home.receive(makePost('p3') as never)
    home.receive(makePost('p4') as never)
    expect(home.feed.state.items).toEqual(['p2', 'p1'])
    expect(home.pending).toEqual(['p4', 'p3'])
    home.showPending()
    expect(home.feed.state.items).toEqual(['p4', 'p3', 'p2', 'p1'])
    expect(home.pending).toEqual([])
  })

  it("shows live replies as the server's timeline does, and counts them on a known parent", () => {
    const home = useHomeStore()
    const posts = usePostsStore()
    posts.upsert(makePost('p1') as never)
    home.receive(makePost('r1', { reply_to: 'p1' }) as never)
    expect(home.feed.state.items).toEqual(['r1'])
    expect(posts.byId.p1.reply_count).toBe(1)
    home.receive(makePost('r1', { reply_to: 'p1' }) as never) // delivered twice
    expect(posts.byId.p1.reply_count).toBe(1)
  })

  it('shows my own post at the top whatever the scroll position', () => {
    const home = useHomeStore()
    home.atTop = false
    home.addOwn(makePost('mine') as never)
    expect(home.feed.state.items).toEqual(['mine'])
  })

  it('receives posts from the live stream', async () => {
    const sources: FakeEventSource[] = []
    setEventSourceImpl(class extends FakeEventSource {
      constructor(url: string) {
        super(url)
        sources.push(this)
      }
    } as never)
    const home = useHomeStore()
    home.connect()
    await flush()
    expect(sources).toHaveLength(1)
    expect(sources[0].url).toBe('/api/v1/timeline/home/stream?access_token=a')
    sources[0].open()
    expect(home.liveStatus).toBe('live')
    sources[0].emit('post', makePost('live1'))
    expect(home.feed.state.items).toEqual(['live1'])
    home.disconnect()
    expect(sources[0].closed).toBe(true)
    setEventSourceImpl(null)
  })
})

describe('home store live stream', () => {
  let sources: FakeEventSource[]
  let tokens: ReturnType<typeof memoryTokens>
  beforeEach(() => {
    sources = []
    setEventSourceImpl(class extends FakeEventSource {
      constructor(url: string) {
        super(url)
        sources.push(this)
      }
    } as never)
    tokens = memoryTokens({ access_token: 'a', refresh_token: 'r' })
    setApi(fakeClient(server, tokens))
  })
  afterEach(() => {
    useHomeStore().reset()
    setEventSourceImpl(null)
  })

  function timeline(...ids: string[]) {
    server.on('GET /api/v1/timeline/home', json(200, { items: ids.map((id) => makePost(id)), next_cursor: 'older' }))
  }

  /** A home store with a loaded timeline ([p1]) and a live stream. */
  async function live() {
    timeline('p1')
    const home = useHomeStore()
    await home.feed.loadMore()
    home.connect()
    await flush()
    sources[0].open()
    return home
  }

  it('reconnects at once with a fresh token when the token expired, and shows the posts of the gap', async () => {
    const home = await live()
    expect(sources[0].url).toBe('/api/v1/timeline/home/stream?access_token=a')
    sources[0].emit('ready', {})
    sources[0].emit('post', makePost('p2'))
    expect(home.feed.state.items).toEqual(['p2', 'p1'])
    // The access token runs out; the server says so and ends the stream.
    tokens.state.expiresAt = Date.now() - 1
    server.on('POST /api/v1/auth/refresh', json(200, { user: alice, access_token: 'b', refresh_token: 'r2', expires_in: 900 }))
    sources[0].emit('expired', {})
    expect(sources[0].closed).toBe(true)
    await flush()
    expect(sources.map((s) => s.url)).toEqual([
      '/api/v1/timeline/home/stream?access_token=a',
      '/api/v1/timeline/home/stream?access_token=b',
    ])
    // p3 and p4 were posted while no stream was open; the new one replays nothing.
    timeline('p4', 'p3', 'p2', 'p1')
    sources[1].open()
    expect(home.liveStatus).toBe('live')
    await flush()
    expect(home.feed.state.items).toEqual(['p4', 'p3', 'p2', 'p1'])
    expect(home.feed.state.done).toBe(false) // the older pages are still to come
    sources[1].emit('post', makePost('p5'))
    expect(home.feed.state.items).toEqual(['p5', 'p4', 'p3', 'p2', 'p1'])
  })

  it('holds the posts of the gap behind the button while the reader is scrolled down', async () => {
    const home = await live()
    home.atTop = false
    sources[0].emit('expired', {})
    await flush()
    timeline('p3', 'p2', 'p1')
    sources[1].open()
    await flush()
    expect(home.feed.state.items).toEqual(['p1'])
    expect(home.pending).toEqual(['p3', 'p2'])
    expect(home.pendingGap).toBe(false)
    home.showPending()
    expect(home.feed.state.items).toEqual(['p3', 'p2', 'p1'])
  })

  it('starts the timeline over after a resync that missed more than a page', async () => {
    const home = await live()
    sources[0].emit('resync', {})
    expect(sources[0].closed).toBe(true)
    await flush()
    expect(sources).toHaveLength(2)
    timeline('p9', 'p8')
    sources[1].open()
    await flush()
    await flush()
    expect(home.feed.state.items).toEqual(['p9', 'p8'])
    expect(home.feed.state.done).toBe(false)
  })

  it('after a resync while scrolled down, shows the newest behind the button and starts over when asked', async () => {
    const home = await live()
    home.atTop = false
    sources[0].emit('resync', {})
    await flush()
    timeline('p9', 'p8')
    sources[1].open()
    await flush()
    expect(home.feed.state.items).toEqual(['p1']) // the page does not jump
    expect(home.pending).toEqual(['p9', 'p8'])
    expect(home.pendingGap).toBe(true)
    home.showPending()
    await flush()
    expect(home.feed.state.items).toEqual(['p9', 'p8'])
    expect(home.pending).toEqual([])
    expect(home.pendingGap).toBe(false)
  })

  it('catches up after the browser reconnected by itself too, without doubling posts', async () => {
    const home = await live()
    sources[0].readyState = 0
    sources[0].onerror?.() // connection lost: the browser retries with Last-Event-ID
    expect(home.liveStatus).toBe('reconnecting')
    timeline('p2', 'p1')
    sources[0].open()
    sources[0].emit('post', makePost('p2')) // replayed by the server as well
    await flush()
    expect(home.feed.state.items).toEqual(['p2', 'p1'])
    expect(sources).toHaveLength(1)
  })
})

describe('notifications store', () => {
  it('stays quiet and unavailable when the service is not deployed', async () => {
    vi.useFakeTimers()
    try {
      const notifications = useNotificationsStore()
      await notifications.start()
      expect(notifications.available).toBe(false)
      expect(notifications.unread).toBe(0)
      // It looks again later and lights up once the service answers.
      server.on('GET /api/v1/notifications/unread_count', json(200, { count: 3 }))
      await vi.advanceTimersByTimeAsync(61_000)
      expect(notifications.available).toBe(true)
      expect(notifications.unread).toBe(3)
      notifications.stop()
    } finally {
      vi.useRealTimers()
    }
  })

  it('counts unread notifications and clears the badge when read', async () => {
    server
      .on('GET /api/v1/notifications/unread_count', json(200, { count: 2 }))
      .on(
        'GET /api/v1/notifications',
        json(200, {
          items: [{ id: 'n1', kind: 'liked', actor: alice, post: makePost('p1'), created_at: alice.created_at, read: false }],
          next_cursor: null,
        }),
      )
      .on('POST /api/v1/notifications/read', () => new Response(null, { status: 204 }))
    const notifications = useNotificationsStore()
    await notifications.start()
    expect(notifications.unread).toBe(2)
    await notifications.list.loadMore()
    notifications.receive({ id: 'n2', kind: 'followed', actor: alice, created_at: alice.created_at, read: false })
    expect(notifications.unread).toBe(3)
    expect(notifications.list.state.items.map((n) => n.id)).toEqual(['n2', 'n1'])
    await notifications.markAllRead()
    expect(notifications.unread).toBe(0)
    expect(notifications.list.state.items.every((n) => n.read)).toBe(true)
    notifications.stop()
  })

  it('puts the badge back if marking read fails', async () => {
    server
      .on('GET /api/v1/notifications/unread_count', json(200, { count: 4 }))
      .on('POST /api/v1/notifications/read', problem(500, 'internal', 'oops'))
    const notifications = useNotificationsStore()
    await notifications.start()
    await notifications.markAllRead()
    expect(notifications.unread).toBe(4)
    notifications.stop()
  })

  it('shows an empty list, not an error, when the list endpoint is missing', async () => {
    const notifications = useNotificationsStore()
    await notifications.list.loadMore()
    expect(notifications.list.state.error).toBeNull()
    expect(notifications.available).toBe(false)
  })

  it('is available once the list loads, whichever answer comes first', async () => {
    server.on('GET /api/v1/notifications', json(200, { items: [note('n1')], next_cursor: null }))
    const notifications = useNotificationsStore()
    await notifications.list.loadMore()
    expect(notifications.available).toBe(true)
  })

  it('counts a live notification at once, then trusts the server (a repeat is not counted twice)', async () => {
    server.on('GET /api/v1/notifications/unread_count', json(200, { count: 1 }))
    const notifications = useNotificationsStore()
    await notifications.start()
    expect(notifications.unread).toBe(1)
    notifications.receive(note('n1')) // the stream repeats one the count already has
    expect(notifications.unread).toBe(2)
    await flush()
    expect(notifications.unread).toBe(1)
    expect(server.count('GET /api/v1/notifications/unread_count')).toBe(2)
    notifications.stop()
  })

  it('never shows a count that was asked for before the latest notification arrived', async () => {
    const answers: ((count: number) => void)[] = []
    server.on('GET /api/v1/notifications/unread_count', () =>
      answers.length === 0 && server.count('GET /api/v1/notifications/unread_count') === 1
        ? json(200, { count: 0 })
        : new Promise<Response>((resolve) => answers.push((count) => resolve(json(200, { count })))),
    )
    const notifications = useNotificationsStore()
    await notifications.start()
    notifications.receive(note('n1'))
    notifications.receive(note('n2'))
    expect(notifications.unread).toBe(2)
    await flush()
    expect(answers).toHaveLength(1) // one question at a time
    answers[0](1) // asked before n2 was stored
    await flush()
    expect(notifications.unread).toBe(2)
    expect(answers).toHaveLength(2) // so it asks again
    answers[1](2)
    await flush()
    expect(notifications.unread).toBe(2)
    notifications.stop()
  })

  it('marks read up to the newest notification shown, and a count asked meanwhile does not bring the badge back', async () => {
    let answer!: (r: Response) => void
    server
      .on('GET /api/v1/notifications/unread_count', json(200, { count: 1 }))
      .on('GET /api/v1/notifications', json(200, { items: [note('n2'), note('n1')], next_cursor: null }))
      .on('POST /api/v1/notifications/read', () => new Response(null, { status: 204 }))
    const notifications = useNotificationsStore()
    await notifications.start()
    await notifications.list.loadMore()
    server.on('GET /api/v1/notifications/unread_count', () => new Promise<Response>((r) => (answer = r)))
    notifications.receive(note('n3'))
    expect(notifications.list.state.items.map((n) => n.id)).toEqual(['n3', 'n2', 'n1'])
    await flush()
    await notifications.markAllRead()
    expect(server.requests.at(-1)).toMatchObject({ path: '/api/v1/notifications/read', body: { up_to: 'n3' } })
    answer(json(200, { count: 3 })) // answered for the time before the mark
    await flush()
    expect(notifications.unread).toBe(0)
    expect(notifications.list.state.items.every((n) => n.read)).toBe(true)
    notifications.stop()
  })

  it('marks everything read when the list is empty', async () => {
    server
      .on('GET /api/v1/notifications/unread_count', json(200, { count: 1 }))
      .on('POST /api/v1/notifications/read', () => new Response(null, { status: 204 }))
    const notifications = useNotificationsStore()
    await notifications.start()
    await notifications.markAllRead()
    expect(server.requests.at(-1)).toMatchObject({ path: '/api/v1/notifications/read', body: {} })
    notifications.stop()
  })

  it('keeps items unread and the badge when marking read fails', async () => {
    server
      .on('GET /api/v1/notifications/unread_count', json(200, { count: 1 }))
      .on('GET /api/v1/notifications', json(200, { items: [note('n1')], next_cursor: null }))
      .on('POST /api/v1/notifications/read', problem(503, 'unavailable', 'Try later.'))
    const notifications = useNotificationsStore()
    await notifications.start()
    await notifications.list.loadMore()
    await notifications.markAllRead()
    expect(notifications.unread).toBe(1)
    expect(notifications.list.state.items[0].read).toBe(false)
    notifications.stop()
  })

  describe('live stream', () => {
    let sources: FakeEventSource[]
    beforeEach(() => {
      sources = []
      setEventSourceImpl(class extends FakeEventSource {
        constructor(url: string) {
          super(url)
          sources.push(this)
        }
      } as never)
    })
    afterEach(() => setEventSourceImpl(null))

    async function live(count: number, items: unknown[]) {
      server
        .on('GET /api/v1/notifications/unread_count', json(200, { count }))
        .on('GET /api/v1/notifications', json(200, { items, next_cursor: null }))
      const notifications = useNotificationsStore()
      await notifications.start()
      await notifications.list.loadMore()
      await flush()
      sources.at(-1)!.open()
      return notifications
    }

    it('receives notifications named "notification" and counts them', async () => {
      const notifications = await live(0, [])
      expect(sources[0].url).toBe('/api/v1/notifications/stream?access_token=a')
      expect(notifications.liveStatus).toBe('live')
      server.on('GET /api/v1/notifications/unread_count', json(200, { count: 1 }))
      sources[0].emit('ready', {})
      sources[0].emit('notification', note('n1', 'followed'))
      expect(notifications.unread).toBe(1)
      expect(notifications.list.state.items.map((n) => n.id)).toEqual(['n1'])
      await flush()
      expect(notifications.unread).toBe(1)
      notifications.stop()
      expect(sources[0].closed).toBe(true)
    })

    it('reconnects at once with a fresh URL when the token expired, and catches up on what it missed', async () => {
      const notifications = await live(0, [note('n1', 'liked', true)])
      sources[0].emit('expired', {})
      expect(sources[0].closed).toBe(true)
      await flush()
      expect(sources).toHaveLength(2)
      server
        .on('GET /api/v1/notifications/unread_count', json(200, { count: 1 }))
        .on('GET /api/v1/notifications', json(200, { items: [note('n2'), note('n1', 'liked', true)], next_cursor: null }))
      sources[1].open()
      await flush()
      expect(notifications.unread).toBe(1)
      expect(notifications.list.state.items.map((n) => n.id)).toEqual(['n2', 'n1'])
      notifications.stop()
    })

    it('starts the list over when it missed more than a page (resync)', async () => {
      const notifications = await live(0, [note('n1', 'liked', true)])
      sources[0].emit('resync', {})
      await flush()
      server
        .on('GET /api/v1/notifications/unread_count', json(200, { count: 2 }))
        .on('GET /api/v1/notifications', json(200, { items: [note('n9'), note('n8')], next_cursor: 'c' }))
      sources[1].open()
      await flush()
      await flush()
      expect(notifications.unread).toBe(2)
      expect(notifications.list.state.items.map((n) => n.id)).toEqual(['n9', 'n8'])
      expect(notifications.list.state.done).toBe(false)
      notifications.stop()
    })
  })
})

function note(id: string, kind: 'followed' | 'liked' | 'mentioned' | 'replied' = 'liked', read = false) {
  return { id, kind, actor: alice, post: kind === 'followed' ? null : makePost(`p-${id}`), created_at: alice.created_at, read }
}
