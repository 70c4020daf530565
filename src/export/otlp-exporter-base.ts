import { ExportResultCode } from '@opentelemetry/core'
import type { ExportResult } from '@opentelemetry/core'
import type { LogRecordExporter, ReadableLogRecord } from '@opentelemetry/sdk-logs'
// A dependency of both OTLP exporter packages; its serializers are its public API ("exports added here are public").
import { JsonLogsSerializer, ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer'
import { backoffDelay } from '../backoff.js'
import { otlpRedactor } from '../redact.js'
import type { Redactor } from '../redact.js'
import { OtlpExportFailure } from './failure.js'
import type { FailureFacts, OtlpFailureReason } from './failure.js'
import { DEFAULT_OTLP_TIMEOUT_MS } from '../config/defaults.js'

/** OTEL_EXPORTER_OTLP_PROTOCOL values (the specification's names). */
export type OtlpProtocol = 'http/protobuf' | 'http/json' | 'grpc'
export type OtlpCompression = 'gzip' | 'none'

/** What the exporter passes to its callback: the SDK's ExportResult plus what we learned on the way. */
export interface OtlpExportResult extends ExportResult {
  /** Request body bytes as sent (after compression; for gRPC the message before gRPC's own compression). */
  bytes?: number
  attempts?: number
  /**
   * Requests that went out, the exporter's retries included: each one before the last failed in a way it retries.
   * 0 when none did (shut down first); the synthetic timeout of an attempt with no time left is not one.
   */
  requests?: number
  /** HTTP status of the last answer, when there was one. */
  status?: number
  /** The collector accepted the request but rejected some records (OTLP partial success): retrying will not help. */
  partialSuccess?: { rejectedLogRecords: number; errorMessage: string }
}

/** One try at sending a request, as a transport reports it. */
export type Attempt =
  /** `complete`: the whole answer arrived (an acknowledgement either way; an incomplete body is not parsed). */
  | { ok: true; status?: number; body: Buffer; complete: boolean }
  | {
      ok: false
      failure: FailureFacts & { reason: OtlpFailureReason; cause?: unknown }
      retry: boolean
      /** Retry at once: the collector closed an idle keep-alive connection just as we reused it. */
      immediate?: boolean
    }

/** The SDK's steps: up to 5 retries, 1 s × 1.5, at most 5 s. */
const DEFAULT_RETRY = { maxRetries: 5, initialBackoffMs: 1000, maxBackoffMs: 5000, multiplier: 1.5 }

export interface OtlpExporterBaseOptions {
  /** The whole export, retries included, must finish within this (OTEL_EXPORTER_OTLP_TIMEOUT). Default 10 000. */
  timeoutMillis?: number
  /** Default: the SDK's steps (each up to 20 % shorter at random); a Retry-After is honoured. */
  retry?: Partial<typeof DEFAULT_RETRY>
  /** The endpoint URL: its user info and query values are redacted from quoted collector text. */
  url: string
  /** Sent with every request. Values may carry credentials: they never appear in errors. */
  headers?: Record<string, string>
  /**
   * Other secrets that must never be quoted from a collector's answer (the SIEM API secret and its Basic token),
   * asked for whenever collector text is quoted, so a rotated secret is covered.
   */
  otherSecrets?: () => Iterable<string>
  compression?: OtlpCompression
  userAgent?: string
  /** For https: the CA, client certificate and key (OTEL_EXPORTER_OTLP_CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY). */
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer }
  /**
   * A forward proxy (HTTPS_PROXY/HTTP_PROXY by the endpoint's scheme, unless NO_PROXY): https endpoints through a CONNECT
   * tunnel (the collector's certificate still checked, `tls` still applied); http ones as absolute-form requests over
   * OTLP/HTTP, through a tunnel over gRPC (which takes only an http:// proxy).
   */
  proxy?: string
}

const RESPONSE_TEXT_MAX = 300
/** Up to a fifth of each step drawn at random (the SDK draws ±20 %; ours never overshoots the ceiling). */
const JITTER = 0.2

/** The collector's text as it may be quoted: credentials redacted first, then printable characters only, cut short. */
export function printable(text: string): string {
  return text
    .slice(0, RESPONSE_TEXT_MAX * 4)
    .replace(/[^\x20-\x7e\u00a0-\uffff]+/g, ' ')
    .replace(/\uFFFD/g, '')
    .trim()
    .slice(0, RESPONSE_TEXT_MAX)
}

/**
 * What the OTLP/HTTP and OTLP/gRPC exporters share: the SDK's retry policy within one deadline, partial success,
 * shutdown that abandons what is in flight. A transport implements one attempt.
 */
export abstract class OtlpExporterBase implements LogRecordExporter {
  protected readonly timeoutMillis: number
  private readonly retry: typeof DEFAULT_RETRY
  /** Time a retry must have left before the deadline: a quarter of the timeout, at most 1 s. */
  private readonly minAttemptMs: number
  private readonly sleeping = new Set<() => void>()
  private readonly pending = new Set<Promise<void>>()
  protected shutdownPromise: Promise<void> | undefined
  /** Removes the header values, the endpoint's credentials and `otherSecrets` from quoted collector text. */
  readonly redactor: Redactor

  constructor(opts: OtlpExporterBaseOptions) {
    this.redactor = otlpRedactor(opts.url, opts.headers)
    // A proxy may quote our request back, Proxy-Authorization included.
    if (opts.proxy !== undefined) this.redactor.addUrl(opts.proxy)
    if (opts.otherSecrets) this.redactor.addSource(opts.otherSecrets)
    this.timeoutMillis = opts.timeoutMillis ?? DEFAULT_OTLP_TIMEOUT_MS
    this.minAttemptMs = Math.min(1000, this.timeoutMillis / 4)
    this.retry = { ...DEFAULT_RETRY, ...opts.retry }
  }

