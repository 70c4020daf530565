import { errorCodeOf, parseRetryAfter } from '../http-util.js'
import http from 'node:http'
import https from 'node:https'
import { HttpProxyAgent } from 'http-proxy-agent'
import { HttpsProxyAgent } from 'https-proxy-agent'
import { promisify } from 'node:util'
import { gzip as gzipCallback } from 'node:zlib'
import { redactUrl } from '../redact.js'
import { OtlpExportFailure } from './failure.js'
import { OtlpExporterBase, printable } from './otlp-exporter-base.js'
import type { Attempt, OtlpCompression, OtlpExporterBaseOptions } from './otlp-exporter-base.js'
import { SPEAKS_TLS, tlsProbe } from './tls-probe.js'
import { NAME } from '../version.js'

/** What a proxy's 407 asks for. */
const PROXY_407_HINT = ': it wants credentials, given in the proxy URL (http://name:password@host:port), that it accepts'
const gzip = promisify(gzipCallback)

export interface OtlpHttpLogExporterOptions extends OtlpExporterBaseOptions {
  /** The full logs URL, e.g. http://127.0.0.1:4318/v1/logs. */
  url: string
  protocol: 'http/protobuf' | 'http/json'
}

/** Statuses the OTLP specification (and the SDK) retry. */
function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 502 || status === 503 || status === 504
}

/** Network errors worth another attempt: the SDK's list plus aborted connections. */
const RETRYABLE_NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'EADDRNOTAVAIL',
])

/** The collector's answer is read up to this size (as the SDK does); more is not a valid OTLP response. */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024

/** Headers the exporter owns; a user-given header of the same name is ignored. */
const OWN_HEADERS = new Set(['content-type', 'content-length', 'content-encoding', 'transfer-encoding', 'host', 'connection'])

/** How much of an answer is redacted before it is cut to printable characters. */
const RESPONSE_REDACT_WINDOW = 64 * 1024

/** How long a "no TLS there" probe result is trusted before the next connection reset probes again. */
const TLS_PROBE_NEGATIVE_TTL_MS = 60_000

/** What a server that speaks only TLS answers to plain HTTP: Go's net/http, nginx. */
const HTTPS_ONLY_ANSWER = /Client sent an HTTP request to an HTTPS server|plain HTTP request was sent to HTTPS port/i

/**
 * A LogRecordExporter that POSTs OTLP/HTTP with a Content-Length, retries like the SDK, and reports the outcome. Not
 * the SDK's OTLPLogExporter: in 0.223 it streams the body (Readable.pipe), so Node sends `Transfer-Encoding: chunked`
 * and no `Content-Length`, which Fluent Bit rejects (fluent-bit #7678); and after its retries on 429/502/503/504 it
 * reports a bare "Export failed with retryable status" without the HTTP status.
 */
export class OtlpHttpLogExporter extends OtlpExporterBase {
  private readonly url: URL
  protected readonly format: 'protobuf' | 'json'
  private readonly compression: OtlpCompression
  private readonly headers: Record<string, string>
  private readonly agent: http.Agent
  /** https through a proxy: the CA, client certificate and key, given per request, where the proxy's tunnel reads them. */
  private readonly tunnelTls: OtlpHttpLogExporterOptions['tls']
  /** The proxy's URL with its credentials replaced, for messages. */
  private readonly proxyShown: string | undefined
  private readonly active = new Set<http.ClientRequest>()
  private readonly speaksTls: () => Promise<boolean>

