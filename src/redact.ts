/**
 * Keeps credentials out of text that came from the other end (a collector's or the SIEM API's answer, a proxy's error
 * page) before it is quoted in an error, a log line, /status or check-config output: as is, percent-encoded, and
 * inside backslash escapes (JSON in JSON too). Values shorter than MIN_SECRET_LENGTH would match all over ordinary
 * text: they are redacted only as whole words, and only when named like a credential (authorization, token, ...).
 * URLs we show ourselves go through {@link redactUrl}, which hides user info and query values by position.
 */
import { replaceEscaped } from './escapes.js'

export const REDACTED = '[REDACTED]'

/** Values at least this long are redacted wherever they appear; shorter ones only as whole words (see above). */
export const MIN_SECRET_LENGTH = 4

const CREDENTIAL_NAME = /auth|token|key|secret|pass|pwd|cookie|session|credential|signature|^sig$|bearer/i

/** Authentication schemes: what follows them in a header value is the credential itself. */
const AUTH_SCHEME = /^(basic|bearer|token|apikey|api-key|splunk|digest|negotiate|ntlm|hmac|sharedaccesssignature|sso-key)$/i

/** How deep escapes are decoded: JSON inside a JSON string inside a JSON string. */
const MAX_ESCAPE_LEVELS = 3

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

function basicToken(user: string, password: string): string {
  return Buffer.from(`${user}:${password}`, 'utf8').toString('base64')
}

/** A set of secrets, and what removes them from text. Values can be added later; sources are asked on every use. */
export class Redactor {
  private readonly anywhere = new Set<string>()
  /** Short credential values: redacted where they stand as a whole word. */
  private readonly words = new Set<string>()
  private readonly sources: Array<() => Iterable<string>> = []

  /**
   * Adds a secret (and its percent-encoded forms). `credential`: it is known to be one (a header or parameter named
   * like one, a password), so a short value is still redacted as a whole word.
   */
  add(value: string | undefined, opts: { credential?: boolean } = {}): this {
    if (value === undefined || value === '') return this
    if (value.length < MIN_SECRET_LENGTH) {
      if (opts.credential && value.trim() !== '') this.words.add(value)
      return this
    }
    const encoded = encodeURIComponent(value)
    for (const v of [value, encoded, encoded.replace(/%20/g, '+')]) this.anywhere.add(v)
    return this
  }

  /** Secrets that may change (a rotated secret file): `source` is called whenever text is redacted. */
  addSource(source: () => Iterable<string>): this {
    this.sources.push(source)
    return this
  }

  /**
   * A configured header: its value, and the credentials after an authentication scheme (`Bearer xyz` → `xyz`; for
   * `Basic`, the decoded password too).
   */
  addHeader(name: string, value: string): this {
    const credential = CREDENTIAL_NAME.test(name)
    const scheme = /^\s*([A-Za-z][\w.-]*)\s+(\S.*?)\s*$/.exec(value)
    if (scheme && (credential || AUTH_SCHEME.test(scheme[1] ?? ''))) {
      // The scheme is no secret: "Bearer [REDACTED]" says what was sent. A short credential stays a whole word.
      const [, kind, rest] = scheme as unknown as [string, string, string]
      if (rest.length < MIN_SECRET_LENGTH) this.add(value, { credential: true })
      this.add(rest, { credential: true })
      if (kind.toLowerCase() === 'basic') {
        const decoded = Buffer.from(rest, 'base64').toString('utf8')
        const colon = decoded.indexOf(':')
        if (colon >= 0 && Buffer.from(decoded, 'utf8').toString('base64').replace(/=+$/, '') === rest.replace(/=+$/, '')) {
          this.add(decoded.slice(colon + 1), { credential: true })
        }
      }
    } else {
      this.add(value, { credential })
    }
    return this
  }

  /** A URL's user info (and the Basic token Node makes of it) and its query parameter values. */
  addUrl(url: string | URL): this {
    let u: URL
    try {
      u = typeof url === 'string' ? new URL(url) : url
    } catch {
      return this
    }
    const user = safeDecode(u.username)
    const password = safeDecode(u.password)
    this.add(u.username, { credential: true }).add(user, { credential: true })
    this.add(u.password, { credential: true }).add(password, { credential: true })
    if (u.username || u.password) this.add(basicToken(user, password))
    for (const pair of u.search.replace(/^\?/, '').split('&')) {
      const eq = pair.indexOf('=')
      if (eq < 0) continue
      const name = safeDecode(pair.slice(0, eq).replace(/\+/g, ' '))
      const raw = pair.slice(eq + 1)
      const credential = CREDENTIAL_NAME.test(name)
      this.add(raw, { credential }).add(safeDecode(raw.replace(/\+/g, ' ')), { credential })
    }
    return this
  }

