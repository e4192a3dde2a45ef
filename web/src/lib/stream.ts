type EventSourceCtor = new (url: string) => EventSource

let EventSourceImpl: EventSourceCtor | null =
  typeof EventSource !== 'undefined' ? EventSource : null

/** Replaces the EventSource implementation (for tests). */
export function setEventSourceImpl(impl: EventSourceCtor | null): void {
  EventSourceImpl = impl
}

export type StreamStatus = 'idle' | 'connecting' | 'live' | 'reconnecting' | 'unsupported'

export interface LiveStreamOptions {
  /** Builds the URL for each (re)connection; null means "signed out, stop". */
  url: () => Promise<string | null>
  /** Handlers by SSE event name; data is parsed as JSON. */
  events: Record<string, (data: unknown) => void>
  onStatus?: (status: StreamStatus) => void
  /** Backoff bounds in ms. */
  minDelay?: number
  maxDelay?: number
}

/**
 * An EventSource that reconnects with a fresh URL (and so a fresh access token) and
 * exponential backoff whenever the browser gives up on the connection.
 */
export class LiveStream {
  private source: EventSource | null = null
  private timer: ReturnType<typeof setTimeout> | null = null
  private attempt = 0
  private stopped = true
  private readonly opts: Required<Omit<LiveStreamOptions, 'onStatus'>> & Pick<LiveStreamOptions, 'onStatus'>

  constructor(options: LiveStreamOptions) {
    this.opts = { minDelay: 1000, maxDelay: 30_000, ...options }
  }

  start(): void {
    if (!this.stopped) return
    this.stopped = false
    this.attempt = 0
    void this.connect()
  }

  stop(): void {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    this.source?.close()
    this.source = null
    this.opts.onStatus?.('idle')
  }

  get running(): boolean {
    return !this.stopped
  }

  private async connect(): Promise<void> {
    if (!EventSourceImpl) {
      this.opts.onStatus?.('unsupported')
      return
    }
    this.opts.onStatus?.(this.attempt === 0 ? 'connecting' : 'reconnecting')
    let url: string | null
    try {
      url = await this.opts.url()
    } catch {
      this.scheduleReconnect()
      return
    }
    if (this.stopped) return
    if (!url) {
      this.stop()
      return
    }
    const source = new EventSourceImpl(url)
    this.source = source
    source.onopen = () => {
      this.attempt = 0
      this.opts.onStatus?.('live')
    }
    source.onerror = () => {
      // CONNECTING: the browser retries by itself. CLOSED: it gave up (e.g. 401), so we
      // reconnect with a fresh URL.
      if (source.readyState === 2) {
        source.close()
        if (this.source === source) this.source = null
        this.scheduleReconnect()
      } else {
        this.opts.onStatus?.('reconnecting')
      }
    }
    for (const [name, handler] of Object.entries(this.opts.events)) {
      source.addEventListener(name, (event) => {
        const data = (event as MessageEvent).data
        try {
          handler(JSON.parse(String(data)))
        } catch {
          // Ignore malformed events rather than breaking the stream.
        }
      })
    }
  }

  private scheduleReconnect(): void {
    if (this.stopped) return
    this.opts.onStatus?.('reconnecting')
    const delay = Math.min(this.opts.maxDelay, this.opts.minDelay * 2 ** this.attempt)
    this.attempt++
    this.timer = setTimeout(() => {
      this.timer = null
      void this.connect()
    }, delay)
  }
}
