import { errorCodeOf, parseRetryAfter } from '../http-util.js'
import http from 'node:http'
import https from 'node:https'
import { promisify } from 'node:util'
import { gzip as gzipCallback } from 'node:zlib'
import { ExportResultCode } from '@opentelemetry/core'
import type { ExportResult } from '@opentelemetry/core'
import type { LogRecordExporter, ReadableLogRecord } from '@opentelemetry/sdk-logs'
// A dependency of both OTLP exporter packages; its serializers are its public API ("exports added here are public").
import { JsonLogsSerializer, ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer'

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
  /** The SDK's policy by default: up to 5 retries, 1 s × 1.5 (±20 % jitter, at most 5 s), Retry-After honoured. */
  retry?: { maxRetries?: number; initialBackoffMs?: number; maxBackoffMs?: number; multiplier?: number }
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

export type OtlpFailureReason = 'http' | 'network' | 'timeout' | 'aborted' | 'request'

/** A failed export, with what is needed to decide what to do next. Never contains header values. */
export class OtlpExportFailure extends Error {
  readonly reason: OtlpFailureReason
  readonly status: number | undefined
  /** Node's error code for network failures (ECONNREFUSED, ENOTFOUND, CERT_HAS_EXPIRED, ...). */
  readonly errorCode: string | undefined
  readonly attempts: number
  readonly retryAfterMs: number | undefined
  /** The start of the collector's answer, printable characters only. */
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
  | { ok: true; status: number; body: Buffer }
  | {
      ok: false
      failure: Omit<ConstructorParameters<typeof OtlpExportFailure>[2], 'attempts'> & { reason: OtlpFailureReason; message: string }
      retry: boolean
      /** Retry at once: the collector closed an idle keep-alive connection just as we reused it. */
      immediate?: boolean
    }

/** Parse Retry-After (seconds or an HTTP date) into milliseconds. */
function printable(buf: Buffer): string {
  return buf
    .subarray(0, RESPONSE_TEXT_MAX * 4)
    .toString('utf8')
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
  private readonly retry: Required<NonNullable<OtlpHttpLogExporterOptions['retry']>>
  private readonly active = new Set<http.ClientRequest>()
  private readonly sleeping = new Set<() => void>()
  private readonly pending = new Set<Promise<void>>()
  private shutdownPromise: Promise<void> | undefined
  /** Time a retry must have left before the deadline: a quarter of the timeout, at most 1 s. */
  private readonly minAttemptMs: number

  constructor(opts: OtlpHttpLogExporterOptions) {
    this.url = new URL(opts.url)
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') {
      throw new TypeError(`OTLP endpoint must be an http:// or https:// URL, got ${this.url.protocol}`)
    }
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
    this.agent =
      this.url.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, ...(opts.tls ?? {}) })
        : new http.Agent({ keepAlive: true })
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
        const partial = this.partialSuccess(attemptResult.body)
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
      return { rejectedLogRecords: rejected, errorMessage: ps.errorMessage ?? '' }
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
      const timer = setTimeout(() => {
        req.destroy(new OtlpExportFailure('timeout', `no answer within ${timeoutMs} ms`, { attempts: 0 }))
      }, timeoutMs)
      timer.unref()

      req.on('response', (res) => {
        const chunks: Buffer[] = []
        let size = 0
        const status = res.statusCode ?? 0
        const retryAfterMs = parseRetryAfter(res.headers['retry-after'])
        const finish = (): void => {
          const data = Buffer.concat(chunks)
          if (status >= 200 && status <= 299) {
            settle({ ok: true, status, body: data })
            return
          }
          const responseText = printable(data)
          settle({
            ok: false,
            retry: isRetryableStatus(status),
            failure: {
              reason: 'http',
              message: `collector answered ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`,
              status,
              ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
              ...(responseText ? { responseText } : {}),
            },
          })
        }
        res.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > MAX_RESPONSE_BYTES) {
            res.destroy()
            finish()
            return
          }
          chunks.push(chunk)
        })
        res.on('end', finish)
        // The status line arrived: a broken body does not undo a 2xx.
        res.on('error', finish)
        res.on('aborted', finish)
      })
      req.on('error', (err: Error) => {
        if (err instanceof OtlpExportFailure) {
          settle({ ok: false, retry: err.reason === 'timeout', failure: { reason: err.reason, message: err.message } })
          return
        }
        const code = errorCodeOf(err)
        settle({
          ok: false,
          retry: code !== undefined && RETRYABLE_NETWORK_CODES.has(code),
          immediate: req.reusedSocket && code === 'ECONNRESET',
          failure: { reason: 'network', message: err.message, ...(code === undefined ? {} : { errorCode: code }), cause: err },
        })
      })
      req.end(body)
    })
  }
}
