import { describe, expect, it } from 'vitest'
import { counterState, extractHashtags, graphemeLength, hueFor, initials, linkify, MAX_POST_LENGTH } from './text'

describe('graphemeLength', () => {
  it('counts plain ASCII one per character', () => {
    expect(graphemeLength('')).toBe(0)
    expect(graphemeLength('hello world')).toBe(11)
  })

  it('counts a letter with a combining accent once', () => {
    expect('e\u0301'.length).toBe(2)
    expect(graphemeLength('e\u0301')).toBe(1)
  })

  it('counts emoji sequences as a person sees them', () => {
    expect(graphemeLength('👍')).toBe(1) // surrogate pair
    expect(graphemeLength('👨‍👩‍👧‍👦')).toBe(1) // ZWJ family
    expect(graphemeLength('🇫🇷🇩🇪')).toBe(2) // two flags
    expect(graphemeLength('👍🏽')).toBe(1) // skin tone modifier
  })

  it('counts CJK and CRLF as single characters', () => {
    expect(graphemeLength('日本語')).toBe(3)
    expect(graphemeLength('a\r\nb')).toBe(3)
  })
})

describe('counterState', () => {
  it('is ok well under the limit', () => {
    expect(counterState('hi')).toMatchObject({ length: 2, remaining: MAX_POST_LENGTH - 2, level: 'ok' })
  })

  it('warns in the last 20 characters and at exactly the limit', () => {
    expect(counterState('x'.repeat(259)).level).toBe('ok')
    expect(counterState('x'.repeat(260)).level).toBe('warn')
    expect(counterState('x'.repeat(280))).toMatchObject({ remaining: 0, level: 'warn', ratio: 1 })
  })

  it('is over past the limit, counting graphemes not code units', () => {
    expect(counterState('x'.repeat(281))).toMatchObject({ remaining: -1, level: 'over', ratio: 1 })
    // 280 family emoji are 280 characters, though they are 3080 UTF-16 code units.
    const families = '👨‍👩‍👧‍👦'.repeat(280)
    expect(families.length).toBeGreaterThan(3000)
    expect(counterState(families)).toMatchObject({ length: 280, level: 'warn' })
  })

  it('takes another limit', () => {
    expect(counterState('abcd', 3)).toMatchObject({ remaining: -1, level: 'over' })
  })
})

describe('linkify', () => {
  it('keeps plain text as one part', () => {
    expect(linkify('just text')).toEqual([{ kind: 'text', text: 'just text' }])
    expect(linkify('')).toEqual([])
  })

  it('finds hashtags, mentions and links in order', () => {
    expect(linkify('Hi @bob_1, see #Rust at https://example.com/a?b=1!')).toEqual([
      { kind: 'text', text: 'Hi ' },
      { kind: 'mention', text: '@bob_1', username: 'bob_1' },
      { kind: 'text', text: ', see ' },
      { kind: 'tag', text: '#Rust', tag: 'Rust' },
      { kind: 'text', text: ' at ' },
      { kind: 'url', text: 'https://example.com/a?b=1', href: 'https://example.com/a?b=1' },
      { kind: 'text', text: '!' },
    ])
  })

  it('accepts unicode letters in hashtags', () => {
    expect(linkify('#café #日本')).toEqual([
      { kind: 'tag', text: '#café', tag: 'café' },
      { kind: 'text', text: ' ' },
      { kind: 'tag', text: '#日本', tag: '日本' },
    ])
  })

  it('needs a letter in a hashtag, as the server does', () => {
    expect(linkify('#1 and #2024 but #rust2024')).toEqual([
      { kind: 'text', text: '#1 and #2024 but ' },
      { kind: 'tag', text: '#rust2024', tag: 'rust2024' },
    ])
  })

  it('does not see mentions in email addresses or tags inside words', () => {
    expect(linkify('mail me@example.com')).toEqual([{ kind: 'text', text: 'mail me@example.com' }])
    expect(linkify('C#sharp and a#b')).toEqual([{ kind: 'text', text: 'C#sharp and a#b' }])
    expect(linkify('&#39;')).toEqual([{ kind: 'text', text: '&#39;' }])
  })

  it('ignores mentions that cannot be usernames', () => {
    expect(linkify('@ab is too short')).toEqual([{ kind: 'text', text: '@ab is too short' }])
    expect(linkify('@' + 'a'.repeat(31))).toEqual([{ kind: 'text', text: '@' + 'a'.repeat(31) }])
  })

  it('links only the mentions the server recognised, when it says which', () => {
    expect(linkify('@alice and @ghost_user', { mentions: ['Alice'] })).toEqual([
      { kind: 'mention', text: '@alice', username: 'alice' },
      { kind: 'text', text: ' and @ghost_user' },
    ])
  })

  it('trims sentence punctuation but keeps balanced brackets in URLs', () => {
    expect(linkify('(see https://en.wikipedia.org/wiki/Rust_(language)).')).toEqual([
      { kind: 'text', text: '(see ' },
      {
        kind: 'url',
        text: 'https://en.wikipedia.org/wiki/Rust_(language)',
        href: 'https://en.wikipedia.org/wiki/Rust_(language)',
      },
      { kind: 'text', text: ').' },
    ])
    expect(linkify('go to http://a.dev.')[1]).toEqual({ kind: 'url', text: 'http://a.dev', href: 'http://a.dev' })
  })

  it('never turns other schemes into links', () => {
    expect(linkify('javascript:alert(1) data:text/html,x')).toEqual([
      { kind: 'text', text: 'javascript:alert(1) data:text/html,x' },
    ])
  })

  it('leaves HTML as text', () => {
    const evil = '<img src=x onerror=alert(1)> <b>#bold</b>'
    const parts = linkify(evil)
    expect(parts.map((p) => p.text).join('')).toBe(evil)
    expect(parts.filter((p) => p.kind !== 'text')).toEqual([{ kind: 'tag', text: '#bold', tag: 'bold' }])
  })

  it('round-trips any text exactly', () => {
    const text = 'a #b @ccc https://d.e/f?g#h\n\n#tag @user_name. (http://x.y) ✨'
    expect(linkify(text).map((p) => p.text).join('')).toBe(text)
  })
})

describe('helpers', () => {
  it('extracts distinct hashtags', () => {
    expect(extractHashtags('#Rust and #rust and #Vue')).toEqual(['Rust', 'Vue'])
  })

  it('makes initials', () => {
    expect(initials('Ada Lovelace')).toBe('AL')
    expect(initials('grace')).toBe('GR')
    expect(initials('  ', 'X')).toBe('X')
  })

  it('gives stable hues', () => {
    expect(hueFor('alice')).toBe(hueFor('alice'))
    expect(hueFor('alice')).toBeGreaterThanOrEqual(0)
    expect(hueFor('alice')).toBeLessThan(360)
  })
})
