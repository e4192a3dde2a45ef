import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia, type Pinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createMemoryHistory, createRouter } from 'vue-router'
import HomeView from './HomeView.vue'
import NotificationsView from './NotificationsView.vue'
import RegisterView from './RegisterView.vue'
import VerifyEmailView from './VerifyEmailView.vue'
import { setApi } from '@/api'
import { localSession } from '@/api/session'
import { setEventSourceImpl } from '@/lib/stream'
import { useAuthStore } from '@/stores/auth'
import { useHomeStore } from '@/stores/home'
import { useNotificationsStore } from '@/stores/notifications'
import { FakeEventSource } from '@/test/fakeEventSource'
import { alice, fakeClient, FakeServer, json, makePost, memoryTokens, problem } from '@/test/fakeServer'

const Blank = { template: '<div />' }

function note(id: string, kind: 'followed' | 'liked' | 'mentioned' | 'replied' = 'liked', read = false) {
  return { id, kind, actor: alice, post: kind === 'followed' ? null : makePost(`p-${id}`), created_at: alice.created_at, read }
}

let server: FakeServer
let pinia: Pinia

beforeEach(() => {
  pinia = createPinia()
  setActivePinia(pinia)
  server = new FakeServer().on('POST /api/v1/notifications/read', () => new Response(null, { status: 204 }))
  setApi(fakeClient(server, memoryTokens({ access_token: 'a', refresh_token: 'r' })))
})

afterEach(() => useNotificationsStore().stop())

async function openPage() {
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/notifications', name: 'notifications', component: NotificationsView },
      { path: '/posts/:id', name: 'post', component: Blank },
      { path: '/@:username', name: 'profile', component: Blank },
    ],
  })
  await router.push('/notifications')
  const w = mount(NotificationsView, { global: { plugins: [pinia, router] } })
  await flushPromises()
  return w
}

function reads() {
  return server.requests.filter((r) => r.method === 'POST' && r.path === '/api/v1/notifications/read').map((r) => r.body)
}

describe('NotificationsView', () => {
  it('marks what it shows read when opened, up to the newest item', async () => {
    server
      .on('GET /api/v1/notifications/unread_count', json(200, { count: 2 }))
      .on('GET /api/v1/notifications', json(200, { items: [note('n2'), note('n1', 'followed')], next_cursor: null }))
    const notifications = useNotificationsStore()
    await notifications.start()
    const w = await openPage()
    expect(w.findAll('article').map((a) => a.find('.what').text())).toEqual(['liked your post', 'followed you'])
    expect(reads()).toEqual([{ up_to: 'n2' }])
    expect(notifications.unread).toBe(0)
    expect(w.findAll('article.unread')).toHaveLength(0)
  })

  it('asks nothing when everything was read already', async () => {
    server
      .on('GET /api/v1/notifications/unread_count', json(200, { count: 0 }))
      .on('GET /api/v1/notifications', json(200, { items: [note('n1', 'liked', true)], next_cursor: null }))
    await useNotificationsStore().start()
    await openPage()
    expect(reads()).toEqual([])
  })

  it('puts a notification that arrives while open at the top and marks it read', async () => {
    server
      .on('GET /api/v1/notifications/unread_count', json(200, { count: 0 }))
      .on('GET /api/v1/notifications', json(200, { items: [note('n1', 'followed', true)], next_cursor: null }))
    const notifications = useNotificationsStore()
    await notifications.start()
    const w = await openPage()
    notifications.receive(note('n2', 'mentioned'))
    await flushPromises()
    const items = w.findAll('article')
    expect(items).toHaveLength(2)
    expect(items[0].text()).toContain('mentioned you')
    expect(items[0].text()).toContain('post p-n2')
    expect(reads()).toEqual([{ up_to: 'n2' }])
    expect(notifications.unread).toBe(0)
  })

  it('leaves notifications unread while the tab is in the background, and marks them when it comes back', async () => {
    const visibility = vi.spyOn(document, 'visibilityState', 'get').mockReturnValue('hidden')
    server
      .on('GET /api/v1/notifications/unread_count', json(200, { count: 1 }))
      .on('GET /api/v1/notifications', json(200, { items: [note('n1', 'replied')], next_cursor: null }))
    const notifications = useNotificationsStore()
    await notifications.start()
    const w = await openPage()
    expect(reads()).toEqual([])
    expect(notifications.unread).toBe(1)
    expect(w.find('article').classes()).toContain('unread')
    visibility.mockReturnValue('visible')
    document.dispatchEvent(new Event('visibilitychange'))
    await flushPromises()
    expect(reads()).toEqual([{ up_to: 'n1' }])
    expect(notifications.unread).toBe(0)
    w.unmount()
  })
})

