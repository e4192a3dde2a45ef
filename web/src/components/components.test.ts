import { flushPromises, mount, RouterLinkStub } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'
import { createMemoryHistory, createRouter } from 'vue-router'
import CharCounter from './CharCounter.vue'
import ComposeBox from './ComposeBox.vue'
import NotificationItem from './NotificationItem.vue'
import PostText from './PostText.vue'
import { setApi } from '@/api'
import { alice, fakeClient, FakeServer, json, makePost, memoryTokens, problem, flush } from '@/test/fakeServer'

const global = { stubs: { RouterLink: RouterLinkStub } }

beforeEach(() => setActivePinia(createPinia()))

describe('PostText', () => {
  it('renders tags, mentions and URLs as links and everything else as text', () => {
    const w = mount(PostText, { props: { text: 'Hi @bob see #rust https://x.dev <b>bold</b>' }, global })
    const links = w.findAllComponents(RouterLinkStub)
    expect(links.map((l) => l.props('to'))).toEqual([
      { name: 'profile', params: { username: 'bob' } },
      { name: 'tag', params: { tag: 'rust' } },
    ])
    const a = w.find('a[href="https://x.dev"]')
    expect(a.attributes('rel')).toContain('noopener')
    expect(a.attributes('target')).toBe('_blank')
    expect(w.find('b').exists()).toBe(false)
    expect(w.text()).toContain('<b>bold</b>')
  })
})

describe('CharCounter', () => {
  it('shows the remaining characters near and past the limit', () => {
    const w = mount(CharCounter, { props: { text: 'x'.repeat(100) } })
    expect(w.find('.number').exists()).toBe(false)
    expect(w.attributes('data-remaining')).toBe('180')
    return w.setProps({ text: 'x'.repeat(285) }).then(() => {
      expect(w.find('.number').text()).toBe('-5')
      expect(w.classes()).toContain('over')
      expect(w.text()).toContain('5 characters over the limit')
    })
  })
})

describe('ComposeBox', () => {
  it('counts graphemes, refuses an over-long post and explains why', async () => {
    const w = mount(ComposeBox, { global })
    const button = w.get('button[type="submit"]')
    expect(button.attributes('disabled')).toBeDefined() // empty
    await w.get('textarea').setValue('👨‍👩‍👧‍👦'.repeat(280))
    expect(button.attributes('disabled')).toBeUndefined()
    await w.get('textarea').setValue('x'.repeat(282))
    expect(button.attributes('disabled')).toBeDefined()
    expect(w.get('[role="alert"]').text()).toContain('2 characters too long')
  })

  it('posts, clears itself and emits the new post', async () => {
    const server = new FakeServer().on('POST /api/v1/posts', json(201, makePost('p9', { text: 'hello #vue' })))
    setApi(fakeClient(server, memoryTokens({ access_token: 'a', refresh_token: 'r' })))
    const w = mount(ComposeBox, { global })
    await w.get('textarea').setValue('hello #vue')
    await w.get('form').trigger('submit')
    await flush()
    expect(server.requests[0].body).toEqual({ text: 'hello #vue' })
    expect(server.requests[0].headers['Idempotency-Key']).toBeTruthy()
    expect((w.get('textarea').element as HTMLTextAreaElement).value).toBe('')
    expect(w.emitted('posted')?.[0]?.[0]).toMatchObject({ id: 'p9' })
  })

  it('shows the server’s message for the text field', async () => {
    const server = new FakeServer().on(
      'POST /api/v1/posts',
      problem(422, 'validation', 'Invalid post.', [{ field: 'text', message: 'Posts can be at most 280 characters.' }]),
    )
    setApi(fakeClient(server, memoryTokens({ access_token: 'a', refresh_token: 'r' })))
    const w = mount(ComposeBox, { global })
    await w.get('textarea').setValue('something')
    await w.get('form').trigger('submit')
    await flush()
    expect(w.get('[role="alert"]').text()).toContain('Posts can be at most 280 characters.')
    expect((w.get('textarea').element as HTMLTextAreaElement).value).toBe('something')
  })
})

describe('NotificationItem', () => {
  const Blank = { template: '<div />' }
  function router() {
    return createRouter({
      history: createMemoryHistory(),
      routes: [
        { path: '/', component: Blank },
        { path: '/posts/:id', name: 'post', component: Blank },
        { path: '/@:username', name: 'profile', component: Blank },
      ],
    })
  }
  function item(kind: 'followed' | 'liked' | 'mentioned' | 'replied', read = false) {
    const post = kind === 'followed' ? null : makePost('p1', { text: `about ${kind}` })
    return { id: 'n1', kind, actor: alice, post, created_at: alice.created_at, read }
  }

  it.each([
    ['followed', 'followed you', '/@alice'],
    ['liked', 'liked your post', '/posts/p1'],
    ['mentioned', 'mentioned you', '/posts/p1'],
    ['replied', 'replied to your post', '/posts/p1'],
  ] as const)('says who %s and links to what it is about', async (kind, words, href) => {
    const r = router()
    const w = mount(NotificationItem, { props: { notification: item(kind) }, global: { plugins: [r] } })
    await flushPromises()
    expect(w.get('.actor').text()).toBe('Alice')
    expect(w.get('.actor').attributes('href')).toBe('/@alice')
    expect(w.get('.what').text()).toBe(words)
    expect(w.get('.what').attributes('href')).toBe(href)
    expect(w.find('.excerpt').exists()).toBe(kind !== 'followed')
    if (kind !== 'followed') expect(w.get('.excerpt').text()).toBe(`about ${kind}`)
    expect(w.classes()).toContain('unread')
    expect(w.text()).toContain('(unread)')
  })

  it('opens the post when the item itself is clicked', async () => {
    const r = router()
    await r.push('/')
    const w = mount(NotificationItem, { props: { notification: item('replied', true) }, global: { plugins: [r] } })
    expect(w.classes()).not.toContain('unread')
    await w.get('.excerpt').trigger('click')
    await flushPromises()
    expect(r.currentRoute.value.fullPath).toBe('/posts/p1')
  })
})
