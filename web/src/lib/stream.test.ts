import { afterEach, describe, expect, it, vi } from 'vitest'
import { LiveStream, setEventSourceImpl, type StreamStatus } from './stream'
import { FakeEventSource } from '@/test/fakeEventSource'
import { flush } from '@/test/fakeServer'

function capture() {
  const sources: FakeEventSource[] = []
  setEventSourceImpl(
    class extends FakeEventSource {
      constructor(url: string) {
        super(url)
        sources.push(this)
      }
    } as never,
  )
  return sources
}

afterEach(() => {
  setEventSourceImpl(null)
  vi.useRealTimers()
})

describe('LiveStream', () => {
  it('reconnects with a fresh URL and backoff after the browser gives up', async () => {
    vi.useFakeTimers()
    const sources = capture()
    let n = 0
    const statuses: StreamStatus[] = []
    const received: unknown[] = []
    const stream = new LiveStream({
      url: async () => `/stream?access_token=t${++n}`,
      events: { post: (d) => received.push(d) },
      onStatus: (s) => statuses.push(s),
      minDelay: 1000,
    })
    stream.start()
    await vi.advanceTimersByTimeAsync(0)
    expect(sources.map((s) => s.url)).toEqual(['/stream?access_token=t1'])
    sources[0].open()
    sources[0].emit('post', { id: 'a' })
    sources[0].fail() // e.g. 401 after the token expired
    await vi.advanceTimersByTimeAsync(999)
    expect(sources).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(1)
    expect(sources.map((s) => s.url)).toEqual(['/stream?access_token=t1', '/stream?access_token=t2'])
    sources[1].fail()
    await vi.advanceTimersByTimeAsync(1999)
    expect(sources).toHaveLength(2) // the second wait is longer
    await vi.advanceTimersByTimeAsync(1)
    expect(sources).toHaveLength(3)
    expect(received).toEqual([{ id: 'a' }])
    expect(statuses).toContain('live')
    expect(statuses).toContain('reconnecting')
    stream.stop()
    expect(sources[2].closed).toBe(true)
  })

  it('stops when signed out', async () => {
    const sources = capture()
    const stream = new LiveStream({ url: async () => null, events: {} })
    stream.start()
    await flush()
    expect(sources).toHaveLength(0)
    expect(stream.running).toBe(false)
  })

  it('ignores malformed events', async () => {
    const sources = capture()
    const received: unknown[] = []
    const stream = new LiveStream({ url: async () => '/s', events: { post: (d) => received.push(d) } })
    stream.start()
    await flush()
    for (const fn of (sources[0] as unknown as { listeners: Map<string, ((e: { data: string }) => void)[]> }).listeners.get('post') ?? []) {
      fn({ data: 'not json' })
    }
    sources[0].emit('post', { ok: true })
    expect(received).toEqual([{ ok: true }])
    stream.stop()
  })

  it('connects again at once with a fresh URL when the server ends the stream, and says it resumed', async () => {
    for (const end of ['expired', 'resync']) {
      const sources = capture()
      let n = 0
      const statuses: StreamStatus[] = []
      let resumed = 0
      const stream = new LiveStream({
        url: async () => `/stream?access_token=t${++n}`,
        events: {},
        onStatus: (s) => statuses.push(s),
        onResume: () => resumed++,
      })
      stream.start()
      await flush()
      sources[0].open()
      expect(resumed).toBe(0) // the first connection misses nothing
      sources[0].emit(end, {})
      expect(sources[0].closed, end).toBe(true)
      await flush() // no backoff: nothing but the new URL is awaited
      expect(sources.map((s) => s.url), end).toEqual(['/stream?access_token=t1', '/stream?access_token=t2'])
      expect(statuses.at(-1)).toBe('reconnecting')
      expect(resumed).toBe(0)
      sources[1].open()
      expect(statuses.at(-1)).toBe('live')
      expect(resumed, end).toBe(1)
      // The closed source's own retry (the browser's) changes nothing.
      sources[0].fail()
      await flush()
      expect(sources).toHaveLength(2)
      stream.stop()
    }
  })

  it('says it resumed after the browser reconnected by itself, or after a failed first try', async () => {
    vi.useFakeTimers()
    const sources = capture()
    let resumed = 0
    const stream = new LiveStream({ url: async () => '/s', events: {}, onResume: () => resumed++ })
    stream.start()
    await vi.advanceTimersByTimeAsync(0)
    sources[0].fail() // refused before it ever opened
    await vi.advanceTimersByTimeAsync(1000)
    sources[1].open()
    expect(resumed).toBe(1)
    sources[1].readyState = 0
    sources[1].onerror?.() // connection lost; the browser retries the same URL
    sources[1].open()
    expect(resumed).toBe(2)
    stream.stop()
  })

  it('backs off when the server ends every stream as soon as it opens', async () => {
    vi.useFakeTimers()
    const sources = capture()
    const stream = new LiveStream({ url: async () => '/s', events: {}, minDelay: 1000 })
    stream.start()
    await vi.advanceTimersByTimeAsync(0)
    sources[0].open()
    await vi.advanceTimersByTimeAsync(5000) // a connection that lasted
    sources[0].emit('expired', {})
    await vi.advanceTimersByTimeAsync(0)
    expect(sources).toHaveLength(2) // at once
    sources[1].open()
    sources[1].emit('resync', {})
    await vi.advanceTimersByTimeAsync(0)
    expect(sources).toHaveLength(3) // once more at once
    sources[2].open()
    sources[2].emit('resync', {}) // again right away: wait
    await vi.advanceTimersByTimeAsync(999)
    expect(sources).toHaveLength(3)
    await vi.advanceTimersByTimeAsync(1)
    expect(sources).toHaveLength(4)
    sources[3].open()
    sources[3].emit('resync', {}) // and longer each time
    await vi.advanceTimersByTimeAsync(1999)
    expect(sources).toHaveLength(4)
    await vi.advanceTimersByTimeAsync(1)
    expect(sources).toHaveLength(5)
    stream.stop()
  })

  it('drops a connection that was still asking for its URL when stopped', async () => {
    const sources = capture()
    let answer!: (url: string) => void
    const stream = new LiveStream({ url: () => new Promise<string>((r) => (answer = r)), events: {} })
    stream.start()
    stream.stop()
    answer('/s')
    await flush()
    expect(sources).toHaveLength(0)
  })
})