describe('HomeView', () => {
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
  afterEach(() => {
    useHomeStore().reset()
    setEventSourceImpl(null)
    vi.restoreAllMocks()
  })

  function timeline(...ids: string[]) {
    server.on('GET /api/v1/timeline/home', json(200, { items: ids.map((id) => makePost(id)), next_cursor: 'older' }))
  }

  async function openHome() {
    const router = createRouter({
      history: createMemoryHistory(),
      routes: [
        { path: '/', name: 'home', component: HomeView },
        { path: '/explore', name: 'explore', component: Blank },
        { path: '/posts/:id', name: 'post', component: Blank },
        { path: '/@:username', name: 'profile', component: Blank },
        { path: '/tags/:tag', name: 'tag', component: Blank },
        { path: '/login', name: 'login', component: Blank },
      ],
    })
    await router.push('/')
    const w = mount(HomeView, { global: { plugins: [pinia, router] } })
    await flushPromises()
    return w
  }

  function scrollTo(y: number) {
    vi.spyOn(window, 'scrollY', 'get').mockReturnValue(y)
    window.dispatchEvent(new Event('scroll'))
  }

  function texts(w: Awaited<ReturnType<typeof openHome>>) {
    return w.findAll('article').map((a) => a.text())
  }

  it('after the stream expired, shows the posts of the gap once it is live again', async () => {
    timeline('p1')
    const w = await openHome()
    sources[0].open()
    await flushPromises()
    expect(w.get('[data-testid="live-status"]').attributes('data-status')).toBe('live')
    sources[0].emit('expired', {})
    await flushPromises()
    expect(sources).toHaveLength(2)
    timeline('p2', 'p1')
    sources[1].open()
    await flushPromises()
    expect(texts(w)).toEqual([expect.stringContaining('post p2'), expect.stringContaining('post p1')])
    expect(w.get('[data-testid="live-status"]').attributes('data-status')).toBe('live')
    w.unmount()
  })

  it('while scrolled down after a resync, offers the newest posts and starts the timeline over when asked', async () => {
    vi.spyOn(window, 'scrollTo').mockImplementation(() => {})
    timeline('p1')
    const w = await openHome()
    sources[0].open()
    scrollTo(600)
    sources[0].emit('resync', {})
    await flushPromises()
    timeline('p9', 'p8')
    sources[1].open()
    await flushPromises()
    expect(texts(w)).toEqual([expect.stringContaining('post p1')]) // the page does not jump
    const button = w.get('button.new-posts')
    expect(button.text()).toBe('2+ new posts')
    await button.trigger('click')
    await flushPromises()
    expect(texts(w)).toEqual([expect.stringContaining('post p9'), expect.stringContaining('post p8')])
    expect(w.find('button.new-posts').exists()).toBe(false)
    w.unmount()
  })
})

