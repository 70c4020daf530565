/**
 * What went wrong with a SIEM API request, as a SiemApiError whose message says what to do: the transport failed,
 * the status of the answer, or a body that cannot be read. Text quoted from the answer is redacted and sanitized.
 */
import type { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import { SiemAuthError, SiemBadRequestError, SiemBadResponseError, SiemNetworkError, SiemServerError, SiemThrottledError, SiemTimeoutError } from '../errors.js'
import { errorCodeOf, parseRetryAfter } from '../http-util.js'
import { redactUrl } from '../redact.js'
import { BodyFormatError } from './body-format.js'

type Headers = Record<string, string | string[] | undefined>

export interface ErrorContext {
  origin: string
  principal: string
  /** The proxy's URL without credentials; undefined when connecting directly. */
  proxyShown: string | undefined
  timeoutMs: number
  signal: AbortSignal | undefined
  /** Removes the secret and the proxy's credentials from text quoted from the answer. */
  redact: (s: string) => string
}

export const PROXY_HINT = 'check PROOFPOINT_PROXY_URL / HTTPS_PROXY and NO_PROXY'
const ERROR_BODY_LIMIT = 64 * 1024 // bytes of an error body read for its message; the rest is discarded
const API_MESSAGE_MAX = 500 // characters of the API's message quoted in a SiemBadRequestError
const EXCERPT_MAX = 80 // characters of an unexpected body quoted in an error

/** undici codes that mean the request was built wrong (a bug), not that reaching the server failed. */
const PROGRAMMING_ERROR_CODES = new Set(['UND_ERR_INVALID_ARG', 'UND_ERR_NOT_SUPPORTED', 'UND_ERR_INVALID_RETURN_VALUE'])
const TIMEOUT_ERROR_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT'])

/** The answer whose body was being read: its status and headers, the body bytes read, the start of the body. */
export interface Answer {
  status: number
  headers: Headers
  bytes: number
  head: () => string
}

/**
 * A failure to reach the API or to read its answer; `answer` once the body was being read (the error then carries its
 * status: the API answered). The caller's abort stays its reason.
 */
export function transportError(ctx: ErrorContext, err: unknown, answer?: Pick<Answer, 'status' | 'bytes'>): unknown {
  if (ctx.signal?.aborted) return ctx.signal.reason
  const code = errorCodeOf(err)
  // Network, TLS and HTTP-protocol failures carry a code (ECONNREFUSED, UND_ERR_SOCKET, CERT_HAS_EXPIRED, ...);
  // anything without one is a bug and is not disguised as a network problem.
  if (code === undefined || PROGRAMMING_ERROR_CODES.has(code)) return err
  const bodyBytes = answer?.bytes
  if (TIMEOUT_ERROR_CODES.has(code)) return new SiemTimeoutError(ctx.timeoutMs, err, answer?.status)
  const detail = ctx.redact(sanitize(err instanceof Error ? err.message : String(err), 200))
  const via = ctx.proxyShown === undefined ? '' : ` through the proxy ${ctx.proxyShown}`
  const where =
    bodyBytes === undefined ? `request to ${ctx.origin}${via} failed` : `connection to ${ctx.origin}${via} failed after ${bodyBytes} bytes of the response body`
  // undici: "Proxy response (407) !== 200 when HTTP Tunneling"; a proxy that hangs up before answering the CONNECT.
  const refused = /Proxy response \((\d+)\)/.exec(detail)?.[1]
  if (ctx.proxyShown !== undefined && bodyBytes === undefined && refused !== undefined) {
    const hint = refused === '407' ? ': it wants credentials (put them in the proxy URL, http://user:password@host:port)' : ''
    return new SiemNetworkError(`the proxy ${ctx.proxyShown} refused to open a tunnel to ${ctx.origin} (${refused})${hint}; ${PROXY_HINT}`, err)
  }
  return new SiemNetworkError(`${where}: ${code}: ${detail}${via === '' ? '' : `; ${PROXY_HINT}`}`, err, answer?.status)
}

/** An answer that is not 2xx: reads (a bounded part of) its body for the API's message. */
export async function statusError(ctx: ErrorContext, res: Dispatcher.ResponseData, path: string, now: () => number): Promise<Error> {
  const { statusCode: status, headers } = res
  // Redacted again after JSON decoding: an escaped secret in a JSON body is plain text once parsed.
  const message = ctx.redact(apiMessage(ctx.redact(await readErrorBody(res.body))))
  if (status === 400) return new SiemBadRequestError(message ? sanitize(message, API_MESSAGE_MAX) : '(no message)')
  if (status === 401 || status === 403) return new SiemAuthError(status, ctx.principal)
  if (status === 429) return new SiemThrottledError(parseRetryAfter(headers['retry-after'], now()))
  let detail = message ? sanitize(message, 200) : ''
  if (status >= 300 && status < 400) {
    const location = headerValue(headers, 'location')
    // The target's user info and query values are not shown: a login redirect may carry the credentials back.
    detail = `redirect${location ? ` to ${sanitize(redactUrl(ctx.redact(location)), 120)}` : ''} not followed (credentials are only sent to PROOFPOINT_BASE_URL ${ctx.origin})`
  } else if (status === 404) {
    detail = `${ctx.origin}${path.split('?')[0] ?? ''} not found; is PROOFPOINT_BASE_URL the Proofpoint API domain?`
  }
  return new SiemServerError(status, detail)
}

/** A failure while the body of a 2xx answer was decoded and parsed (`answer.head` is the body's start, for an excerpt). */
export function bodyError(ctx: ErrorContext, err: unknown, answer: Answer): unknown {
  const { status, headers } = answer
  if (err instanceof BodyFormatError) {
    const excerpt = ctx.redact(answer.head())
    const type = headerValue(headers, 'content-type')
    return new SiemBadResponseError(
      `${err.message}${type ? ` (content-type ${sanitize(type, 60)})` : ''}${excerpt ? `; it starts with ${JSON.stringify(sanitize(excerpt, EXCERPT_MAX))}` : ''}`,
      status,
    )
  }
  const code = errorCodeOf(err)
  // zlib: Z_DATA_ERROR, Z_BUF_ERROR (truncated); brotli: ERR__ERROR_FORMAT_..., ERR_BROTLI_...
  if (code !== undefined && (code.startsWith('Z_') || code.startsWith('ERR_BROTLI') || code.startsWith('ERR__ERROR'))) {
    return new SiemBadResponseError(`the ${headerValue(headers, 'content-encoding')} content could not be decoded (${code})`, status)
  }
  return transportError(ctx, err, answer)
}

export function headerValue(h: Headers, name: string): string | undefined {
  const v = h[name]
  return Array.isArray(v) ? v.join(', ') : v
}

/** Drops a response body that will not be read (again): frees or closes its connection, and swallows the
 *  "aborted" error that destroying an unfinished body emits. */
export function discard(body: Readable): void {
  body.on('error', () => undefined)
  body.destroy()
}

/** Reads at most ERROR_BODY_LIMIT bytes of an error body, then discards the rest so the connection is not leaked. */
async function readErrorBody(body: Readable): Promise<string> {
  body.on('error', () => undefined)
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

/** The API's own words: a JSON body's `message` (or `error`, `detail`) field, else the text. */
function apiMessage(text: string): string {
  const t = text.trim()
  try {
    const v: unknown = t.startsWith('{') ? JSON.parse(t) : undefined
    for (const k of ['message', 'error', 'detail']) {
      const m = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[k] : undefined
      if (typeof m === 'string' && m.trim()) return m.trim()
    }
  } catch {
    // not JSON after all: quote the text
  }
  return t
}

/** One line of printable text at most `max` characters: control and bidi characters become spaces. */
function sanitize(s: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]+/g, ' ').trim()
  return clean.length > max ? `${clean.slice(0, max)}…` : clean
}
