/**
 * The Proofpoint TAP SIEM API client: one time window → one GET → the parsed event arrays, or a typed error.
 *
 * - One keep-alive connection pool for the API origin. Redirects are not followed: the credentials go to
 *   PROOFPOINT_BASE_URL's origin and nowhere else.
 * - The secret is fetched per request (`getSecret`), so a rotated secret file is picked up without a restart,
 *   and never appears in an error: API-supplied text that is quoted in errors has it redacted.
 * - Timeouts are idle timeouts (`timeoutMs` for the response headers, and again between body chunks), so a
 *   large window that keeps arriving is not cut off, but a server that stops sending is.
 * - The body is parsed as it streams in (see response-parser.ts): no limit on its size.
 */
import { errorCodeOf, isLoopbackHost, parseRetryAfter } from '../http-util.js'
import { Redactor, redactUrl } from '../redact.js'
import { pipeline } from 'node:stream'
import type { Readable } from 'node:stream'
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib'
import { Pool, ProxyAgent } from 'undici'
import type { Dispatcher } from 'undici'
import {
  SiemAuthError,
  SiemBadRequestError,
  SiemBadResponseError,
  SiemNetworkError,
  SiemServerError,
  SiemThrottledError,
  SiemTimeoutError,
} from '../errors.js'
import { parseHttpDate } from './api-clock.js'
import { BodyFormatError, SiemBodyParser } from './response-parser.js'
import { ALL_EVENTS_PATH, EVENT_TYPES, EVENT_TYPE_PATHS } from './types.js'
import type { EventType, JsonValue, SiemResponse, TimeWindow } from './types.js'
import { NAME } from '../version.js'

export interface SiemClientOptions {
  /** The Proofpoint Domain, e.g. `https://tap-api-v2.proofpoint.com` (a path prefix is kept; user info is not allowed). */
  baseUrl: string
  principal: string
  /** Called for every request, so a rotated secret (file) is used from the next request on. */
  getSecret: () => string
  /** The event types to ask for; empty means all four. One type uses its own endpoint, several use /v2/siem/all. */
  eventTypes: readonly EventType[]
  /** Passed to the API as `threatStatus` (active, cleared, falsePositive). */
  threatStatus?: string | undefined
  /** Passed to the API as `threatType` (url, attachment, messageText). */
  threatType?: string | undefined
  /** Idle timeout: for the response headers, and for each gap between body chunks. */
  timeoutMs: number
  /**
   * PEM CA certificates that are trusted for the API's TLS certificate (PROOFPOINT_CA_FILE) instead of Node's
   * bundled roots, e.g. for a TLS-inspecting proxy. Verification itself is never switched off.
   */
  ca?: string | Buffer | undefined
  /** Use this dispatcher instead of creating a pool; `close()` then leaves it open. */
  dispatcher?: Dispatcher
  /** Clock for Retry-After dates (tests). */
  now?: () => number
  /**
   * A forward proxy (PROOFPOINT_PROXY_URL, or HTTPS_PROXY/HTTP_PROXY): requests go through it, https ones in a CONNECT
   * tunnel with `ca` still checked against the API's certificate. Credentials in its URL go to the proxy only.
   */
  proxy?: string
  /** Told the `Date` header of every answer (epoch ms), whatever its status: the API's clock (see ApiClock). */
  onServerDate?: (ms: number) => void
}

/** One batch of parsed events, by type, in the order the API sent them. */
export type EventBatch = Record<EventType, JsonValue[]>

/** What the answer to a window held besides its events: known once its body was read to the end. */
export interface WindowSummary {
  /** HTTP status of the answer (200 or 204). */
  status: number
  /** Size of the response body as received (before any content decoding). */
  bytes: number
  /** Events in the answer (all batches). */
  events: number
  /** The API's `queryEndTime`: its data runs through this. */
  queryEndTime?: string
}

/**
 * The events of one window as they stream in: iterate the batches (reading the body waits while the loop's body
 * runs: backpressure); `summary` is set once the iteration ended at the body's end. Iterating starts the request;
 * a window's events can be iterated once. A failure of the request or the body is thrown from the loop as a typed
 * SiemApiError; a failure inside the loop's body stays the caller's (the request is abandoned).
 */
