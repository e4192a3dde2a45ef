import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia, type Pinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createMemoryHistory, createRouter } from 'vue-router'
import HomeView from './HomeView.vue'
import NotificationsView from './NotificationsView.vue'
import { setApi } from '@/api'
import { setEventSourceImpl } from '@/lib/stream'
import { useHomeStore } from '@/stores/home'
import { useNotificationsStore } from '@/stores/notifications'
import { FakeEventSource } from '@/test/fakeEventSource'
import { alice, fakeClient, FakeServer, json, makePost, memoryTokens } from '@/test/fakeServer'

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
