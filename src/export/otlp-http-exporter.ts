import { errorCodeOf, parseRetryAfter } from '../http-util.js'
import http from 'node:http'
import https from 'node:https'
import { HttpProxyAgent } from 'http-proxy-agent'
import { HttpsProxyAgent } from 'https-proxy-agent'
import net from 'node:net'
import tls from 'node:tls'
import { promisify } from 'node:util'
import { gzip as gzipCallback } from 'node:zlib'
import { ExportResultCode } from '@opentelemetry/core'
import type { ExportResult } from '@opentelemetry/core'
import type { LogRecordExporter, ReadableLogRecord } from '@opentelemetry/sdk-logs'
// A dependency of both OTLP exporter packages; its serializers are its public API ("exports added here are public").
import { JsonLogsSerializer, ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer'
import { otlpRedactor } from '../redact.js'
import type { Redactor } from '../redact.js'

const gzip = promisify(gzipCallback)

export type OtlpProtocol = 'http/protobuf' | 'http/json'
export type OtlpCompression = 'gzip' | 'none'

/**
 * Why not the SDK's OTLPLogExporter: in 0.223 it streams the body into the request (Readable.pipe), so Node sends
 * `Transfer-Encoding: chunked` and no `Content-Length`, which Fluent Bit rejects (fluent-bit #7678); and after its
 * retries on 429/502/503/504 it reports a bare "Export failed with retryable status" without the HTTP status.
 * This exporter uses the same serializers and the same retry policy, sends a buffered body with Content-Length,
 * and reports what happened.
 */
export interface OtlpHttpLogExporterOptions {
  /** The full logs URL, e.g. http://127.0.0.1:4318/v1/logs. */
  url: string
  protocol: OtlpProtocol
  /** Sent with every request. Values may carry credentials: they never appear in errors. */
  headers?: Record<string, string>
  compression?: OtlpCompression
  /** The whole export, retries included, must finish within this (OTEL_EXPORTER_OTLP_TIMEOUT). Default 10 000. */
  timeoutMillis?: number
  userAgent?: string
  /** For https: extra CA, client certificate and key (OTEL_EXPORTER_OTLP_CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY). */
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer }
  /**
   * A forward proxy (HTTPS_PROXY/HTTP_PROXY by the endpoint's scheme, unless NO_PROXY): https endpoints through a
   * CONNECT tunnel (the collector's certificate still checked, `tls` still applied), http ones as absolute-form requests.
   */
  proxy?: string
  /** The SDK's policy by default: up to 5 retries, 1 s × 1.5 (±20 % jitter, at most 5 s), Retry-After honoured. */
  retry?: { maxRetries?: number; initialBackoffMs?: number; maxBackoffMs?: number; multiplier?: number }
  /**
   * Other secrets that must never be quoted from a collector's answer (the SIEM API secret and its Basic token),
   * asked for whenever collector text is quoted, so a rotated secret is covered. The header values and the
   * endpoint's user info and query values are redacted anyway.
   */
  otherSecrets?: () => Iterable<string>
}

/** What the exporter passes to its callback: the SDK's ExportResult plus what we learned on the way. */
export interface OtlpExportResult extends ExportResult {
  /** Request body bytes as sent (after compression). */
  bytes?: number
  /** Request body bytes before compression. */
  uncompressedBytes?: number
  attempts?: number
  /** HTTP status of the last answer, when there was one. */
  status?: number
  /** The collector accepted the request but rejected some records (OTLP partial success): retrying will not help. */
  partialSuccess?: { rejectedLogRecords: number; errorMessage: string }
}

/** `misconfigured`: what came back shows the configuration is wrong (an http:// endpoint that speaks TLS). */
export type OtlpFailureReason = 'http' | 'network' | 'timeout' | 'aborted' | 'request' | 'misconfigured'

/** A failed export, with what is needed to decide what to do next. Never contains header values. */
export class OtlpExportFailure extends Error {
  readonly reason: OtlpFailureReason
  readonly status: number | undefined
  /** Node's error code for network failures (ECONNREFUSED, ENOTFOUND, CERT_HAS_EXPIRED, ...). */
  readonly errorCode: string | undefined
  readonly attempts: number
  readonly retryAfterMs: number | undefined
  /** The start of the collector's answer, printable characters only, credentials redacted. */
  readonly responseText: string | undefined
  constructor(
    reason: OtlpFailureReason,
    message: string,
    opts: { status?: number; errorCode?: string; attempts: number; retryAfterMs?: number; responseText?: string; cause?: unknown },
  ) {
    super(message, { cause: opts.cause })
    this.name = 'OtlpExportFailure'
    this.reason = reason
    this.status = opts.status
    this.errorCode = opts.errorCode
    this.attempts = opts.attempts
    this.retryAfterMs = opts.retryAfterMs
    this.responseText = opts.responseText
  }
}