describe('RegisterView', () => {
  const pending = { status: 'confirmation_sent', email: 'ada@example.com', expires_in: 86_400 }

  beforeEach(() => localStorage.clear())

  async function openRegister() {
    const router = createRouter({
      history: createMemoryHistory(),
      routes: [
        { path: '/register', name: 'register', component: RegisterView },
        { path: '/', name: 'home', component: Blank },
        { path: '/login', name: 'login', component: Blank },
        { path: '/explore', name: 'explore', component: Blank },
      ],
    })
    await router.push('/register')
    const w = mount(RegisterView, { global: { plugins: [pinia, router] }, attachTo: document.body })
    await w.get('input[name="username"]').setValue('ada')
    await w.get('input[name="email"]').setValue('ada@example.com')
    await w.get('input[name="password"]').setValue('a long enough password')
    return { w, router }
  }

  it('signs in and opens the home timeline when the account is created at once (201)', async () => {
    server.on('POST /api/v1/auth/register', json(201, { user: alice, access_token: 'A', refresh_token: 'R', expires_in: 900 }))
    const { w, router } = await openRegister()
    await w.get('form').trigger('submit')
    await flushPromises()
    expect(router.currentRoute.value.name).toBe('home')
    expect(localSession.accessToken()).toBe('A')
    w.unmount()
  })

  it('asks to check the inbox instead of the form when a link was mailed (202), signing nothing in', async () => {
    server.on('POST /api/v1/auth/register', json(202, pending))
    const { w, router } = await openRegister()
    await w.get('form').trigger('submit')
    await flushPromises()
    expect(server.requests[0].body).toEqual({ username: 'ada', email: 'ada@example.com', password: 'a long enough password' })
    expect(w.find('form').exists()).toBe(false)
    const heading = w.get('h1')
    expect(heading.text()).toBe('Check your inbox')
    expect(document.activeElement).toBe(heading.element) // the form that had focus is gone
    const text = w.get('[data-testid="signup-pending"]').text()
    expect(text).toContain('We sent a link to ada@example.com.')
    expect(text).toContain('within 24 hours')
    expect(text).toMatch(/spam folder, or sign up again/)
    expect(router.currentRoute.value.name).toBe('register')
    expect(useAuthStore().isLoggedIn).toBe(false)
    expect(localSession.accessToken()).toBeNull()
    w.unmount()
  })

  it('goes back to the form as it was filled in to send a new link', async () => {
    server.on('POST /api/v1/auth/register', json(202, pending))
    const { w } = await openRegister()
    await w.get('form').trigger('submit')
    await flushPromises()
    await w.get('button').trigger('click')
    await flushPromises()
    expect(w.get('h1').text()).toBe('Join SocialDevs')
    expect((w.get('input[name="email"]').element as HTMLInputElement).value).toBe('ada@example.com')
    await w.get('form').trigger('submit')
    await flushPromises()
    expect(server.count('POST /api/v1/auth/register')).toBe(2)
    expect(w.get('h1').text()).toBe('Check your inbox')
    w.unmount()
  })

  it('keeps the form and says why when the mail could not be sent (503)', async () => {
    server.on('POST /api/v1/auth/register', problem(503, 'unavailable', 'The confirmation e-mail could not be sent; try again shortly.'))
    const { w } = await openRegister()
    await w.get('form').trigger('submit')
    await flushPromises()
    expect(w.get('[data-testid="form-error"]').text()).toBe('The confirmation e-mail could not be sent; try again shortly.')
    expect(w.find('form').exists()).toBe(true)
    expect(w.find('[data-testid="signup-pending"]').exists()).toBe(false)
    w.unmount()
  })
})