export interface WindowEvents extends AsyncIterable<EventBatch> {
  readonly summary: WindowSummary | undefined
}

/** Everything at once (check-config, tests): the events and the summary. */
export interface FetchWindowResult extends WindowSummary {
  response: SiemResponse
}

/** Events per batch unless the caller asks for another size. */
const DEFAULT_BATCH_EVENTS = 1000

/** How much of an error response body is read for its message; the rest is discarded. */
const ERROR_BODY_LIMIT = 64 * 1024
/** Longest API message quoted in a SiemBadRequestError. */
const API_MESSAGE_MAX = 500
/** Longest excerpt of an unexpected body quoted in an error. */
const EXCERPT_MAX = 80

/** undici codes that mean the request was built wrong (a bug), not that reaching the server failed. */
const PROGRAMMING_ERROR_CODES = new Set(['UND_ERR_INVALID_ARG', 'UND_ERR_NOT_SUPPORTED', 'UND_ERR_INVALID_RETURN_VALUE'])
const TIMEOUT_ERROR_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT'])

/** ISO-8601 UTC without milliseconds, as the API documents: `2026-11-24T11:00:00Z`. */
export function formatApiTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** Retry-After as milliseconds from now: delta-seconds or an HTTP-date; undefined when absent or unreadable. */
function headerValue(h: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = h[name]
  return Array.isArray(v) ? v.join(', ') : v
}


export { parseRetryAfter }

export class SiemClient {
  private readonly origin: string
  private readonly pathPrefix: string
  private readonly principal: string
  private readonly getSecret: () => string
  private readonly eventTypes: readonly EventType[]
  private readonly path: string
  private readonly threatStatus: string | undefined
  private readonly threatType: string | undefined
  private readonly timeoutMs: number
  private dispatcher: Dispatcher
  /** Builds a fresh proxy agent: one whose tunnel never opened is destroyed (see fetchWindow). */
  private readonly makeProxyAgent: (() => Dispatcher) | undefined
  private readonly ownsDispatcher: boolean
  private readonly now: () => number
  private readonly onServerDate: ((ms: number) => void) | undefined
  private closing: Promise<void> | undefined
  /** The proxy's URL without credentials, for messages; undefined when connecting directly. */
  private proxyShown: string | undefined
  private proxyUrl: string | undefined