/** Statuses the OTLP specification (and the SDK) retry. */
export function isRetryableStatus(status: number): boolean {
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
const RESPONSE_TEXT_MAX = 300

const DEFAULT_TIMEOUT_MS = 10_000
const DEFAULT_MAX_RETRIES = 5
const DEFAULT_INITIAL_BACKOFF_MS = 1000
const DEFAULT_MAX_BACKOFF_MS = 5000
const DEFAULT_BACKOFF_MULTIPLIER = 1.5
const JITTER = 0.2

/** Headers the exporter owns; a user-given header of the same name is ignored. */
const OWN_HEADERS = new Set(['content-type', 'content-length', 'content-encoding', 'transfer-encoding', 'host', 'connection'])

type Attempt =
  /** `complete`: the whole body arrived (a 2xx is an acknowledgement either way; an incomplete body is not parsed). */
  | { ok: true; status: number; body: Buffer; complete: boolean }
  | {
      ok: false
      failure: Omit<ConstructorParameters<typeof OtlpExportFailure>[2], 'attempts'> & { reason: OtlpFailureReason; message: string }
      retry: boolean
      /** Retry at once: the collector closed an idle keep-alive connection just as we reused it. */
      immediate?: boolean
    }

/** How much of an answer is redacted before it is cut to RESPONSE_TEXT_MAX printable characters. */
const RESPONSE_REDACT_WINDOW = 64 * 1024

/** How long the "does the http:// endpoint speak TLS?" probe may take. */
const TLS_PROBE_TIMEOUT_MS = 2000
/** How long a "no TLS there" probe result is trusted before the next connection reset probes again. */
const TLS_PROBE_NEGATIVE_TTL_MS = 60_000

/** What a server that speaks only TLS answers to plain HTTP: Go's net/http, nginx. */
const HTTPS_ONLY_ANSWER = /Client sent an HTTP request to an HTTPS server|plain HTTP request was sent to HTTPS port/i

/** The collector's text as it may be quoted: credentials redacted first, then printable characters only, cut short. */
function printable(text: string): string {
  return text
    .slice(0, RESPONSE_TEXT_MAX * 4)
    .replace(/[^\x20-\x7e\u00a0-\uffff]+/g, ' ')
    .replace(/\uFFFD/g, '')
    .trim()
    .slice(0, RESPONSE_TEXT_MAX)
}


/** A LogRecordExporter that POSTs OTLP/HTTP with a Content-Length, retries like the SDK, and reports the outcome. */
export { parseRetryAfter }

export class OtlpHttpLogExporter implements LogRecordExporter {
  private readonly url: URL
  private readonly protocol: OtlpProtocol
  private readonly compression: OtlpCompression
  private readonly timeoutMillis: number
  private readonly headers: Record<string, string>
  private readonly agent: http.Agent
  /** CA, client certificate and key for https endpoints; through a proxy given per request, where its tunnel reads them. */
  private readonly tls: NonNullable<OtlpHttpLogExporterOptions['tls']>
  private readonly viaProxy: boolean
  private readonly retry: Required<NonNullable<OtlpHttpLogExporterOptions['retry']>>
  private readonly active = new Set<http.ClientRequest>()
  private readonly sleeping = new Set<() => void>()
  private readonly pending = new Set<Promise<void>>()
  private shutdownPromise: Promise<void> | undefined
  /** Time a retry must have left before the deadline: a quarter of the timeout, at most 1 s. */
  private readonly minAttemptMs: number
  /** Removes the header values, the endpoint's credentials and `otherSecrets` from quoted collector text. */
  readonly redactor: Redactor
  /** http:// endpoints: whether a TLS handshake was answered there (see speaksTls). */
  private tlsProbe: { at: number; result: Promise<boolean>; yes?: boolean } | undefined

  constructor(opts: OtlpHttpLogExporterOptions) {
    this.url = new URL(opts.url)
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') {
      throw new TypeError(`OTLP endpoint must be an http:// or https:// URL, got ${this.url.protocol}`)
    }
    this.redactor = otlpRedactor(opts.url, opts.headers)
    if (opts.otherSecrets) this.redactor.addSource(opts.otherSecrets)
    this.protocol = opts.protocol
    this.compression = opts.compression ?? 'none'
    this.timeoutMillis = opts.timeoutMillis ?? DEFAULT_TIMEOUT_MS
    this.minAttemptMs = Math.min(1000, this.timeoutMillis / 4)
    this.retry = {
      maxRetries: opts.retry?.maxRetries ?? DEFAULT_MAX_RETRIES,
      initialBackoffMs: opts.retry?.initialBackoffMs ?? DEFAULT_INITIAL_BACKOFF_MS,
      maxBackoffMs: opts.retry?.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS,
      multiplier: opts.retry?.multiplier ?? DEFAULT_BACKOFF_MULTIPLIER,
    }
    const headers: Record<string, string> = {}
    for (const [name, value] of Object.entries(opts.headers ?? {})) {
      if (!OWN_HEADERS.has(name.toLowerCase())) headers[name] = value
    }
    headers['Content-Type'] = this.protocol === 'http/json' ? 'application/json' : 'application/x-protobuf'
    if (this.compression === 'gzip') headers['Content-Encoding'] = 'gzip'
    headers['User-Agent'] = opts.userAgent ?? 'proofpoint-siem-receiver'
    this.headers = headers
    this.tls = opts.tls ?? {}
    this.viaProxy = opts.proxy !== undefined
    if (opts.proxy !== undefined) {
      this.agent = this.url.protocol === 'https:' ? new HttpsProxyAgent(opts.proxy, { keepAlive: true }) : new HttpProxyAgent(opts.proxy, { keepAlive: true })
    } else {
      this.agent = this.url.protocol === 'https:' ? new https.Agent({ keepAlive: true, ...this.tls }) : new http.Agent({ keepAlive: true })
    }
  }

  export(logs: ReadableLogRecord[], resultCallback: (result: ExportResult) => void): void {
    const done = this.send(logs).then(resultCallback, (err: unknown) =>
      resultCallback({ code: ExportResultCode.FAILED, error: err instanceof Error ? err : new Error(String(err)) }),
    )
    this.pending.add(done)
    void done.finally(() => this.pending.delete(done))
  }

  /** Serialize, compress and POST one batch (retrying as configured); resolves with the outcome. */
  async send(logs: ReadableLogRecord[]): Promise<OtlpExportResult> {
    if (this.shutdownPromise) return this.failed(new OtlpExportFailure('aborted', 'exporter is shut down', { attempts: 0 }))
    const serializer = this.protocol === 'http/json' ? JsonLogsSerializer : ProtobufLogsSerializer
    const serialized = serializer.serializeRequest(logs)
    if (serialized === undefined) {
      return this.failed(new OtlpExportFailure('request', 'the records could not be serialized', { attempts: 0 }))
    }
    return this.sendEncoded(Buffer.from(serialized.buffer, serialized.byteOffset, serialized.byteLength))
  }

  /** POSTs an already encoded ExportLogsServiceRequest in the configured protocol (compressing it if configured). */
  sendEncoded(raw: Buffer): Promise<OtlpExportResult> {
    const sent = this.post(raw)
    // shutdown() waits for it, as for export().
    const settled = sent.then(() => undefined)
    this.pending.add(settled)
    void settled.finally(() => this.pending.delete(settled))
    return sent
  }

  private async post(raw: Buffer): Promise<OtlpExportResult> {
    if (this.shutdownPromise) return this.failed(new OtlpExportFailure('aborted', 'exporter is shut down', { attempts: 0 }))
    const body = this.compression === 'gzip' ? await gzip(raw) : raw
    if (this.shutdownPromise) return this.failed(new OtlpExportFailure('aborted', 'exporter is shut down', { attempts: 0 }))

    const deadline = Date.now() + this.timeoutMillis
    let backoff = this.retry.initialBackoffMs
    for (let attempt = 1; ; attempt++) {
      const attemptResult = await this.attempt(body, deadline - Date.now())
      if (attemptResult.ok) {
        const result: OtlpExportResult = {
          code: ExportResultCode.SUCCESS,
          bytes: body.length,
          uncompressedBytes: raw.length,
          attempts: attempt,
          status: attemptResult.status,
        }
        const partial = attemptResult.complete ? this.partialSuccess(attemptResult.body) : undefined
        if (partial) result.partialSuccess = partial
        return result
      }
      const { failure } = attemptResult
      const fail = (): OtlpExportResult => ({
        ...this.failed(new OtlpExportFailure(failure.reason, failure.message, { ...failure, attempts: attempt })),
        bytes: body.length,
        uncompressedBytes: raw.length,
        attempts: attempt,
        ...(failure.status === undefined ? {} : { status: failure.status }),
      })
      if (!attemptResult.retry || attempt > this.retry.maxRetries || this.shutdownPromise) return fail()
      let wait = 0
      if (!attemptResult.immediate) {
        const jittered = Math.min(backoff * (1 + (Math.random() * 2 - 1) * JITTER), this.retry.maxBackoffMs)
        backoff *= this.retry.multiplier
        wait = failure.retryAfterMs ?? Math.max(0, jittered)
      }
      // A retry needs time to be answered: one sent with a few milliseconds left would be cut off while the collector
      // may still take it, and then arrive again with the window's retry (a duplicate the receiver caused itself).
      if (wait + this.minAttemptMs > deadline - Date.now()) return fail()
      await this.sleep(wait)
      if (this.shutdownPromise) return fail()
    }
  }

  forceFlush(): Promise<void> {
    return Promise.all([...this.pending]).then(() => undefined)
  }

  /** Abandons exports in flight (their callbacks report an 'aborted' failure) and closes idle connections. Idempotent. */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= (async () => {
      const abort = new OtlpExportFailure('aborted', 'export abandoned: the exporter is shutting down', { attempts: 0 })
      for (const req of this.active) req.destroy(abort)
      for (const wake of this.sleeping) wake()
      await Promise.all([...this.pending])
      this.agent.destroy()
    })()
    return this.shutdownPromise
  }

  private failed(error: OtlpExportFailure): OtlpExportResult {
    return { code: ExportResultCode.FAILED, error }
  }

  private partialSuccess(body: Buffer): OtlpExportResult['partialSuccess'] {
    if (body.length === 0) return undefined
    try {
      const serializer = this.protocol === 'http/json' ? JsonLogsSerializer : ProtobufLogsSerializer
      const ps = serializer.deserializeResponse(body).partialSuccess
      const rejected = Number(ps?.rejectedLogRecords ?? 0)
      if (!ps || (rejected === 0 && !ps.errorMessage)) return undefined
      // The collector's words: quoted in reports and logs, so no credentials in them.
      return { rejectedLogRecords: rejected, errorMessage: this.redactor.redact(ps.errorMessage ?? '') }
    } catch {
      return undefined // a 2xx with an unreadable body is still an acknowledgement
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer)
        this.sleeping.delete(wake)
        resolve()
      }
      // Not unref'd: someone is awaiting this export; shutdown() ends the wait.
      const timer = setTimeout(wake, ms)
      this.sleeping.add(wake)
    })
  }

  private attempt(body: Buffer, timeoutMs: number): Promise<Attempt> {
    if (timeoutMs <= 0) {
      return Promise.resolve({
        ok: false,
        retry: false,
        failure: { reason: 'timeout', message: `no acknowledgement within ${this.timeoutMillis} ms` },
      })
    }
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
          ...(this.viaProxy && this.url.protocol === 'https:' ? this.tls : {}),
          headers: { ...this.headers, 'Content-Length': String(body.length) },
        })
      } catch (err) {
        // Invalid header names or values throw synchronously. Name the problem, never the value.
        resolve({
          ok: false,
          retry: false,
          failure: {
            reason: 'request',
            message: `the request could not be built (${errorCodeOf(err) ?? 'invalid request'}): check the header names and values in OTEL_EXPORTER_OTLP_HEADERS`,
            ...(errorCodeOf(err) === undefined ? {} : { errorCode: errorCodeOf(err) }),
          },
        })
        return
      }
      this.active.add(req)
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
        const chunks: Buffer[] = []
        let size = 0
        const status = res.statusCode ?? 0
        const retryAfterMs = parseRetryAfter(res.headers['retry-after'])
        const finish = (incomplete: boolean): void => {
          const data = Buffer.concat(chunks)
          if (status >= 200 && status <= 299) {
            settle({ ok: true, status, body: data, complete: !incomplete })
            return
          }
          const text = this.redactor.redact(data.subarray(0, RESPONSE_REDACT_WINDOW).toString('utf8'))
          const responseText = printable(text)
          const statusMessage = res.statusMessage ? printable(this.redactor.redact(res.statusMessage)) : ''
          if (this.url.protocol === 'http:' && HTTPS_ONLY_ANSWER.test(text)) {
            // Go's net/http and nginx answer plain HTTP on a TLS port with a 400: not a verdict on the records.
            settle({
              ok: false,
              retry: false,
              failure: { reason: 'misconfigured', message: SPEAKS_TLS, status, ...(responseText ? { responseText } : {}) },
            })
            return
          }
          settle({
            ok: false,
            retry: isRetryableStatus(status),
            failure: {
              reason: 'http',
              message: `collector answered ${status}${statusMessage ? ` ${statusMessage}` : ''}`,
              status,
              ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
              ...(responseText ? { responseText } : {}),
            },
          })
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
        const networkFailure = (): void =>
          settle({
            ok: false,
            retry: code !== undefined && RETRYABLE_NETWORK_CODES.has(code),
            immediate: req.reusedSocket && code === 'ECONNRESET',
            failure: { reason: 'network', message: err.message, ...(code === undefined ? {} : { errorCode: code }), cause: err },
          })
        // A TLS server hangs up on plain HTTP without a word: ask it for a TLS handshake before calling it a network error.
        // Not on a reused keep-alive connection: that reset is the usual idle-close race.
        if (this.url.protocol === 'http:' && !req.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE')) {
          void this.speaksTls().then((speaksTls) => {
            if (!speaksTls) return networkFailure()
            // Not retried: every attempt would hang up the same way. The caller holds the records until it is fixed.
            const failure = { reason: 'misconfigured' as const, message: SPEAKS_TLS, ...(code === undefined ? {} : { errorCode: code }), cause: err }
            settle({ ok: false, retry: false, failure })
          })
          return
        }
        networkFailure()
      })
      req.end(body)
    })
  }

  /**
   * Whether the (http://) endpoint answers a TLS ClientHello: a completed handshake or a TLS alert. Only connects;
   * sends no data, verifies no certificate (nothing is sent to it). Cached: a yes for the exporter's life, a no for
   * TLS_PROBE_NEGATIVE_TTL_MS.
   */
  private speaksTls(): Promise<boolean> {
    const cached = this.tlsProbe
    if (cached && (cached.yes === true || Date.now() - cached.at < TLS_PROBE_NEGATIVE_TTL_MS)) return cached.result
    // Never longer than the export may take (a server that swallows the ClientHello is not one that speaks TLS).
    const result = probeTls(this.url, Math.min(TLS_PROBE_TIMEOUT_MS, this.timeoutMillis))
    const probe: NonNullable<typeof this.tlsProbe> = { at: Date.now(), result }
    void probe.result.then((yes) => {
      probe.yes = yes
    })
    this.tlsProbe = probe
    return probe.result
  }
}

