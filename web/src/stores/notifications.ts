import { defineStore } from 'pinia'
import { ref } from 'vue'
import { ApiError, useApi } from '@/api'
import type { Notification } from '@/api'
import { createPagedList } from '@/lib/pagedList'
import { LiveStream, type StreamStatus } from '@/lib/stream'

/** How often to look again for a notifications service that is not deployed yet. */
const RECHECK_MS = 60_000

/**
 * Notifications and the unread badge. The notifications service may be missing (404) in
 * some deployments: then `available` is false, the page says so quietly, and the store
 * checks again now and then so the feature lights up once the service is there.
 */
export const useNotificationsStore = defineStore('notifications', () => {
  /** null until the first check answers. */
  const available = ref<boolean | null>(null)
  const unread = ref(0)
  const liveStatus = ref<StreamStatus>('idle')
  const list = createPagedList<Notification>(
    async (cursor) => {
      try {
        return await useApi().notifications({ cursor, limit: 20 })
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

  function isMissing(err: unknown) {
    return err instanceof ApiError && (err.status === 404 || err.status === 405 || err.status === 501)
  }

  async function refreshCount(): Promise<void> {
    try {
      const { count } = await useApi().unreadCount()
      unread.value = Math.max(0, Number(count) || 0)
      available.value = true
    } catch (err) {
      if (isMissing(err)) available.value = false
      // Other failures (offline, 5xx) keep the last known count; the badge is not worth an error.
    }
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
        onStatus: (s) => (liveStatus.value = s),
      })
    }
    stream.start()
  }

  function receive(n: Notification) {
    if (!n || typeof n.id !== 'string' || list.has(n.id)) return
    if (list.state.loaded) list.prepend([n])
    if (!n.read) unread.value += 1
  }

  /** Marks every notification read; the badge clears at once and comes back if that fails. */
  async function markAllRead(): Promise<void> {
    if (!available.value) return
    const before = unread.value
    unread.value = 0
    for (const n of list.state.items) n.read = true
    try {
      await useApi().markNotificationsRead()
    } catch {
      unread.value = before
    }
  }

  function stop() {
    started = false
    stream?.stop()
    if (recheck) clearTimeout(recheck)
    recheck = null
    unread.value = 0
    available.value = null
    list.clear()
  }

  return { available, unread, liveStatus, list, start, stop, refreshCount, receive, markAllRead }
})
