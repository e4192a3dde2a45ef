const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

/**
 * A short relative time as social apps show it: "now", "42s", "5m", "3h", "6d",
 * then a date ("Mar 4", or "Mar 4, 2023" in another year).
 */
export function relativeTime(iso: string, now: number = Date.now(), locale?: string): string {
  const then = Date.parse(iso)
  if (Number.isNaN(then)) return ''
  const diff = now - then
  if (diff < 10_000) return 'now'
  if (diff < MINUTE) return `${Math.floor(diff / 1000)}s`
  if (diff < HOUR) return `${Math.floor(diff / MINUTE)}m`
  if (diff < DAY) return `${Math.floor(diff / HOUR)}h`
  if (diff < 7 * DAY) return `${Math.floor(diff / DAY)}d`
  const date = new Date(then)
  const sameYear = date.getFullYear() === new Date(now).getFullYear()
  return date.toLocaleDateString(locale, {
    month: 'short',
    day: 'numeric',
    ...(sameYear ? {} : { year: 'numeric' }),
  })
}

/** The full date and time, for tooltips and screen readers. */
export function absoluteTime(iso: string, locale?: string): string {
  const then = Date.parse(iso)
  if (Number.isNaN(then)) return ''
  return new Date(then).toLocaleString(locale, { dateStyle: 'medium', timeStyle: 'short' })
}

/** "Joined March 2024". */
export function joinedDate(iso: string, locale?: string): string {
  const then = Date.parse(iso)
  if (Number.isNaN(then)) return ''
  return new Date(then).toLocaleDateString(locale, { month: 'long', year: 'numeric' })
}

/** 1234 → "1.2K". */
export function compactNumber(n: number, locale?: string): string {
  return new Intl.NumberFormat(locale, { notation: 'compact', maximumFractionDigits: 1 }).format(n)
}

/** How long something lasts, as the sign-up mail says it: "24 hours", "1 hour", "30 minutes". */
export function duration(seconds: number): string {
  const hours = Math.floor(seconds / 3600)
  if (hours >= 1) return hours === 1 ? '1 hour' : `${hours} hours`
  const minutes = Math.max(1, Math.floor(seconds / 60))
  return minutes === 1 ? '1 minute' : `${minutes} minutes`
}