/** The message for an http:// endpoint where a TLS server listens. */
const SPEAKS_TLS =
  'the endpoint speaks TLS: use https:// in OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_LOGS_ENDPOINT, whichever is set), and OTEL_EXPORTER_OTLP_CERTIFICATE for a private CA'

/** Codes of a server certificate that verification refused: only a TLS server sends a certificate. */
const CERTIFICATE_REFUSED = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH)/

/** Connects to the URL's host and port with TLS and resolves true when a TLS server answers (a handshake or an alert). */
function probeTls(url: URL, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
    const port = Number(url.port || 80)
    let done = false
    const finish = (yes: boolean): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve(yes)
    }
    // Verification stays on (never switched off anywhere): a certificate it refuses was still sent by a TLS server.
    const socket = tls.connect({
      host,
      port,
      ...(net.isIP(host) === 0 ? { servername: host } : {}),
    })
    const timer = setTimeout(() => finish(false), timeoutMs)
    timer.unref()
    socket.on('secureConnect', () => finish(true))
    socket.on('error', (err: Error) => {
      // A TLS alert (handshake failure, certificate required, protocol version...) is a TLS server talking.
      const code = errorCodeOf(err) ?? ''
      finish(/^ERR_SSL_.*ALERT/.test(code) || /alert/i.test(err.message) || CERTIFICATE_REFUSED.test(code))
    })
    socket.on('close', () => finish(false))
  })
}
