import { describe, expect, it } from 'vitest'
import { compactNumber, duration, relativeTime } from './time'

describe('relativeTime', () => {
  const now = Date.parse('2025-06-15T12:00:00Z')
  const ago = (ms: number) => new Date(now - ms).toISOString()

  it('says now for the last few seconds (and for clock skew)', () => {
    expect(relativeTime(ago(0), now)).toBe('now')
    expect(relativeTime(ago(-5000), now)).toBe('now')
  })

  it('uses seconds, minutes, hours and days', () => {
    expect(relativeTime(ago(42_000), now)).toBe('42s')
    expect(relativeTime(ago(5 * 60_000), now)).toBe('5m')
    expect(relativeTime(ago(3 * 3_600_000), now)).toBe('3h')
    expect(relativeTime(ago(6 * 86_400_000), now)).toBe('6d')
  })

  it('shows a date after a week, with the year when it differs', () => {
    expect(relativeTime('2025-03-04T10:00:00Z', now, 'en-US')).toBe('Mar 4')
    expect(relativeTime('2023-03-04T10:00:00Z', now, 'en-US')).toBe('Mar 4, 2023')
  })

  it('is empty for garbage', () => {
    expect(relativeTime('not a date', now)).toBe('')
  })
})

describe('compactNumber', () => {
  it('abbreviates large counts', () => {
    expect(compactNumber(999, 'en-US')).toBe('999')
    expect(compactNumber(1234, 'en-US')).toBe('1.2K')
  })
})

describe('duration', () => {
  it('says hours as the sign-up mail does, and minutes under an hour', () => {
    expect(duration(86_400)).toBe('24 hours')
    expect(duration(3_600)).toBe('1 hour')
    expect(duration(5_400)).toBe('1 hour')
    expect(duration(1_800)).toBe('30 minutes')
    expect(duration(60)).toBe('1 minute')
    expect(duration(0)).toBe('1 minute')
  })
})
