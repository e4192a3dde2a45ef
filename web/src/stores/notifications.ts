import { defineStore } from 'pinia'
import { ref } from 'vue'
import { ApiError, useApi } from '@/api'
import type { Notification } from '@/api'
import { createPagedList } from '@/lib/pagedList'
import { LiveStream, type StreamStatus } from '@/lib/stream'

/** How often to look again for a notifications service that is not deployed yet. */
const RECHECK_MS = 60_000
const PAGE_SIZE = 20

/**
 * Notifications and the unread badge. The notifications service may be missing (404) in
 * some deployments: then `available` is false, the page says so quietly, and the store
 * checks again now and then so the feature lights up once the service is there.
 *
 * The badge counts a live notification at once and then asks the server for the count, so
 * it stays right when the stream repeats or misses something. After the stream reconnects
 * (it ends when the access token expires, or when it fell behind) the count and the list
 * catch up on what arrived in between.
 */
export const useNotificationsStore = defineStore('notifications', () => {
  /** null until the first check answers. */
  const available = ref<boolean | null>(null)
  const unread = ref(0)
  const liveStatus = ref<StreamStatus>('idle')
  const list = createPagedList<Notification>(
    async (cursor) => {
      try {
        const page = await useApi().notifications({ cursor, limit: PAGE_SIZE })
        available.value = true
        return page
      } catch (err) {
        if (isMissing(err)) {
          available.value = false
          return { items: [], next_cursor: null }
        }
        throw err
      }
    },
    (n) => n.id,
  )
  let stream: LiveStream | null = null
  let recheck: ReturnType<typeof setTimeout> | null = null
  let started = false
  /** Bumped by every local change of `unread`: a count asked for before one is stale. */
  let changes = 0
  let counting: Promise<void> | null = null
  let countAgain = false

  function isMissing(err: unknown) {
    return err instanceof ApiError && (err.status === 404 || err.status === 405 || err.status === 501)
  }

  /** Asks the server for the unread count and shows it, unless it changed here meanwhile. */
  async function refreshCount(): Promise<void> {
    const asked = changes
    try {
      const { count } = await useApi().unreadCount()
      if (asked !== changes) return
      unread.value = Math.max(0, Number(count) || 0)
      available.value = true
    } catch (err) {
      if (isMissing(err)) available.value = false
      // Other failures (offline, 5xx) keep the last known count; the badge is not worth an error.
    }
  }

  /** Refreshes the count after a local guess; one request at a time, the last one wins. */
  function reconcileCount(): Promise<void> {
    if (counting) {
      countAgain = true
      return counting
    }
    counting = (async () => {
      do {
        countAgain = false
        if (!started) break
        // A notification that arrives meanwhile sets countAgain: this answer may not count it.
        await refreshCount()
      } while (countAgain && started)
    })().finally(() => {
      counting = null
    })
    return counting
  }

  /** Starts the badge and live updates for the signed-in user. */
  async function start(): Promise<void> {
    if (started) return
    started = true
    await refreshCount()
    if (!started) return
    if (available.value) openStream()
    else scheduleRecheck()
  }

  function scheduleRecheck() {
    if (recheck || !started) return
    recheck = setTimeout(async () => {
      recheck = null
      if (!started) return
      await refreshCount()
      if (available.value) openStream()
      else scheduleRecheck()
    }, RECHECK_MS)
  }

  function openStream() {
    if (!stream) {
      stream = new LiveStream({
        url: () => useApi().streamUrl('GET /api/v1/notifications/stream'),
        events: {
          notification: (data) => receive(data as Notification),
          message: (data) => receive(data as Notification),
        },
        onStatus: (status) => (liveStatus.value = status),
        // Reconnected (e.g. after `expired` or `resync`): nothing is replayed, so catch up.
        onResume: () => void catchUp(),
      })
    }
    stream.start()
  }

  /** After a reconnection: what arrived while the stream was down. */
  async function catchUp(): Promise<void> {
    if (!started) return
    const counted = reconcileCount()
    const newer = await list.fetchNewer()
    if (newer && started) {
      if (newer.gap) await list.reload() // more than a page was missed: start over
      else list.prepend(newer.items)
    }
    await counted
  }

  function receive(n: Notification) {
    if (!n || typeof n.id !== 'string' || list.has(n.id)) return
    if (list.state.loaded) list.prepend([n])
    if (!n.read) {
      changes++
      unread.value += 1
      void reconcileCount()
    }
  }

  /**
   * Marks what the list shows read (the newest item and everything older; all of them when
   * the list is empty); the badge clears at once and comes back if that fails.
   */
  async function markAllRead(): Promise<void> {
    if (!available.value) return
    const before = unread.value
    const newest = list.state.items[0]?.id
    changes++
    unread.value = 0
    const marked = list.state.items.filter((n) => !n.read)
    for (const n of marked) n.read = true
    try {
      await useApi().markNotificationsRead(newest)
      changes++ // counts asked for while marking may predate it
    } catch {
      changes++
      unread.value += before
      for (const n of marked) n.read = false
    }
  }

  function stop() {
    started = false
    changes++
    stream?.stop()
    if (recheck) clearTimeout(recheck)
    recheck = null
    unread.value = 0
    available.value = null
    list.clear()
  }

  return { available, unread, liveStatus, list, start, stop, refreshCount, receive, markAllRead }
})
