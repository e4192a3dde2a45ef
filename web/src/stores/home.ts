import { defineStore } from 'pinia'
import { ref } from 'vue'
import { useApi } from '@/api'
import type { Post } from '@/api'
import { createPagedList } from '@/lib/pagedList'
import { LiveStream, type StreamStatus } from '@/lib/stream'
import { usePostsStore } from './posts'

/**
 * The home timeline: pages of posts from the people I follow and me, plus new posts
 * arriving live. New posts go straight to the top while the reader is at the top;
 * otherwise they wait behind a "show new posts" button so the page does not jump.
 */
export const useHomeStore = defineStore('home', () => {
  const posts = usePostsStore()
  const feed = createPagedList<string>(async (cursor) => {
    const page = await useApi().homeTimeline({ cursor, limit: 20 })
    return { items: posts.upsertMany(page.items), next_cursor: page.next_cursor }
  }, (id) => id)
  /** Arrived live while the reader was scrolled down, newest first. */
  const pending = ref<string[]>([])
  const liveStatus = ref<StreamStatus>('idle')
  /** The view tells the store whether new posts may be shown at once. */
  const atTop = ref(true)
  let stream: LiveStream | null = null

  function receive(post: Post) {
    if (!post || typeof post.id !== 'string') return
    const known = !!posts.get(post.id)
    posts.upsert(post)
    // A new reply to a post on screen bumps its count (my own replies were counted when sent).
    const parent = post.reply_to ? posts.get(post.reply_to) : undefined
    if (!known && parent) parent.reply_count += 1
    if (feed.has(post.id) || pending.value.includes(post.id)) return
    if (atTop.value || !feed.state.loaded) feed.prepend([post.id])
    else pending.value = [post.id, ...pending.value]
  }

  /** Puts a post I just wrote at the top, whatever the scroll position. */
  function addOwn(post: Post) {
    posts.upsert(post)
    pending.value = pending.value.filter((id) => id !== post.id)
    feed.prepend([post.id])
  }

  function showPending() {
    feed.prepend(pending.value)
    pending.value = []
  }

  function connect() {
    if (!stream) {
      stream = new LiveStream({
        url: () => useApi().streamUrl('GET /api/v1/timeline/home/stream'),
        events: { post: (data) => receive(data as Post), message: (data) => receive(data as Post) },
        onStatus: (s) => (liveStatus.value = s),
      })
    }
    stream.start()
  }

  function disconnect() {
    stream?.stop()
  }

  /** Forgets everything (on logout, so the next user starts clean). */
  function reset() {
    disconnect()
    pending.value = []
    feed.clear()
  }

  function forget(id: string) {
    feed.remove(id)
    pending.value = pending.value.filter((p) => p !== id)
  }

  return { feed, pending, liveStatus, atTop, receive, addOwn, showPending, connect, disconnect, reset, forget }
})
