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
  /**
   * Called when the stream is live again after an interruption (the browser reconnected,
   * or the server ended the stream and it connected again): what was sent in between is
   * lost, so the caller catches up over HTTP.
   */
  onResume?: () => void
  /** Backoff bounds in ms. */
  minDelay?: number
  maxDelay?: number
}

/**
 * Events after which the server ends a stream: `expired` (the access token in the URL ran
 * out) and `resync` (the client fell too far behind). Either way the browser's own retry
 * would be no use (it reuses the old URL, so the old token), so the stream connects again at
 * once with a fresh URL.
 */
export const STREAM_END_EVENTS = ['expired', 'resync'] as const

/**
 * An EventSource that reconnects with a fresh URL (and so a fresh access token): at once
 * when the server ends the stream (`expired`, `resync`), with exponential backoff whenever
 * the browser gives up on the connection.
 *
 * EventSource cannot send headers, and a new EventSource does not send `Last-Event-ID`, so
 * the server replays nothing after such a reconnection: `onResume` tells the caller to fetch
 * what it missed.
 */
export class LiveStream {
  private source: EventSource | null = null
  private timer: ReturnType<typeof setTimeout> | null = null
  private attempt = 0
  /** Bumped by stop(), so a connection still asking for its URL is dropped. */
  private run = 0
  private stopped = true
  /** Whether the stream was interrupted since start, so the next open resumes it. */
  private interrupted = false
  /** When the current connection opened, and how many in a row the server ended at once. */
  private openedAt = 0
  private quickEnds = 0
  private readonly opts: Required<Omit<LiveStreamOptions, 'onStatus' | 'onResume'>> &
    Pick<LiveStreamOptions, 'onStatus' | 'onResume'>

  constructor(options: LiveStreamOptions) {
    this.opts = { minDelay: 1000, maxDelay: 30_000, ...options }
  }

  start(): void {
    if (!this.stopped) return
    this.stopped = false
    this.attempt = 0
    this.interrupted = false
    this.quickEnds = 0
    void this.connect()
  }

  stop(): void {
    this.stopped = true
    this.run++
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
    this.opts.onStatus?.(this.interrupted ? 'reconnecting' : 'connecting')
    const run = this.run
    let url: string | null
    try {
      url = await this.opts.url()
    } catch {
      if (run === this.run) this.scheduleReconnect()
      return
    }
    if (this.stopped || run !== this.run) return
    if (!url) {
      this.stop()
      return
    }
    const source = new EventSourceImpl(url)
    this.source = source
    source.onopen = () => {
      if (this.source !== source) return
      this.attempt = 0
      this.openedAt = Date.now()
      this.opts.onStatus?.('live')
      if (this.interrupted) this.opts.onResume?.()
    }
    source.onerror = () => {
      if (this.source !== source) return
      this.interrupted = true
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
    for (const name of STREAM_END_EVENTS) {
      source.addEventListener(name, () => this.reconnectNow(source))
    }
  }

  /** The server ended `source`: connect again at once with a fresh URL. */
  private reconnectNow(source: EventSource): void {
    if (this.stopped || this.source !== source) return
    source.close()
    this.source = null
    this.interrupted = true
    // A server that ends every stream as soon as it opens would make this a busy loop: from
    // the second such end in a row, wait as after a failure.
    this.quickEnds = Date.now() - this.openedAt < this.opts.minDelay ? this.quickEnds + 1 : 0
    if (this.quickEnds > 1) {
      this.attempt = this.quickEnds - 2
      this.scheduleReconnect()
      return
    }
    this.attempt = 0
    void this.connect()
  }

  private scheduleReconnect(): void {
    if (this.stopped) return
    this.interrupted = true
    this.opts.onStatus?.('reconnecting')
    const delay = Math.min(this.opts.maxDelay, this.opts.minDelay * 2 ** this.attempt)
    this.attempt++
    this.timer = setTimeout(() => {
      this.timer = null
      void this.connect()
    }, delay)
  }
}