describe('VerifyEmailView', () => {
  const session = { user: alice, access_token: 'A', refresh_token: 'R', expires_in: 900 }

  beforeEach(() => localStorage.clear())

  async function openLink(path: string) {
    const router = createRouter({
      history: createMemoryHistory(),
      routes: [
        { path: '/verify-email', name: 'verify-email', component: VerifyEmailView },
        { path: '/', name: 'home', component: Blank },
        { path: '/login', name: 'login', component: Blank },
        { path: '/register', name: 'register', component: Blank },
        { path: '/explore', name: 'explore', component: Blank },
      ],
    })
    await router.push(path)
    const w = mount(VerifyEmailView, { global: { plugins: [pinia, router] } })
    return { w, router }
  }

  function verifications() {
    return server.requests.filter((r) => r.path === '/api/v1/auth/verify-email').map((r) => r.body)
  }

  it('takes the token out of the address bar, confirms it, signs in and opens the home timeline', async () => {
    let answer!: (r: Response) => void
    server.on('POST /api/v1/auth/verify-email', () => new Promise<Response>((r) => (answer = r)))
    const { w, router } = await openLink('/verify-email#token=abc_DEF-123')
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/verify-email') // before the server answers
    expect(w.get('h1').text()).toBe('Confirming your email')
    expect(w.get('[role="status"]').text()).toContain('Confirming your email address')
    expect(verifications()).toEqual([{ token: 'abc_DEF-123' }])
    expect(server.requests[0].headers.Authorization).toBeUndefined()
    answer(json(201, session))
    await flushPromises()
    expect(router.currentRoute.value.name).toBe('home')
    expect(useAuthStore().user).toEqual(alice)
    expect(localSession.accessToken()).toBe('A')
  })

  it('says a used or expired link does not work and offers to sign up again (422)', async () => {
    server.on(
      'POST /api/v1/auth/verify-email',
      problem(422, 'validation', 'Invalid fields: token.', [{ field: 'token', message: 'is not valid or has expired' }]),
    )
    const { w, router } = await openLink('/verify-email#token=used')
    await flushPromises()
    expect(w.get('h1').text()).toBe('This link doesn’t work')
    expect(w.get('[role="alert"]').text()).toContain('not valid or has expired')
    expect(w.get('a[href="/register"]').text()).toBe('Sign up again')
    expect(w.get('a[href="/login"]').text()).toBe('Log in')
    expect(router.currentRoute.value.fullPath).toBe('/verify-email')
    expect(localSession.accessToken()).toBeNull()
  })

  it('offers the home timeline instead when the refused link is opened while signed in', async () => {
    localSession.saveSession(session)
    setActivePinia((pinia = createPinia())) // the auth store reads the saved session afresh
    server.on('POST /api/v1/auth/verify-email', problem(422, 'validation', 'Invalid fields: token.', [{ field: 'token', message: 'expired' }]))
    const { w } = await openLink('/verify-email#token=used')
    await flushPromises()
    expect(w.get('h1').text()).toBe('This link doesn’t work')
    expect(w.get('a[href="/"]').text()).toBe('Go to your home timeline')
    expect(w.find('a[href="/register"]').exists()).toBe(false)
    expect(localSession.accessToken()).toBe('A')
  })

  it('says the username or address was taken since, and offers to log in or sign up again (409)', async () => {
    server.on(
      'POST /api/v1/auth/verify-email',
      problem(409, 'conflict', 'That username is already taken.', [{ field: 'username', message: 'That username is already taken.' }]),
    )
    const { w } = await openLink('/verify-email#token=late')
    await flushPromises()
    expect(w.get('h1').text()).toBe('That name or address is taken')
    expect(w.get('[role="alert"]').text()).toContain('That username is already taken. Someone created an account with it after you signed up.')
    expect(w.get('.actions a[href="/login"]').text()).toBe('Log in')
    expect(w.get('.actions a[href="/register"]').text()).toBe('Sign up again')
    expect(localSession.accessToken()).toBeNull()
  })

  it('reads another link opened in the same tab, where only the fragment changes', async () => {
    server.on('POST /api/v1/auth/verify-email', problem(422, 'validation', 'Invalid fields: token.', [{ field: 'token', message: 'expired' }]))
    const { w, router } = await openLink('/verify-email#token=old')
    await flushPromises()
    expect(w.get('h1').text()).toBe('This link doesn’t work')
    server.on('POST /api/v1/auth/verify-email', json(201, session))
    await router.push('/verify-email#token=new')
    await flushPromises()
    expect(verifications()).toEqual([{ token: 'old' }, { token: 'new' }])
    expect(router.currentRoute.value.name).toBe('home')
  })

  it('asks nothing without a token in the link', async () => {
    const { w } = await openLink('/verify-email')
    await flushPromises()
    expect(verifications()).toEqual([])
    expect(w.get('h1').text()).toBe('This link doesn’t work')
  })

  it('offers to try the same link again after a server problem', async () => {
    server.on('POST /api/v1/auth/verify-email', problem(503, 'unavailable', 'The users database is unavailable; try again shortly.'))
    const { w, router } = await openLink('/verify-email#token=abc')
    await flushPromises()
    expect(w.get('[role="alert"]').text()).toBe('The users database is unavailable; try again shortly.')
    server.on('POST /api/v1/auth/verify-email', json(201, session))
    await w.get('button').trigger('click')
    await flushPromises()
    expect(verifications()).toEqual([{ token: 'abc' }, { token: 'abc' }])
    expect(router.currentRoute.value.name).toBe('home')
  })
})
