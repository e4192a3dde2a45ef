/** The longest post the server accepts, in grapheme clusters. */
export const MAX_POST_LENGTH = 280

let segmenter: Intl.Segmenter | null | undefined

function graphemeSegmenter(): Intl.Segmenter | null {
  if (segmenter === undefined) {
    segmenter =
      typeof Intl !== 'undefined' && 'Segmenter' in Intl
        ? new Intl.Segmenter(undefined, { granularity: 'grapheme' })
        : null
  }
  return segmenter
}

/**
 * Counts characters as a person (and the server) counts them: one per grapheme cluster,
 * so "é" written as e + combining accent, a flag or a family emoji each count once.
 */
export function graphemeLength(text: string): number {
  const seg = graphemeSegmenter()
  if (!seg) return Array.from(text).length
  let n = 0
  for (const _ of seg.segment(text)) n++
  return n
}

export type CounterLevel = 'ok' | 'warn' | 'over'

export interface CounterState {
  length: number
  remaining: number
  level: CounterLevel
  /** Share of the limit used, clamped to 0..1 (for the progress ring). */
  ratio: number
}

/** What the compose counter shows for `text`. Warns in the last 20 characters. */
export function counterState(text: string, max = MAX_POST_LENGTH): CounterState {
  const length = graphemeLength(text)
  const remaining = max - length
  const level: CounterLevel = remaining < 0 ? 'over' : remaining <= 20 ? 'warn' : 'ok'
  return { length, remaining, level, ratio: Math.min(1, length / max) }
}

export type TextPart =
  | { kind: 'text'; text: string }
  | { kind: 'tag'; text: string; tag: string }
  | { kind: 'mention'; text: string; username: string }
  | { kind: 'url'; text: string; href: string }

// One pass over the text; the first alternative that matches at a position wins.
// Hashtags and mentions must not follow a letter or digit (so "a#b" and "me@example.com"
// stay text); URLs must be http(s) so nothing else can become a link target.
const TOKEN =
  /(https?:\/\/[^\s<>"']+)|(?<![\p{L}\p{N}_&/])#([\p{L}\p{M}\p{N}_]+)|(?<![\p{L}\p{N}_./@])@([A-Za-z0-9_]{3,30})(?![A-Za-z0-9_])/gu

const TRAILING_PUNCTUATION = /[.,;:!?'"…]+$/

/** Trims punctuation that ends a sentence rather than the URL, keeping balanced brackets. */
function trimUrl(url: string): string {
  let end = url.length
  for (;;) {
    const before = end
    const trimmed = url.slice(0, end).replace(TRAILING_PUNCTUATION, '')
    end = trimmed.length
    const last = url[end - 1]
    const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' }
    if (last && pairs[last]) {
      const s = url.slice(0, end)
      const opens = s.split(pairs[last]).length - 1
      const closes = s.split(last).length - 1
      if (closes > opens) end -= 1
    }
    if (end === before) break
  }
  return url.slice(0, end)
}

function isSafeHttpUrl(candidate: string): boolean {
  try {
    const u = new URL(candidate)
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname.length > 0
  } catch {
    return false
  }
}

/**
 * Splits post text into plain text, #hashtags, @mentions and http(s) links. The parts are
 * rendered as text nodes and router links; the text itself is never treated as HTML.
 * With `mentions` (the server's list of existing users a post mentions), only those are links.
 */
export function linkify(text: string, options: { mentions?: readonly string[] } = {}): TextPart[] {
  const known = options.mentions ? new Set(options.mentions.map((m) => m.toLowerCase())) : null
  const parts: TextPart[] = []
  let last = 0
  const pushText = (s: string) => {
    if (!s) return
    const prev = parts[parts.length - 1]
    if (prev && prev.kind === 'text') prev.text += s
    else parts.push({ kind: 'text', text: s })
  }
  for (const m of text.matchAll(TOKEN)) {
    const start = m.index ?? 0
    if (start < last) continue
    let token: TextPart | null = null
    let length = m[0].length
    if (m[1]) {
      const url = trimUrl(m[1])
      length = url.length
      if (isSafeHttpUrl(url)) token = { kind: 'url', text: url, href: url }
    } else if (m[2]) {
      // As the server: a tag has at least one letter (#2024 is not a tag), at most 100 long.
      if (/\p{L}/u.test(m[2]) && Array.from(m[2]).length <= 100) token = { kind: 'tag', text: m[0], tag: m[2] }
    } else if (m[3] && (!known || known.has(m[3].toLowerCase()))) {
      token = { kind: 'mention', text: m[0], username: m[3] }
    }
    if (!token) continue
    pushText(text.slice(last, start))
    parts.push(token)
    last = start + length
  }
  pushText(text.slice(last))
  return parts
}

/** The hashtags in `text`, without '#', in order, first spelling of each (case-insensitive). */
export function extractHashtags(text: string): string[] {
  const seen = new Set<string>()
  const tags: string[] = []
  for (const part of linkify(text)) {
    if (part.kind === 'tag' && !seen.has(part.tag.toLowerCase())) {
      seen.add(part.tag.toLowerCase())
      tags.push(part.tag)
    }
  }
  return tags
}

/** Usernames: 3–30 ASCII letters, digits or underscores. */
export const USERNAME_PATTERN = /^[A-Za-z0-9_]{3,30}$/

/** Up to two initials for an avatar. */
export function initials(name: string, fallback = '?'): string {
  const words = name.trim().split(/\s+/).filter(Boolean)
  if (words.length === 0) return fallback
  const letters = words.length === 1 ? Array.from(words[0]).slice(0, 2) : [words[0], words[1]].map((w) => Array.from(w)[0])
  return letters.join('').toUpperCase()
}

/** A stable hue (0–359) for a username, for avatar colours. */
export function hueFor(seed: string): number {
  let h = 2166136261
  for (let i = 0; i < seed.length; i++) {
    h ^= seed.charCodeAt(i)
    h = Math.imul(h, 16777619)
  }
  return Math.abs(h) % 360
}
