/** A stand-in for EventSource that tests drive by hand. */
export class FakeEventSource {
  readyState = 0
  closed = false
  onopen: (() => void) | null = null
  onerror: (() => void) | null = null
  private listeners = new Map<string, ((e: { data: string }) => void)[]>()
  readonly url: string
  constructor(url: string) {
    this.url = url
  }
  addEventListener(name: string, fn: (e: { data: string }) => void) {
    this.listeners.set(name, [...(this.listeners.get(name) ?? []), fn])
  }
  open() {
    this.readyState = 1
    this.onopen?.()
  }
  emit(name: string, data: unknown) {
    for (const fn of this.listeners.get(name) ?? []) fn({ data: JSON.stringify(data) })
  }
  fail() {
    this.readyState = 2
    this.onerror?.()
  }
  close() {
    this.closed = true
    this.readyState = 2
  }
}
