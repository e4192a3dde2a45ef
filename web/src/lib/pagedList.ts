import { reactive } from 'vue'
import { ApiError, errorMessage } from '@/api'
import type { Page } from '@/api'

export interface PagedList<T> {
  readonly state: {
    items: T[]
    cursor: string | null
    loading: boolean
    /** True once the first page arrived (so "empty" can be told from "not loaded yet"). */
    loaded: boolean
    /** True when the server said there is nothing more. */
    done: boolean
    error: string | null
    errorStatus: number | null
  }
  loadMore(): Promise<void>
  reload(): Promise<void>
  /** Forgets all items without loading. */
  clear(): void
  /** Adds items at the top, skipping ones already there; returns how many were new. */
  prepend(items: T[]): number
  remove(key: string): void
  has(key: string): boolean
  /**
   * Asks for the first page again (after a live stream was interrupted) and returns the
   * items the list lacks, newest first, without adding them. `gap` is true when the page
   * holds none of the list's items: more than a page was missed, so the list should start
   * over. Null when the list is not loaded (it loads fresh anyway), when it was cleared or
   * reloaded meanwhile, or when the request failed (the next reconnection tries again).
   */
  fetchNewer(): Promise<{ items: T[]; gap: boolean } | null>
}

/**
 * A cursor-paginated list: loads page after page, ignores answers that arrive after a reload,
 * and never holds the same item twice (live updates and pages can overlap).
 */
export function createPagedList<T>(
  fetchPage: (cursor: string | null) => Promise<Page<T>>,
  keyOf: (item: T) => string,
): PagedList<T> {
  const state = reactive({
    items: [] as T[],
    cursor: null as string | null,
    loading: false,
    loaded: false,
    done: false,
    error: null as string | null,
    errorStatus: null as number | null,
  })
  const keys = new Set<string>()
  let generation = 0

  async function loadMore(): Promise<void> {
    if (state.loading || state.done) return
    const mine = generation
    state.loading = true
    state.error = null
    state.errorStatus = null
    try {
      const page = await fetchPage(state.loaded ? state.cursor : null)
      if (mine !== generation) return
      for (const item of page.items) {
        const k = keyOf(item)
        if (keys.has(k)) continue
        keys.add(k)
        ;(state.items as T[]).push(item)
      }
      state.cursor = page.next_cursor ?? null
      state.done = !page.next_cursor || page.items.length === 0
      state.loaded = true
    } catch (err) {
      if (mine !== generation) return
      state.error = errorMessage(err)
      state.errorStatus = err instanceof ApiError ? err.status : null
    } finally {
      if (mine === generation) state.loading = false
    }
  }

  function clear(): void {
    generation++
    keys.clear()
    state.items = []
    state.cursor = null
    state.loaded = false
    state.done = false
    state.loading = false
    state.error = null
    state.errorStatus = null
  }

  async function reload(): Promise<void> {
    clear()
    await loadMore()
  }

  function prepend(items: T[]): number {
    const fresh = items.filter((item) => {
      const k = keyOf(item)
      if (keys.has(k)) return false
      keys.add(k)
      return true
    })
    if (fresh.length) (state.items as T[]).unshift(...fresh)
    return fresh.length
  }

  async function fetchNewer(): Promise<{ items: T[]; gap: boolean } | null> {
    if (!state.loaded) return null
    const mine = generation
    let page: Page<T>
    try {
      page = await fetchPage(null)
    } catch {
      return null
    }
    if (mine !== generation || !state.loaded) return null
    const items = page.items.filter((item) => !keys.has(keyOf(item)))
    return { items, gap: page.items.length > 0 && items.length === page.items.length }
  }

  function remove(key: string): void {
    if (!keys.delete(key)) return
    state.items = (state.items as T[]).filter((item) => keyOf(item) !== key) as typeof state.items
  }

  return {
    state: state as PagedList<T>['state'],
    loadMore,
    reload,
    clear,
    prepend,
    remove,
    has: (k) => keys.has(k),
    fetchNewer,
  }
}