  /** The wire format of the request and of the collector's answer. */
  protected abstract readonly format: 'protobuf' | 'json'
  /** The request body for an encoded request (compressed, if the transport does it itself). */
  protected abstract prepareBody(raw: Buffer): Promise<Buffer>
  /** One try within `timeoutMs`. Never rejects. */
  protected abstract attempt(body: Buffer, timeoutMs: number): Promise<Attempt>
  /** Ends the attempts in flight with an 'aborted' failure. */
  protected abstract abortAttempts(abort: OtlpExportFailure): void
  /** Releases connections, once nothing is in flight. */
  protected abstract closeTransport(): void

  export(logs: ReadableLogRecord[], resultCallback: (result: ExportResult) => void): void {
    const done = this.send(logs).then(resultCallback, (err: unknown) =>
      resultCallback({ code: ExportResultCode.FAILED, error: err instanceof Error ? err : new Error(String(err)) }),
    )
    this.track(done)
  }

  /** Serialize and send one batch (retrying as configured); resolves with the outcome. */
  async send(logs: ReadableLogRecord[]): Promise<OtlpExportResult> {
    const serialized = this.serializer().serializeRequest(logs)
    if (serialized === undefined) {
      return failed(new OtlpExportFailure('request', 'the records could not be serialized', { attempts: 0 }))
    }
    return this.sendEncoded(Buffer.from(serialized.buffer, serialized.byteOffset, serialized.byteLength))
  }

  /** Sends an already encoded ExportLogsServiceRequest (compressing it if configured). */
  sendEncoded(raw: Buffer): Promise<OtlpExportResult> {
    const sent = this.post(raw)
    // shutdown() waits for it, as for export().
    this.track(sent.then(() => undefined))
    return sent
  }

  forceFlush(): Promise<void> {
    return Promise.all([...this.pending]).then(() => undefined)
  }

  /** Abandons exports in flight (their callbacks report an 'aborted' failure) and closes idle connections. Idempotent. */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= (async () => {
      this.abortAttempts(new OtlpExportFailure('aborted', 'export abandoned: the exporter is shutting down', { attempts: 0 }))
      for (const wake of this.sleeping) wake()
      await Promise.all([...this.pending])
      this.closeTransport()
    })()
    return this.shutdownPromise
  }

  private serializer(): typeof ProtobufLogsSerializer {
    return this.format === 'json' ? JsonLogsSerializer : ProtobufLogsSerializer
  }

  private track(p: Promise<void>): void {
    this.pending.add(p)
    void p.finally(() => this.pending.delete(p))
  }

  private async post(raw: Buffer): Promise<OtlpExportResult> {
    if (this.shutdownPromise) return failed(new OtlpExportFailure('aborted', 'exporter is shut down', { attempts: 0 }))
    const body = await this.prepareBody(raw)
    if (this.shutdownPromise) return failed(new OtlpExportFailure('aborted', 'exporter is shut down', { attempts: 0 }))

    const deadline = Date.now() + this.timeoutMillis
    const { initialBackoffMs: initialMs, maxBackoffMs: maxMs, multiplier } = this.retry
    let step = 0
    let requests = 0
    for (let attempt = 1; ; attempt++) {
      const left = deadline - Date.now()
      if (left > 0) requests++
      const attemptResult: Attempt =
        left > 0
          ? await this.attempt(body, left)
          : { ok: false, retry: false, failure: { reason: 'timeout', message: `no acknowledgement within ${this.timeoutMillis} ms` } }
      if (attemptResult.ok) {
        const partialSuccess = attemptResult.complete ? this.partialSuccess(attemptResult.body) : undefined
        return { code: ExportResultCode.SUCCESS, bytes: body.length, attempts: attempt, requests, status: attemptResult.status, partialSuccess }
      }
      const { failure } = attemptResult
      const fail = (): OtlpExportResult => ({
        ...failed(new OtlpExportFailure(failure.reason, failure.message, { ...failure, attempts: attempt })),
        bytes: body.length,
        attempts: attempt,
        requests,
        status: failure.status,
      })
      if (!attemptResult.retry || attempt > this.retry.maxRetries || this.shutdownPromise) return fail()
      let wait = 0
      if (!attemptResult.immediate) {
        // The collector's Retry-After wins; the backoff still steps up, as the SDK's does.
        const backoff = backoffDelay(step++, { initialMs, maxMs, multiplier, jitter: JITTER })
        wait = failure.retryAfterMs ?? backoff
      }
      // A retry needs time to be answered: one sent with a few milliseconds left would be cut off while the collector
      // may still take it, and then arrive again with the window's retry (a duplicate the receiver caused itself).
      if (wait + this.minAttemptMs > deadline - Date.now()) return fail()
      await this.sleep(wait)
      if (this.shutdownPromise) return fail()
    }
  }

  private partialSuccess(body: Buffer): OtlpExportResult['partialSuccess'] {
    if (body.length === 0) return undefined
    try {
      const ps = this.serializer().deserializeResponse(body).partialSuccess
      const rejected = Number(ps?.rejectedLogRecords ?? 0)
      if (!ps || (rejected === 0 && !ps.errorMessage)) return undefined
      // The collector's words: quoted in reports and logs, so no credentials in them.
      return { rejectedLogRecords: rejected, errorMessage: this.redactor.redact(ps.errorMessage ?? '') }
    } catch {
      return undefined // an acknowledgement with an unreadable body is still an acknowledgement
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
}

function failed(error: OtlpExportFailure): OtlpExportResult {
  return { code: ExportResultCode.FAILED, error, requests: 0 }
}