  constructor(opts: SiemClientOptions) {
    const url = new URL(opts.baseUrl)
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError(`baseUrl must be http(s), got ${url.protocol}`)
    if (url.username || url.password) throw new TypeError('baseUrl must not contain credentials')
    // Defence in depth (the config checks it too): the credentials never travel in clear text off this host.
    if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) throw new TypeError(`baseUrl must be https unless the host is loopback, got ${url.origin}`)
    this.origin = url.origin
    this.pathPrefix = url.pathname.replace(/\/+$/, '')
    this.principal = opts.principal
    this.getSecret = opts.getSecret
    const types = opts.eventTypes.length === 0 ? EVENT_TYPES : opts.eventTypes
    this.eventTypes = EVENT_TYPES.filter((t) => types.includes(t))
    const only = this.eventTypes.length === 1 ? this.eventTypes[0] : undefined
    this.path = only === undefined ? ALL_EVENTS_PATH : EVENT_TYPE_PATHS[only]
    this.threatStatus = opts.threatStatus || undefined
    this.threatType = opts.threatType || undefined
    this.timeoutMs = opts.timeoutMs
    this.now = opts.now ?? Date.now
    this.onServerDate = opts.onServerDate
    // One keep-alive connection, idle timeouts: directly or through the proxy alike.
    const connection = {
      connections: 1,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      connectTimeout: opts.timeoutMs,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
    }
    if (opts.dispatcher) {
      this.dispatcher = opts.dispatcher
      this.ownsDispatcher = false
    } else if (opts.proxy !== undefined) {
      const proxy = opts.proxy
      this.proxyUrl = proxy
      this.proxyShown = redactUrl(proxy)
      this.makeProxyAgent = () =>
        new ProxyAgent({
          uri: proxy,
          ...connection,
          proxyTls: { timeout: opts.timeoutMs },
          requestTls: { timeout: opts.timeoutMs, ...(opts.ca !== undefined ? { ca: opts.ca } : {}) },
        })
      this.dispatcher = this.makeProxyAgent()
      this.ownsDispatcher = true
    } else {
      this.dispatcher = new Pool(this.origin, { ...connection, ...(opts.ca !== undefined ? { connect: { ca: opts.ca } } : {}) })
      this.ownsDispatcher = true
    }
  }

  /** The request path and query for a window (no credentials in it; safe to log). */
  requestPath(window: TimeWindow): string {
    const q = new URLSearchParams({ format: 'json', interval: `${formatApiTime(window.start)}/${formatApiTime(window.end)}` })
    if (this.threatStatus !== undefined) q.set('threatStatus', this.threatStatus)
    if (this.threatType !== undefined) q.set('threatType', this.threatType)
    return `${this.pathPrefix}${this.path}?${q.toString()}`
  }

  /**
   * The events created in `window` (both ends included), in batches of about `batchEvents` as the body arrives.
   * Iterating rejects with a SiemApiError subclass, or with `signal.reason` when the caller aborts.
   */
  events(window: TimeWindow, signal?: AbortSignal, batchEvents = DEFAULT_BATCH_EVENTS): WindowEvents {
    const result: { summary: WindowSummary | undefined; [Symbol.asyncIterator]: () => AsyncGenerator<EventBatch> } = {
      summary: undefined,
      [Symbol.asyncIterator]: () => this.stream(window, signal, batchEvents, (summary) => (result.summary = summary)),
    }
    return result
  }

  /** Asks for `window` and reads the whole answer (the events of every batch together). */
  async fetchWindow(window: TimeWindow, signal?: AbortSignal): Promise<FetchWindowResult> {
    const response: SiemResponse = { events: { messagesDelivered: [], messagesBlocked: [], clicksPermitted: [], clicksBlocked: [] } }
    const events = this.events(window, signal)
    for await (const batch of events) for (const type of EVENT_TYPES) response.events[type].push(...batch[type])
    const summary = events.summary!
    if (summary.queryEndTime !== undefined) response.queryEndTime = summary.queryEndTime
    return { ...summary, response }
  }

  private async *stream(window: TimeWindow, signal: AbortSignal | undefined, batchEvents: number, done: (summary: WindowSummary) => void): AsyncGenerator<EventBatch> {
    signal?.throwIfAborted()
    const path = this.requestPath(window)
    const secret = this.getSecret()
    const token = Buffer.from(`${this.principal}:${secret}`, 'utf8').toString('base64')
    // The secret and its Basic token, also JSON-escaped or percent-encoded, in any text quoted from the answer.
    const redactor = new Redactor().addBasicCredentials(this.principal, secret)
    // The proxy's credentials go to the proxy only, and into no message.
    if (this.proxyUrl !== undefined) redactor.addUrl(this.proxyUrl)
    const redact = (s: string): string => redactor.redact(s)

    let res: Dispatcher.ResponseData
    // Through a proxy undici keeps reconnecting when the proxy hangs up on the CONNECT, and headersTimeout does not
    // run before the tunnel exists: bound the wait for the answer's headers ourselves (disarmed once they arrive).
    // It does not stop for an abort either: the agent is destroyed and replaced.
    const tunnel = this.makeProxyAgent === undefined ? undefined : new AbortController()
    let tunnelTimer: NodeJS.Timeout | undefined
    const tunnelDeadline = new Promise<never>((_resolve, reject) => {
      if (!tunnel || !this.makeProxyAgent) return
      const make = this.makeProxyAgent
      tunnelTimer = setTimeout(() => {
        tunnel.abort()
        const stuck = this.dispatcher
        this.dispatcher = make()
        void stuck.destroy().catch(() => undefined)
        reject(new Error('no answer through the proxy in time'))
      }, this.timeoutMs)
    })
    tunnelDeadline.catch(() => undefined)
    try {
      const request = this.dispatcher.request({
        origin: this.origin,
        path,
        method: 'GET',
        headers: {
          authorization: `Basic ${token}`,
          accept: 'application/json',
          'accept-encoding': 'gzip, deflate, br',
          'user-agent': NAME,
        },
        signal,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      })
      // Lost to the deadline, it rejects later (its agent destroyed): that is no one's error.
      if (tunnel) request.catch(() => undefined)
      res = tunnel ? await Promise.race([request, tunnelDeadline]) : await request
    } catch (err) {
      if (tunnel?.signal.aborted && !signal?.aborted) {
        throw new SiemNetworkError(
          `no answer from ${this.origin} through the proxy ${this.proxyShown ?? ''} within ${this.timeoutMs} ms: the proxy closed the connection, refused the tunnel or does not answer; check PROOFPOINT_PROXY_URL / HTTPS_PROXY and NO_PROXY`,
          err,
        )
      }
      throw this.transportError(err, signal, redact, undefined)
    } finally {
      clearTimeout(tunnelTimer)
    }

    const { statusCode, headers, body } = res
    const serverDate = parseHttpDate(headers.date)
    if (serverDate !== undefined) this.onServerDate?.(serverDate)
    if (statusCode < 200 || statusCode >= 300) {
      const text = redact(await readErrorBody(body))
      throw this.statusError(statusCode, headers, text, path, redact)
    }

    const parser = new SiemBodyParser(this.eventTypes)
    let wire = 0
    let events = 0
    /** The body was read to its end; otherwise (an error, or the caller left the loop) it is discarded. */
    let finished = false
    try {
      const encoding = headerValue(headers, 'content-encoding')?.trim().toLowerCase()
      let source: AsyncIterable<Buffer> = body
      if (encoding && encoding !== 'identity') {
        const decoder =
          encoding === 'gzip' || encoding === 'x-gzip'
            ? createGunzip()
            : encoding === 'deflate'
              ? createInflate()
              : encoding === 'br'
                ? createBrotliDecompress()
                : undefined
        if (!decoder) throw new BodyFormatError(`unsupported content-encoding "${encoding.slice(0, 40)}"`)
        body.on('data', (c: Buffer) => {
          wire += c.length
        })
        source = decoder
        pipeline(body, decoder, () => {})
      }
      // Parse errors are the API's answer going wrong; what the caller does with a batch (an export failing) is not
      // caught here: the generator is only resumed or returned at a yield, never thrown into.
      for await (const chunk of source) {
        if (source === body) wire += chunk.length
        parser.write(chunk)
        if (parser.pending >= batchEvents) {
          events += parser.pending
          yield parser.drain()
        }
      }
      const parsed = parser.end()
      const rest = EVENT_TYPES.reduce((n, t) => n + parsed.events[t].length, 0)
      events += rest
      finished = true
      if (rest > 0) yield parsed.events
      done({ status: statusCode, bytes: wire, events, ...(parsed.queryEndTime === undefined ? {} : { queryEndTime: parsed.queryEndTime }) })
    } catch (err) {
      if (err instanceof BodyFormatError) {
        const excerpt = redact(parser.headText())
        const type = headerValue(headers, 'content-type')
        throw new SiemBadResponseError(
          `${err.message}${type ? ` (content-type ${sanitize(type, 60)})` : ''}${excerpt ? `; it starts with ${JSON.stringify(sanitize(excerpt, EXCERPT_MAX))}` : ''}`,
        )
      }
      const code = errorCodeOf(err)
      // zlib: Z_DATA_ERROR, Z_BUF_ERROR (truncated); brotli: ERR__ERROR_FORMAT_..., ERR_BROTLI_...
      if (code !== undefined && (code.startsWith('Z_') || code.startsWith('ERR_BROTLI') || code.startsWith('ERR__ERROR'))) {
        throw new SiemBadResponseError(`the ${headerValue(headers, 'content-encoding')} content could not be decoded (${code})`)
      }
      throw this.transportError(err, signal, redact, wire)
    } finally {
      if (!finished) discard(body)
    }
  }

  /** Closes the pool (when the client created it). Idempotent. */
  close(): Promise<void> {
    if (!this.ownsDispatcher) return Promise.resolve()
    this.closing ??= this.dispatcher.close()
    return this.closing
  }

  private transportError(err: unknown, signal: AbortSignal | undefined, redact: (s: string) => string, bodyBytes: number | undefined): unknown {
    if (signal?.aborted) return signal.reason
    const code = errorCodeOf(err)
    // Network, TLS and HTTP-protocol failures carry a code (ECONNREFUSED, UND_ERR_SOCKET, CERT_HAS_EXPIRED, ...);
    // anything without one is a bug and is not disguised as a network problem.
    if (code === undefined || PROGRAMMING_ERROR_CODES.has(code)) return err
    if (TIMEOUT_ERROR_CODES.has(code)) return new SiemTimeoutError(this.timeoutMs, err)
    const detail = redact(sanitize(err instanceof Error ? err.message : String(err), 200))
    const via = this.proxyShown === undefined ? '' : ` through the proxy ${this.proxyShown}`
    const where =
      bodyBytes === undefined ? `request to ${this.origin}${via} failed` : `connection to ${this.origin}${via} failed after ${bodyBytes} bytes of the response body`
    // undici: "Proxy response (407) !== 200 when HTTP Tunneling"; a proxy that hangs up before answering the CONNECT.
    const refused = /Proxy response \((\d+)\)/.exec(detail)?.[1]
    if (this.proxyShown !== undefined && bodyBytes === undefined && refused !== undefined) {
      const hint = refused === '407' ? ': it wants credentials (put them in the proxy URL, http://user:password@host:port)' : ''
      return new SiemNetworkError(`the proxy ${this.proxyShown} refused to open a tunnel to ${this.origin} (${refused})${hint}; check PROOFPOINT_PROXY_URL / HTTPS_PROXY and NO_PROXY`, err)
    }
    return new SiemNetworkError(`${where}: ${code}: ${detail}${via === '' ? '' : '; check PROOFPOINT_PROXY_URL / HTTPS_PROXY and NO_PROXY'}`, err)
  }

  private statusError(status: number, headers: Record<string, string | string[] | undefined>, text: string, path: string, redact: (s: string) => string): Error {
    // Redacted again after JSON decoding: an escaped secret in a JSON body is plain text once parsed.
    const message = redact(apiMessage(text))
    if (status === 400) return new SiemBadRequestError(message ? sanitize(message, API_MESSAGE_MAX) : '(no message)')
    if (status === 401 || status === 403) return new SiemAuthError(status, this.principal)
    if (status === 429) return new SiemThrottledError(parseRetryAfter(headers['retry-after'], this.now()))
    let detail = message ? sanitize(message, 200) : ''
    if (status >= 300 && status < 400) {
      const location = headerValue(headers, 'location')
      detail = `redirect${location ? ` to ${sanitize(location, 120)}` : ''} not followed (credentials are only sent to PROOFPOINT_BASE_URL ${this.origin})`
    } else if (status === 404) {
      detail = `${this.origin}${path.split('?')[0] ?? ''} not found; is PROOFPOINT_BASE_URL the Proofpoint API domain?`
    }
    return new SiemServerError(status, detail)
  }
}

