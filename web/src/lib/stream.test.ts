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
})
