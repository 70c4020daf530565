/** The value formats of the config schema: convict format functions and named formats, with their messages. */
import convict from 'convict'
import { isLoopbackHost } from '../http-util.js'
import { URL_PARTS, redactUrl } from '../redact.js'
import { EVENT_TYPES } from '../siem/types.js'
import { MAX_WORKERS } from './defaults.js'
import { DURATION_HINT, parseDuration } from './duration.js'

export const THREAT_STATUSES = ['active', 'cleared', 'falsePositive'] as const

/** Whole non-negative decimal numbers only: `parseInt` would read `80abc` as 80. */
const WHOLE_NUMBER = /^\d+$/

/** `"value"` for messages. Values of sensitive settings never reach this; a URL's credentials are redacted. */
export function quote(value: unknown): string {
  return JSON.stringify(typeof value === 'string' ? redactUrl(value) : value) ?? String(value)
}

function commaList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
}

/** A convict format function that accepts one of `values` (and '' for unset when `optional`). */
export function oneOf(values: readonly string[], optional = false): (value: unknown) => void {
  return (value) => {
    if (optional && value === '') return
    if (typeof value !== 'string' || !values.includes(value)) {
      throw new Error(`${quote(value)} is not one of ${values.join(', ')}`)
    }
  }
}

export function nonEmpty(value: unknown): void {
  if (typeof value !== 'string' || value.trim() === '') throw new Error('must not be empty')
}

export function anyString(value: unknown): void {
  if (typeof value !== 'string') throw new Error('must be a string')
}

export function threatStatusList(value: unknown): void {
  if (typeof value !== 'string') throw new Error('must be a string')
  const bad = commaList(value).filter((s) => !(THREAT_STATUSES as readonly string[]).includes(s))
  if (bad.length > 0) {
    const list = bad.map((s) => quote(s)).join(', ')
    throw new Error(`${list} ${bad.length === 1 ? 'is' : 'are'} not one of ${THREAT_STATUSES.join(', ')} (a comma list is allowed)`)
  }
}

export function baseUrl(value: unknown): void {
  if (typeof value !== 'string') throw new Error('must be a string')
  const problem = checkHttpUrl(value)
  if (problem) throw new Error(problem)
  const url = new URL(value)
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    throw new Error(`${quote(value)} uses http: the SIEM API credentials must travel over https (http is allowed only for loopback hosts)`)
  }
  if (url.username !== '' || url.password !== '') {
    throw new Error(`${quote(value)} must not carry a user name or password: use PROOFPOINT_PRINCIPAL and PROOFPOINT_SECRET`)
  }
  if (url.search !== '' || url.hash !== '') throw new Error(`${quote(value)} must not have a query or fragment`)
}

/**
 * undefined when `text` is an absolute http(s) URL, else what is wrong with it. The value is quoted (redacted) only
 * when it may not hold credentials that redaction cannot find: a URL that does not parse, or is not http(s), and has
 * an `@` or a `?` (`https://user:p/ss@host`) is described, never shown.
 */
export function checkHttpUrl(text: string): string | undefined {
  const shown = (): string => (/[@?]/.test(text) ? 'the value (not shown: it may hold credentials)' : quote(text))
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return `${shown()} is not a URL: ${urlParseProblem(text)} (expected e.g. https://host:port)`
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `${shown()} is not an http or https URL: start it with https://`
  // The URL parser reads `http:/u:p@host`, `http:u:p@host` and `http:\\host` as if written `http://`: refused, so
  // that every URL shown (redacted) or used is one that looks like what it is.
  if (!URL_PARTS.test(text)) return `${shown()} is not written as ${url.protocol}//host: the two slashes after the scheme are missing or are backslashes`
  // Node decodes a URL's user name and password (for a proxy's or a server's Basic credentials) and throws on bad %-escapes.
  try {
    decodeURIComponent(url.username)
    decodeURIComponent(url.password)
  } catch {
    return `the user name or password in ${shown()} is not valid percent-encoding (write a literal % as %25)`
  }
  return undefined
}

/** Why `text` does not parse as a URL, without quoting any of it. */
function urlParseProblem(text: string): string {
  if (text.trim() === '') return 'it is blank'
  if (/\s/.test(text)) return 'it contains whitespace'
  const m = URL_PARTS.exec(text)
  if (!m) return 'it has no scheme (https://)'
  if (text.includes('@')) {
    return 'it holds an @ the URL parser cannot place: a user name or password does not belong in the URL (a literal @ is written %40)'
  }
  const authority = m[2] ?? ''
  if (authority === '') return 'it has no host'
  if (authority.startsWith('[') && !authority.includes(']')) return 'its IPv6 address has no closing ]'
  const port = /^(?:\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(authority)?.[1]
  if (port !== undefined && port !== '' && !(/^\d+$/.test(port) && Number(port) <= 65535)) return 'its port is not a number from 0 to 65535'
  return 'its host is not a valid host name or address'
}

const wholeNumber = (value: string): number | string => (WHOLE_NUMBER.test(value.trim()) ? Number(value) : value)

// Named formats can coerce strings, which format functions cannot. convict keeps them globally: added once, here.
convict.addFormats({
  'psr-duration': {
    coerce: (value: string): number | string => parseDuration(value) ?? value,
    validate(value: unknown): void {
      if (typeof value === 'number') return
      if (typeof value === 'string' && WHOLE_NUMBER.test(value.trim())) {
        throw new Error(`${quote(value)} has no unit: write e.g. ${value.trim()}s or ${value.trim()}ms (${DURATION_HINT})`)
      }
      throw new Error(`${quote(value)} is not a duration (${DURATION_HINT})`)
    },
  },
  'psr-port': {
    coerce: wholeNumber,
    validate(value: unknown): void {
      if (typeof value !== 'number' || !Number.isInteger(value) || value > 65535) {
        throw new Error(`${quote(value)} is not a port number (0-65535, 0 picks a free port)`)
      }
    },
  },
  'psr-positive-int': {
    coerce: wholeNumber,
    validate(value: unknown): void {
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
        throw new Error(`${quote(value)} is not a positive whole number`)
      }
    },
  },
  'psr-workers': {
    coerce: (value: string): number | string => (value.trim() === 'auto' ? 'auto' : wholeNumber(value)),
    validate(value: unknown): void {
      if (value === 'auto') return
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > MAX_WORKERS) {
        throw new Error(`${quote(value)} is not auto or a whole number from 0 to ${MAX_WORKERS}`)
      }
    },
  },
  'psr-event-types': {
    coerce: commaList,
    validate(value: unknown): void {
      if (!Array.isArray(value)) throw new Error('must be a comma list')
      const names = value.map(String)
      const known: readonly string[] = EVENT_TYPES
      const bad = names.filter((s) => s !== 'all' && !known.includes(s))
      const hint = `use all or a comma list of ${EVENT_TYPES.join(',')}`
      if (bad.length > 0) {
        throw new Error(`${bad.map((s) => quote(s)).join(', ')} ${bad.length === 1 ? 'is not an event type' : 'are not event types'}: ${hint}`)
      }
      if (names.length === 0) throw new Error(`is empty: ${hint}`)
      if (names.includes('all') && names.length > 1) throw new Error('all cannot be combined with event type names')
    },
  },
})