/** Reads at most ERROR_BODY_LIMIT bytes of an error body, then discards the rest so the connection is not leaked. */
async function readErrorBody(body: Readable): Promise<string> {
  body.on('error', noop) // destroying an unfinished body emits an error: it is expected here
  const parts: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      parts.push(chunk)
      size += chunk.length
      if (size >= ERROR_BODY_LIMIT) break
    }
  } catch {
    // The status is what matters; an error body that cannot be read is reported without its text.
  } finally {
    discard(body)
  }
  return Buffer.concat(parts).subarray(0, ERROR_BODY_LIMIT).toString('utf8')
}

function noop(): void {}

/** Drops a response body that will not be read (again): frees or closes its connection, and swallows the
 *  "aborted" error that destroying an unfinished body emits. */
function discard(body: Readable): void {
  body.on('error', noop)
  body.destroy()
}

/** The API's own words: a JSON body's `message` (or `error`) field, else the text. */
function apiMessage(text: string): string {
  const t = text.trim()
  if (t.startsWith('{')) {
    try {
      const v = JSON.parse(t) as unknown
      if (typeof v === 'object' && v !== null) {
        for (const k of ['message', 'error', 'detail']) {
          const m = (v as Record<string, unknown>)[k]
          if (typeof m === 'string' && m.trim()) return m.trim()
        }
      }
    } catch {
      // not JSON after all: quote the text
    }
  }
  return t
}

/** One line of printable text at most `max` characters: control and bidi characters become spaces. */
function sanitize(s: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]+/g, ' ').trim()
  return clean.length > max ? `${clean.slice(0, max)}…` : clean
}
