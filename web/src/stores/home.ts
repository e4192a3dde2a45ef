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
 *
 * The stream ends itself when the access token expires (`expired`) or when it fell too far
 * behind (`resync`); it then reconnects at once with a fresh token, and the timeline asks for
 * its first page again to catch up on the posts of the gap (the server replays nothing to a
 * new EventSource). When more than a page was missed, the timeline starts over.
 */
export const useHomeStore = defineStore('home', () => {
  const posts = usePostsStore()
  const feed = createPagedList<string>(async (cursor) => {
    const page = await useApi().homeTimeline({ cursor, limit: 20 })
    return { items: posts.upsertMany(page.items), next_cursor: page.next_cursor }
  }, (id) => id)
  /** Arrived live while the reader was scrolled down, newest first. */
  const pending = ref<string[]>([])
  /**
   * More posts were missed than one page holds while the reader was scrolled down: the
   * pending posts are only the newest of them, and showing them starts the timeline over.
   */
  const pendingGap = ref(false)
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
    place([post.id])
  }

  /** Shows new posts (newest first) at the top, or holds them while the reader is scrolled down. */
  function place(ids: string[]) {
    const fresh = ids.filter((id) => !feed.has(id) && !pending.value.includes(id))
    if (!fresh.length) return
    if (atTop.value || !feed.state.loaded) feed.prepend(fresh)
    else pending.value = [...fresh, ...pending.value]
  }

  /** After the stream reconnected: the posts that arrived while it was down. */
  async function catchUp(): Promise<void> {
    const newer = await feed.fetchNewer()
    if (!newer) return
    if (!newer.gap) {
      place(newer.items)
    } else if (atTop.value) {
      pending.value = []
      pendingGap.value = false
      await feed.reload()
    } else {
      pending.value = newer.items
      pendingGap.value = true
    }
  }

  /** Puts a post I just wrote at the top, whatever the scroll position. */
  function addOwn(post: Post) {
    posts.upsert(post)
    pending.value = pending.value.filter((id) => id !== post.id)
    feed.prepend([post.id])
  }

  function showPending() {
    if (pendingGap.value) {
      pending.value = []
      pendingGap.value = false
      void feed.reload()
      return
    }
    feed.prepend(pending.value)
    pending.value = []
  }

  function connect() {
    if (!stream) {
      stream = new LiveStream({
        url: () => useApi().streamUrl('GET /api/v1/timeline/home/stream'),
        events: { post: (data) => receive(data as Post), message: (data) => receive(data as Post) },
        onStatus: (s) => (liveStatus.value = s),
        onResume: () => void catchUp(),
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
    pendingGap.value = false
    feed.clear()
  }

  function forget(id: string) {
    feed.remove(id)
    pending.value = pending.value.filter((p) => p !== id)
  }

  return {
    feed,
    pending,
    pendingGap,
    liveStatus,
    atTop,
    receive,
    addOwn,
    showPending,
    connect,
    disconnect,
    reset,
    forget,
  }
})
