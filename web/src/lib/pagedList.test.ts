import { describe, expect, it } from 'vitest'
import { createPagedList } from './pagedList'
import type { Page } from '@/api'
import { ApiError } from '@/api'

function deferred<T>() {
  let resolve!: (v: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}

describe('createPagedList', () => {
  it('passes the cursor along and stops at the last page', async () => {
    const cursors: (string | null)[] = []
    const list = createPagedList<number>(async (cursor) => {
      cursors.push(cursor)
      return cursor ? { items: [3], next_cursor: null } : { items: [1, 2], next_cursor: 'c' }
    }, String)
    await list.loadMore()
    await list.loadMore()
    await list.loadMore()
    expect(cursors).toEqual([null, 'c'])
    expect(list.state).toMatchObject({ items: [1, 2, 3], done: true, loaded: true })
  })

  it('drops an answer that arrives after a reload', async () => {
    const first = deferred<Page<string>>()
    let calls = 0
    const list = createPagedList<string>((): Promise<Page<string>> => {
      calls++
      return calls === 1 ? first.promise : Promise.resolve({ items: ['fresh'], next_cursor: null })
    }, (s) => s)
    const stale = list.loadMore()
    await list.reload()
    first.resolve({ items: ['stale'], next_cursor: null })
    await stale
    expect(list.state.items).toEqual(['fresh'])
    expect(list.state.loading).toBe(false)
  })

  it('keeps the error and lets the reader retry', async () => {
    let fail = true
    const list = createPagedList<string>(async () => {
      if (fail) {
        throw new ApiError({ type: 'https://socialdevs.dev/problems/unavailable', title: 'x', status: 503, detail: 'Down for a moment.' })
      }
      return { items: ['a'], next_cursor: null }
    }, (s) => s)
    await list.loadMore()
    expect(list.state).toMatchObject({ error: 'Down for a moment.', errorStatus: 503, loaded: false })
    fail = false
    await list.loadMore()
    expect(list.state).toMatchObject({ error: null, items: ['a'], loaded: true })
  })

  it('prepends only new items and removes by key', async () => {
    const list = createPagedList<string>(async () => ({ items: ['b', 'c'], next_cursor: null }), (s) => s)
    await list.loadMore()
    expect(list.prepend(['a', 'b'])).toBe(1)
    expect(list.state.items).toEqual(['a', 'b', 'c'])
    list.remove('b')
    expect(list.state.items).toEqual(['a', 'c'])
    expect(list.has('b')).toBe(false)
  })

  it('tells what a fresh first page holds that the list lacks, without adding it', async () => {
    let page: Page<string> = { items: ['b', 'c'], next_cursor: 'c1' }
    const list = createPagedList<string>(async () => page, (s) => s)
    expect(await list.fetchNewer()).toBeNull() // not loaded: nothing to catch up on
    await list.loadMore()
    page = { items: ['a', 'b'], next_cursor: 'c2' }
    expect(await list.fetchNewer()).toEqual({ items: ['a'], gap: false })
    expect(list.state.items).toEqual(['b', 'c'])
    page = { items: ['y', 'x'], next_cursor: 'c3' }
    expect(await list.fetchNewer()).toEqual({ items: ['y', 'x'], gap: true }) // more than a page missed
    page = { items: [], next_cursor: null }
    expect(await list.fetchNewer()).toEqual({ items: [], gap: false })
  })

  it('answers nothing when the list was cleared meanwhile or the request failed', async () => {
    const answer = deferred<Page<string>>()
    let calls = 0
    const list = createPagedList<string>(async () => {
      calls++
      if (calls === 2) return answer.promise
      if (calls === 4) throw new Error('offline')
      return { items: ['a'], next_cursor: null }
    }, (s) => s)
    await list.loadMore()
    const newer = list.fetchNewer()
    list.clear()
    answer.resolve({ items: ['b', 'a'], next_cursor: null })
    expect(await newer).toBeNull()
    await list.reload()
    expect(await list.fetchNewer()).toBeNull()
    expect(list.state.error).toBeNull() // a failed catch-up is not the list's error
  })
})