  constructor(opts: OtlpHttpLogExporterOptions) {
    super(opts)
    this.url = new URL(opts.url)
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') {
      throw new TypeError(`OTLP endpoint must be an http:// or https:// URL, got ${this.url.protocol}`)
    }
    this.format = opts.protocol === 'http/json' ? 'json' : 'protobuf'
    this.compression = opts.compression ?? 'none'
    const headers: Record<string, string> = {}
    for (const [name, value] of Object.entries(opts.headers ?? {})) {
      if (!OWN_HEADERS.has(name.toLowerCase())) headers[name] = value
    }
    headers['Content-Type'] = this.format === 'json' ? 'application/json' : 'application/x-protobuf'
    if (this.compression === 'gzip') headers['Content-Encoding'] = 'gzip'
    headers['User-Agent'] = opts.userAgent ?? NAME
    this.headers = headers
    this.proxyShown = opts.proxy === undefined ? undefined : redactUrl(opts.proxy)
    const secure = this.url.protocol === 'https:'
    if (opts.proxy !== undefined) {
      this.agent = secure ? new HttpsProxyAgent(opts.proxy, { keepAlive: true }) : new HttpProxyAgent(opts.proxy, { keepAlive: true })
      this.tunnelTls = secure ? (opts.tls ?? {}) : undefined
    } else {
      this.agent = secure ? new https.Agent({ keepAlive: true, ...opts.tls }) : new http.Agent({ keepAlive: true })
    }
    this.speaksTls = tlsProbe(this.url, this.timeoutMillis, TLS_PROBE_NEGATIVE_TTL_MS)
  }

  protected prepareBody(raw: Buffer): Promise<Buffer> {
    return this.compression === 'gzip' ? gzip(raw) : Promise.resolve(raw)
  }

  protected abortAttempts(abort: OtlpExportFailure): void {
    for (const req of this.active) req.destroy(abort)
  }

  protected closeTransport(): void {
    this.agent.destroy()
  }

  protected attempt(body: Buffer, timeoutMs: number): Promise<Attempt> {
    return new Promise<Attempt>((resolve) => {
      let settled = false
      const settle = (a: Attempt): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        this.active.delete(req)
        resolve(a)
      }
      const send = this.url.protocol === 'https:' ? https.request : http.request
      let req: http.ClientRequest
      try {
        req = send(this.url, {
          method: 'POST',
          agent: this.agent,
          ...this.tunnelTls,
          headers: { ...this.headers, 'Content-Length': String(body.length) },
        })
      } catch (err) {
        // Invalid header names or values throw synchronously. Name the problem, never the value.
        const errorCode = errorCodeOf(err)
        resolve({
          ok: false,
          retry: false,
          failure: {
            reason: 'request',
            message: `the request could not be built (${errorCode ?? 'invalid request'}): check the header names and values in OTEL_EXPORTER_OTLP_HEADERS`,
            errorCode,
          },
        })
        return
      }
      this.active.add(req)
      // https-proxy-agent replays a proxy's refusal of the CONNECT (407, 502, ...) as the answer to the request: that is
      // the proxy speaking, not the collector, and nothing reached the collector.
      let tunnelRefused: number | undefined
      if (this.tunnelTls) {
        req.once('proxyConnect', (connect: { statusCode?: number }) => {
          if (connect.statusCode !== 200) tunnelRefused = connect.statusCode ?? 0
        })
      }
      /** Set once the status line arrived: from then on the answer decides, whatever happens to the body. */
      let answered: ((incomplete: boolean) => void) | undefined
      const timer = setTimeout(() => {
        if (answered) {
          // A 2xx is an acknowledgement even if its body is still trickling in: never send the batch again for that.
          answered(true)
          req.destroy()
          return
        }
        req.destroy(new OtlpExportFailure('timeout', `no answer within ${timeoutMs} ms`, { attempts: 0 }))
      }, timeoutMs)
      timer.unref()

      req.on('response', (res) => {
        if (tunnelRefused !== undefined) {
          res.resume()
          const hint = tunnelRefused === 407 ? PROXY_407_HINT : ''
          settle({
            ok: false,
            // A 407 is not tried again at once (the same credentials get the same answer); the caller retries later.
            retry: isRetryableStatus(tunnelRefused),
            failure: {
              reason: 'network',
              errorCode: 'ERR_PROXY_TUNNEL',
              message: `the proxy ${this.proxyShown ?? ''} refused to open a tunnel to ${this.url.host} (${tunnelRefused})${hint}; check HTTPS_PROXY and NO_PROXY`,
            },
          })
          return
        }
        const chunks: Buffer[] = []
        let size = 0
        const status = res.statusCode ?? 0
        const retryAfterMs = parseRetryAfter(res.headers['retry-after'])
        const finish = (incomplete: boolean): void => {
          const data = Buffer.concat(chunks)
          if (status >= 200 && status <= 299) {
            if (htmlPage(res.headers['content-type'], data)) {
              // A web server, an ingress's default page, a login portal: a 200 from something that is not a collector
              // acknowledges nothing. Not retried at once; the caller holds the records until the endpoint is fixed.
              settle({ ok: false, retry: false, failure: { reason: 'misconfigured', message: `a web page came back, not an OTLP answer: ${NOT_OTLP}`, status } })
              return
            }
            settle({ ok: true, status, body: data, complete: !incomplete })
            return
          }
          const text = this.redactor.redact(data.subarray(0, RESPONSE_REDACT_WINDOW).toString('utf8'))
          const responseText = printable(text)
          const statusMessage = res.statusMessage ? printable(this.redactor.redact(res.statusMessage)) : ''
          if (status === 407 && this.proxyShown !== undefined) {
            // Proxy Authentication Required comes from the proxy that forwards a plain-HTTP request, never from a
            // collector: said as the CONNECT case says it, not as the collector refusing the records.
            settle({
              ok: false,
              retry: false,
              failure: {
                reason: 'network',
                errorCode: 'ERR_PROXY_AUTH',
                message: `the proxy ${this.proxyShown} answered 407 for ${this.url.host}${PROXY_407_HINT}; check HTTP_PROXY and NO_PROXY`,
              },
            })
            return
          }
          if (this.url.protocol === 'http:' && HTTPS_ONLY_ANSWER.test(text)) {
            // Go's net/http and nginx answer plain HTTP on a TLS port with a 400: not a verdict on the records.
            settle({ ok: false, retry: false, failure: { reason: 'misconfigured', message: SPEAKS_TLS, status, responseText } })
            return
          }
          const message = `collector answered ${status}${statusMessage ? ` ${statusMessage}` : ''}`
          settle({ ok: false, retry: isRetryableStatus(status), failure: { reason: 'http', message, status, retryAfterMs, responseText } })
        }
        answered = finish
        res.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > MAX_RESPONSE_BYTES) {
            res.destroy()
            finish(true)
            return
          }
          chunks.push(chunk)
        })
        res.on('end', () => finish(false))
        // The status line arrived: a broken body does not undo a 2xx.
        res.on('error', () => finish(true))
        res.on('aborted', () => finish(true))
        res.on('close', () => finish(!res.complete))
      })
      req.on('error', (err: Error) => {
        if (answered) {
          // After the status line, the answer decides (a 2xx stays an acknowledgement).
          answered(true)
          return
        }
        if (err instanceof OtlpExportFailure) {
          settle({ ok: false, retry: err.reason === 'timeout', failure: { reason: err.reason, message: err.message } })
          return
        }
        const code = errorCodeOf(err)
        if (code === 'HPE_INVALID_CONSTANT' && !req.reusedSocket) {
          // The answer is not HTTP/1.1 at all: an HTTP/2-only server, such as an OTLP/gRPC port, sends its SETTINGS
          // frame first. Not retried at once; the caller holds the records until it is fixed.
          settle({ ok: false, retry: false, failure: { reason: 'misconfigured', message: SPEAKS_HTTP2, errorCode: code, cause: err } })
          return
        }
        const networkFailure = (): void =>
          settle({
            ok: false,
            retry: code !== undefined && RETRYABLE_NETWORK_CODES.has(code),
            immediate: req.reusedSocket && code === 'ECONNRESET',
            failure: { reason: 'network', message: err.message, errorCode: code, cause: err },
          })
        // A TLS server hangs up on plain HTTP without a word: ask it for a TLS handshake before calling it a network error.
        // Not on a reused keep-alive connection: that reset is the usual idle-close race.
        if (this.url.protocol === 'http:' && !req.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE')) {
          void this.speaksTls().then((speaksTls) => {
            if (!speaksTls) return networkFailure()
            // Not retried: every attempt would hang up the same way. The caller holds the records until it is fixed.
            settle({ ok: false, retry: false, failure: { reason: 'misconfigured', message: SPEAKS_TLS, errorCode: code, cause: err } })
          })
          return
        }
        networkFailure()
      })
      req.end(body)
    })
  }
}

const SPEAKS_HTTP2 =
  'the endpoint does not answer HTTP/1.1 (an OTLP/gRPC port, usually 4317?): set OTEL_EXPORTER_OTLP_PROTOCOL=grpc, or point OTEL_EXPORTER_OTLP_ENDPOINT at the OTLP/HTTP port (usually 4318)'

const NOT_OTLP =
  'not an OTLP/HTTP endpoint (a web server, an ingress, a login portal?); check OTEL_EXPORTER_OTLP_ENDPOINT (OTLP/HTTP is usually port 4318, path /v1/logs)'

/** A 2xx whose content is a web page: never what an OTLP receiver answers (protobuf, JSON, or nothing). */
function htmlPage(contentType: string | undefined, data: Buffer): boolean {
  if (contentType !== undefined && /^\s*(text\/html|application\/xhtml)/i.test(contentType)) return true
  return /^\s*<(!doctype html|html)[\s>]/i.test(data.subarray(0, 64).toString('latin1'))
}
