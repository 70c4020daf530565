/**
 * Parsers for the values a backend pivots on: e-mail addresses in the forms TAP sends, IP addresses, URLs and hashes.
 * Each returns undefined for what is not one (left out of the indicators, never fatal: the `proofpoint.*` attribute
 * keeps the original). Linear in the input: no regular expression here can backtrack on a long hostile string.
 */
import { isIP } from 'node:net'
import { domainToASCII } from 'node:url'

/** RFC 5321: a path is at most 256 octets, so an address at most 254. */
const MAX_ADDRESS = 254
const LOCAL_PART = /^[^\s@<>()[\]\\,;:"]{1,64}$/
const LABEL = /^[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?$/u
const HEX32 = /^[0-9a-f]{32}$/i
const HEX64 = /^[0-9a-f]{64}$/i
const HAS_SCHEME = /^[a-z][a-z0-9+.-]{0,30}:\/\//i
/** Query keys whose values the semantic conventions ask to redact in url.full and url.query. */
const SENSITIVE_QUERY_KEYS = new Set(['AWSAccessKeyId', 'Signature', 'sig', 'X-Goog-Signature'])

/** An e-mail address as written (domain lower-cased) and its domain in ASCII, for `related.hosts`. */
export interface EmailAddress {
  address: string
  host: string
}

/**
 * The bare address of a header-style value, its domain lower-cased: `"A. Badguy" <badguy@evil.zz>`, `Name<a@b.zz>`,
 * `<a@b.zz>`, `a@b.zz>` and `a@B.ZZ` give `a@b.zz`. Undefined when there is no valid address.
 */
export function bareAddress(text: string): string | undefined {
  return parseAddress(text)?.address
}

function parseAddress(text: string): EmailAddress | undefined {
  let s = text
  const lt = s.lastIndexOf('<')
  if (lt >= 0) {
    const gt = s.indexOf('>', lt + 1)
    s = s.slice(lt + 1, gt < 0 ? undefined : gt)
  } else if (s.length <= MAX_ADDRESS * 4) {
    // No angle brackets: `a@b.zz`, or `a@b.zz (comment)`: the one word with an @.
    const words = s.split(/\s+/).filter((w) => w.includes('@'))
    if (words.length !== 1) return undefined
    s = words[0] ?? ''
  }
  s = stripEnds(s.trim(), '"\'>')
  if (s.length > MAX_ADDRESS) return undefined
  const at = s.lastIndexOf('@')
  if (at <= 0) return undefined
  const local = s.slice(0, at)
  const domain = s.slice(at + 1).toLowerCase()
  const host = LOCAL_PART.test(local) ? hostName(domain) : undefined
  return host === undefined ? undefined : { address: `${local}@${domain}`, host }
}

/** Parsed address lists by text: the same senders and recipients recur in event after event. Bounded; short keys. */
const addressCache = new Map<string, readonly EmailAddress[]>()
const CACHE_ENTRIES = 4096
const CACHE_KEY_MAX = 512

/**
 * The addresses of a header-style list (`"Kent, Clark" <c@x.zz>; <d@x.zz>, e@x.zz`): split at commas and semicolons
 * outside quotes and angle brackets, each part read by bareAddress; parts without an address are left out.
 */
export function addressesIn(text: string): readonly EmailAddress[] {
  const cached = addressCache.get(text)
  if (cached !== undefined) return cached
  const out: EmailAddress[] = []
  let quoted = false
  let angle = false
  let start = 0
  for (let i = 0; i <= text.length; i++) {
    const c = text.charCodeAt(i)
    // 34 ", 60 <, 62 >, 44 , and 59 ;
    if (c === 34) quoted = !quoted
    else if (!quoted && c === 60) angle = true
    else if (!quoted && c === 62) angle = false
    else if (i === text.length || (!quoted && !angle && (c === 44 || c === 59))) {
      const parsed = parseAddress(text.slice(start, i))
      if (parsed !== undefined) out.push(parsed)
      start = i + 1
    }
  }
  if (text.length <= CACHE_KEY_MAX) {
    if (addressCache.size >= CACHE_ENTRIES) addressCache.clear()
    addressCache.set(text, out)
  }
  return out
}

const ASCII_NAME = /^[a-z0-9.-]+$/
const ASCII_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/

/** The ASCII (punycode) form of a DNS name with at least two labels and a non-numeric top label; else undefined. */
export function hostName(name: string): string | undefined {
  if (name.length === 0 || name.length > 253) return undefined
  const labels = name.split('.')
  if (labels.length < 2 || /^\d+$/.test(labels[labels.length - 1] ?? '')) return undefined
  // Most names are ASCII already: no Unicode classes and no IDNA conversion for them.
  if (ASCII_NAME.test(name)) return labels.every((l) => ASCII_LABEL.test(l)) ? name : undefined
  if (!labels.every((l) => LABEL.test(l))) return undefined
  const ascii = domainToASCII(name)
  return ascii === '' ? undefined : ascii
}

/** A valid IPv4 or IPv6 address (IPv6 lower-cased, brackets dropped); else undefined. `400.000.000` is not one. */
export function ipAddress(text: string): string | undefined {
  const s = text.length <= 64 ? stripEnds(text.trim(), '[]') : ''
  return isIP(s) === 0 ? undefined : s.toLowerCase()
}

/** A hash's kind by its length, lower-cased; undefined unless 32 or 64 hex digits. */
export function hexHash(text: string): { kind: 'md5' | 'sha256'; value: string } | undefined {
  if (HEX64.test(text)) return { kind: 'sha256', value: text.toLowerCase() }
  if (HEX32.test(text)) return { kind: 'md5', value: text.toLowerCase() }
  return undefined
}

export interface UrlParts {
  /** Normalized (WHATWG URL), with user info and signature query values REDACTED as the semantic conventions ask. */
  full: string
  scheme: string
  /** Host name or IP address as in the URL (IPv6 in brackets), ASCII. */
  domain: string
  port?: number
  path: string
  query?: string
  fragment?: string
}

/** An absolute URL with a host, split into its parts; undefined for anything else (a file name, a hash, text). */
export function urlParts(text: string): UrlParts | undefined {
  const s = text.trim()
  return plainUrlParts(s) ?? parsedUrlParts(s)
}

/** The parts by the WHATWG URL parser (~3 µs a URL). */
export function parsedUrlParts(s: string): UrlParts | undefined {
  if (!HAS_SCHEME.test(s)) return undefined
  let url: URL
  try {
    url = new URL(s)
  } catch {
    return undefined
  }
  if (url.hostname === '') return undefined
  if (url.username !== '') url.username = 'REDACTED'
  if (url.password !== '') url.password = 'REDACTED'
  // The setter drops one leading "?": the query's own stays.
  if (url.search !== '') url.search = '?' + redactQuery(url.search.slice(1))
  const parts: UrlParts = { full: url.href, scheme: url.protocol.slice(0, -1), domain: url.hostname, path: url.pathname }
  if (url.port !== '') parts.port = Number(url.port)
  if (url.search.length > 1) parts.query = url.search.slice(1)
  if (url.hash.length > 1) parts.fragment = url.hash.slice(1)
  return parts
}

/**
 * A URL already written as the WHATWG parser writes it: http(s), a lower-case ASCII host name whose last label starts
 * with a letter (no IPv4 forms, no punycode to check), a port other than the default, no user info, no dot segments,
 * and only characters no part escapes. Bounded quantifiers and character classes only: linear time.
 */
const PLAIN_URL =
  /^(https?):\/\/((?:[a-z0-9-]{1,63}\.){1,126}[a-z][a-z0-9-]{0,62})(?::([1-9][0-9]{0,4}))?(\/[\w\-.~!$&'()*+,;=:@%/]*)?(?:\?([\w\-.~!$&()*+,;=:@%/?]+))?(?:#([\w\-.~!$&()*+,;=:@%/?]+))?$/
const DOT_SEGMENT = /\/\.{1,2}(?:\/|$)|%2e/i
const DEFAULT_PORT: Readonly<Record<string, string>> = { http: '80', https: '443' }

/** The parts of a URL already in its normal form, without the parser; undefined when the parser is needed. */
export function plainUrlParts(s: string): UrlParts | undefined {
  if (s.length > 2048) return undefined
  const m = PLAIN_URL.exec(s)
  if (m === null) return undefined
  const [, scheme = '', domain = '', port, path = '/', query, fragment] = m
  if (domain.startsWith('xn--') || domain.includes('.xn--') || domain.length > 253) return undefined
  if (port !== undefined && (Number(port) > 65535 || port === DEFAULT_PORT[scheme])) return undefined
  if (DOT_SEGMENT.test(path) || query?.startsWith('?') === true) return undefined
  const q = query === undefined ? undefined : redactQuery(query)
  let full = `${scheme}://${domain}${port === undefined ? '' : ':' + port}${path}`
  if (q !== undefined) full += '?' + q
  if (fragment !== undefined) full += '#' + fragment
  const parts: UrlParts = { full, scheme, domain, path }
  if (port !== undefined) parts.port = Number(port)
  if (q !== undefined) parts.query = q
  if (fragment !== undefined) parts.fragment = fragment
  return parts
}

/** The query with the values of SENSITIVE_QUERY_KEYS replaced, everything else as it was written. */
function redactQuery(query: string): string {
  return query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=')
      return eq > 0 && SENSITIVE_QUERY_KEYS.has(pair.slice(0, eq)) ? `${pair.slice(0, eq)}=REDACTED` : pair
    })
    .join('&')
}

/** `s` without any of `chars` at either end. */
function stripEnds(s: string, chars: string): string {
  let start = 0
  let end = s.length
  while (start < end && chars.includes(s.charAt(start))) start++
  while (end > start && chars.includes(s.charAt(end - 1))) end--
  return s.slice(start, end)
}