  /** The SIEM API credentials: the secret and the Basic token made of `principal:secret`. */
  addBasicCredentials(principal: string, secret: string): this {
    this.add(secret, { credential: true })
    if (secret) this.add(basicToken(principal, secret))
    return this
  }

  /** The text with every secret replaced by REDACTED, also where it appears escaped. */
  redact(text: string): string {
    const anywhere = new Set(this.anywhere)
    const words = new Set(this.words)
    for (const source of this.sources) {
      let values: Iterable<string>
      try {
        values = source()
      } catch {
        continue // a secret file that cannot be read now: its earlier value is covered by what was added
      }
      for (const v of values) {
        if (v.length >= MIN_SECRET_LENGTH) anywhere.add(v)
        else if (v.trim() !== '') words.add(v)
      }
    }
    if (anywhere.size === 0 && words.size === 0) return text
    // Longest first, so a secret that contains another is redacted whole.
    const patterns = [...anywhere]
      .sort((a, b) => b.length - a.length)
      .map(escapeRegExp)
      .concat([...words].map((w) => `(?<![A-Za-z0-9])${escapeRegExp(w)}(?![A-Za-z0-9])`))
    const pattern = new RegExp(patterns.join('|'), 'g')
    // Escaped forms too: a secret quoted inside JSON (or JSON inside JSON).
    return replaceEscaped(text.replace(pattern, REDACTED), pattern, REDACTED, MAX_ESCAPE_LEVELS)
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

/** A redactor for an OTLP exporter's configuration: every header value and the endpoint's user info and query. */
export function otlpRedactor(endpoint: string, headers: Record<string, string> | undefined): Redactor {
  const r = new Redactor().addUrl(endpoint)
  for (const [name, value] of Object.entries(headers ?? {})) r.addHeader(name, value)
  return r
}

/**
 * The SIEM API credentials as a source for other redactors (the exporter's): the configured secret and, when it comes
 * from a file, what the file holds now (it may have been rotated), each with its Basic token.
 */
export function siemSecretSource(principal: string, secret: string, readSecretFile?: () => string): () => string[] {
  return () => {
    let current = ''
    try {
      current = readSecretFile?.() ?? ''
    } catch {
      // unreadable now: the configured value is still covered
    }
    return [secret, current].filter((s) => s !== '').flatMap((s) => [s, basicToken(principal, s)])
  }
}

const URL_REDACTED = '[redacted]'
/** scheme://authority path ?query #fragment, split as the URL parser splits a URL that parses. */
export const URL_PARTS = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#\\]*)([^?#]*)(\?[^#]*)?(#[\s\S]*)?$/i

/**
 * A URL as it may be shown: the user info becomes `[redacted]` and so does every query value (the names stay):
 * `https://user:pass@host/p?token=abc&x` → `https://[redacted]@host/p?token=[redacted]&x=[redacted]`. Text that is
 * not `scheme://...` comes back unchanged; a URL that does not parse should not be shown at all (config's
 * `checkHttpUrl` describes it instead).
 */
export function redactUrl(text: string): string {
  const m = URL_PARTS.exec(text)
  if (!m) return redactLenientUrl(text)
  const [, scheme = '', authority = '', path = '', query, fragment = ''] = m
  const at = authority.lastIndexOf('@')
  const host = at >= 0 ? `${URL_REDACTED}@${authority.slice(at + 1)}` : authority
  const hideValue = (pair: string): string => {
    const eq = pair.indexOf('=')
    // A parameter without `=` may be a bare token: its name is its value.
    return pair === '' ? pair : eq < 0 ? URL_REDACTED : `${pair.slice(0, eq)}=${URL_REDACTED}`
  }
  const params = query === undefined ? '' : `?${query.slice(1).split('&').map(hideValue).join('&')}`
  return `${scheme}${host}${path}${params}${fragment}`
}

/** Schemes the URL parser reads without `//` (`http:/u:p@host`, `http:u:p@host`, `http:\\u:p@host`), credentials included. */
const LENIENT_SCHEME = /^\s*(?:https?|wss?|ftp):/i

/**
 * Text that is not `scheme://...` but that the URL parser still reads as a URL with a host (the special schemes need
 * no slashes): shown as the URL it parses to, redacted. One that does not parse, with an @ or ? that may hold
 * credentials, is not shown at all.
 */
function redactLenientUrl(text: string): string {
  if (!LENIENT_SCHEME.test(text)) return text
  let href: string
  try {
    href = new URL(text).href
  } catch {
    return /[@?#]/.test(text) ? `${/^\s*([a-z]+:)/i.exec(text)?.[1] ?? ''}${URL_REDACTED}` : text
  }
  return URL_PARTS.test(href) ? redactUrl(href) : URL_REDACTED
}
