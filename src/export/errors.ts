import { ExportError } from '../errors.js'
import { GrpcCode, grpcCodeName, MESSAGE_TOO_LARGE } from './grpc-status.js'
import { OtlpExportFailure } from './otlp-exporter-base.js'

/** The endpoint as it may be shown: no user info, no query (either can carry credentials). */
export function displayEndpoint(endpoint: string): string {
  try {
    const u = new URL(endpoint)
    return `${u.protocol}//${u.host}${u.pathname}`
  } catch {
    return '(invalid URL)'
  }
}

const TLS_CODE = /^(CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|ERR_TLS|ERR_SSL|EPROTO$|HOSTNAME_MISMATCH)/
/** The mutual TLS settings, for messages. */
const CLIENT_CERT_SETTINGS = 'OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY (or their _LOGS_ variants)'

/**
 * What a TLS failure says about *our* (client) certificate, from OpenSSL's error code or text: the collector sent
 * certificate_required (116; TLS 1.3, none presented), or refused the one presented (bad_certificate 42,
 * unknown_ca 48, certificate_unknown 46, expired 45, revoked 44, unsupported 43, access_denied 49); `maybe`: a bare
 * handshake_failure (40), which is also how TLS 1.2 servers refuse a missing client certificate.
 */
function clientCertificateProblem(code: string, message: string): 'required' | 'refused' | 'maybe' | undefined {
  const text = `${code} ${message}`.toLowerCase().replace(/_/g, ' ')
  if (/alert certificate required/.test(text)) return 'required'
  if (/alert (bad certificate|unknown ca|certificate unknown|certificate expired|certificate revoked|unsupported certificate|access denied)/.test(text)) return 'refused'
  if (/alert handshake failure/.test(text)) return 'maybe'
  return undefined
}

/**
 * Statuses that say the endpoint, the credentials or the protocol are wrong, not the records: every request would
 * be answered the same, so the records are neither rejected nor dropped; the export fails until someone fixes it.
 */
const MISCONFIGURED_STATUSES = new Set([401, 403, 404, 405, 407, 410, 411, 414, 415, 421, 426, 431])

/**
 * What a failed export means for its records:
 * - `transient`: the collector is unreachable, slow, throttling or failing (network errors, timeouts, 408, 429,
 *   5xx): send the same records again later.
 * - `too-large`: 413: the request is larger than the collector accepts; smaller requests may pass.
 * - `rejected`: the collector refused these records as data (400 and the other 4xx not listed below); sending
 *   them again cannot help. They are counted as rejected, and the receiver moves on.
 * - `misconfigured`: the endpoint, credentials or protocol are wrong (401, 403, 404, 405, 407, 410, 411, 414, 415,
 *   421, 426, 431, a redirect, headers that cannot be sent): nothing is wrong with the records, so they are not
 *   counted as rejected; the export fails until the configuration is fixed.
 */
export type FailureKind = 'transient' | 'too-large' | 'rejected' | 'misconfigured'

/** The HTTP status of a failed export, when the collector answered. */
export function failureStatus(error: unknown): number | undefined {
  return factsOf(error).status
}

export function classifyFailure(error: unknown): FailureKind {
  const f = factsOf(error)
  // 'misconfigured': e.g. Go's 400 "Client sent an HTTP request to an HTTPS server.", which says nothing about the records.
  if (f.reason === 'request' || f.reason === 'misconfigured') return 'misconfigured'
  if (f.reason === 'grpc') return grpcFailureKind(f.grpcCode ?? GrpcCode.UNKNOWN, f.message)
  if (f.reason !== 'http') return 'transient'
  const s = f.status ?? 0
  if (s === 408 || s === 429 || s >= 500) return 'transient'
  if (s === 413) return 'too-large'
  if (s >= 400 && !MISCONFIGURED_STATUSES.has(s)) return 'rejected'
  return 'misconfigured'
}

/**
 * The same classes for OTLP/gRPC statuses. INVALID_ARGUMENT is how a collector refuses data (the Collector's OTLP
 * receiver maps a permanent pipeline error to it); RESOURCE_EXHAUSTED is a request over the server's message size
 * limit when it says so, throttling otherwise; the statuses about credentials, the method or the server's state say
 * nothing about the records. Everything else (UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, UNKNOWN, ...) is retried
 * later: holding the records is never wrong, dropping them would be.
 */
function grpcFailureKind(code: number, message: string): FailureKind {
  switch (code) {
    case GrpcCode.INVALID_ARGUMENT:
      return 'rejected'
    case GrpcCode.RESOURCE_EXHAUSTED:
      return MESSAGE_TOO_LARGE.test(message) ? 'too-large' : 'transient'
    case GrpcCode.UNAUTHENTICATED:
    case GrpcCode.PERMISSION_DENIED:
    case GrpcCode.UNIMPLEMENTED:
    case GrpcCode.NOT_FOUND:
    case GrpcCode.FAILED_PRECONDITION:
    case GrpcCode.ALREADY_EXISTS:
      return 'misconfigured'
    default:
      return 'transient'
  }
}

interface FailureFacts {
  reason: 'http' | 'grpc' | 'network' | 'timeout' | 'aborted' | 'request' | 'misconfigured' | 'unknown'
  status?: number
  grpcCode?: number
  errorCode?: string
  attempts?: number
  retryAfterMs?: number
  responseText?: string
  message: string
}

/** What an exporter's error tells us: ours, the SDK's OTLPExporterError (numeric `code` = HTTP status), a Node error. */
function factsOf(error: unknown): FailureFacts {
  if (error instanceof OtlpExportFailure) {
    return {
      reason: error.reason,
      message: error.message,
      ...(error.status === undefined ? {} : { status: error.status }),
      ...(error.grpcCode === undefined ? {} : { grpcCode: error.grpcCode }),
      ...(error.errorCode === undefined ? {} : { errorCode: error.errorCode }),
      attempts: error.attempts,
      ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
      ...(error.responseText === undefined ? {} : { responseText: error.responseText }),
    }
  }
  if (error instanceof Error) {
    const code: unknown = (error as Error & { code?: unknown }).code
    if (typeof code === 'number') return { reason: 'http', status: code, message: error.message }
    if (typeof code === 'string') return { reason: 'network', errorCode: code, message: error.message }
    if (/timed out|timeout/i.test(error.message)) return { reason: 'timeout', message: error.message }
    return { reason: 'unknown', message: error.message }
  }
  return { reason: 'unknown', message: String(error) }
}

export interface ExportFailureContext {
  endpoint: string
  timeoutMs: number
  /** 1-based index of the failed batch and how many there were. */
  batch: number
  batches: number
  records: number
  bytes: number | undefined
  /**
   * Removes credentials from quoted remote text (the exporter already did for its own errors; this covers an injected
   * exporter and secrets it does not know).
   */
  redact?: (text: string) => string
}

/** What the collector said, quoted for messages (printable characters only, cut short by the exporter). */
function saidOf(f: FailureFacts): string {
  return f.responseText ? `: "${f.responseText}"` : ''
}

/** The facts with the remote text and messages passed through ctx.redact. */
function redactedFacts(error: unknown, ctx: ExportFailureContext): FailureFacts {
  const f = factsOf(error)
  const redact = ctx.redact
  if (!redact) return f
  return { ...f, message: redact(f.message), ...(f.responseText === undefined ? {} : { responseText: redact(f.responseText) }) }
}

/**
 * Why the collector refused records as data (a `rejected` failure, or `too-large` for a request of one record):
 * the reason the pipeline reports for each of them. Names the collector, the status and what it said; never headers.
 */
export function rejectionReason(error: unknown, ctx: ExportFailureContext): string {
  const f = redactedFacts(error, ctx)
  const where = `collector at ${displayEndpoint(ctx.endpoint)}`
  const code = f.status ?? (f.grpcCode === undefined ? undefined : grpcCodeName(f.grpcCode))
  const status = code === undefined ? '' : ` (${code})`
  const said = saidOf(f)
  if ((f.status === 413 || f.grpcCode === GrpcCode.RESOURCE_EXHAUSTED) && ctx.records === 1) {
    const size = ctx.bytes === undefined ? '' : ` of ${ctx.bytes} bytes`
    return `${where} refused a request holding a single record${size} as too large${status}${said}: the record is larger than the collector accepts; raise the collector's request size limit to take it`
  }
  const hint =
    f.status === 400 || f.grpcCode === GrpcCode.INVALID_ARGUMENT
      ? 'the collector could not take the data: check that OTEL_EXPORTER_OTLP_LOGS_PROTOCOL matches what it accepts (Vector takes http/protobuf only) and, for Fluent Bit, RECEIVER_ATTRIBUTE_SHAPE=flat'
      : 'sending them again cannot help'
  return `${where} rejected ${ctx.records} record${ctx.records === 1 ? '' : 's'}${status}${said}; ${hint}`
}

/**
 * Turns whatever the exporter reported into an ExportError that says what to do. Retryable: network errors,
 * timeouts, 408, 429 and 5xx (the collector may come back). Permanent: other statuses (400 malformed, 401/403 auth,
 * 404 wrong path, 413 too large, 415 wrong protocol): sending the same bytes again cannot succeed. The pipeline
 * throws only transient and `misconfigured` failures; it reports the records of the others as rejected.
 */
export function toExportError(error: unknown, ctx: ExportFailureContext): ExportError {
  const f = redactedFacts(error, ctx)
  const where = `collector at ${displayEndpoint(ctx.endpoint)}`
  const after = f.attempts !== undefined && f.attempts > 1 ? ` after ${f.attempts} attempts` : ''
  const which = ctx.batches > 1 ? ` (batch ${ctx.batch} of ${ctx.batches}; the whole set will be sent again)` : ''
  const said = saidOf(f)
  const size = `${ctx.records} records${ctx.bytes === undefined ? '' : `, ${ctx.bytes} bytes`}`
  const opts = (retryable: boolean): { retryable: boolean; status?: number; retryAfterMs?: number; cause: unknown } => ({
    retryable,
    ...(f.status === undefined ? {} : { status: f.status }),
    ...(f.retryAfterMs === undefined ? {} : { retryAfterMs: f.retryAfterMs }),
    cause: error,
  })

  switch (f.reason) {
    case 'http': {
      const s = f.status ?? 0
      const wait = f.retryAfterMs === undefined ? '' : `, asked to retry after ${Math.ceil(f.retryAfterMs / 1000)} s`
      if (s === 429) return new ExportError(`${where} is throttling exports (429${wait})${after}${which}; will retry with backoff`, opts(true))
      if (s >= 500) {
        return new ExportError(`${where} answered ${s}${said}${wait}${after}${which}; the collector or its backend is failing, will retry`, opts(true))
      }
      if (s === 408) return new ExportError(`${where} timed the request out (408)${said}${after}${which}; will retry`, opts(true))
      if (s >= 300 && s < 400) {
        return new ExportError(
          `${where} answered with a redirect (${s}); OTLP exporters do not follow redirects: set OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_LOGS_ENDPOINT to the final URL${which}`,
          opts(false),
        )
      }
      let hint = 'the collector will not accept this request as it is'
      if (s === 400) hint = 'the collector rejected the data: check that OTEL_EXPORTER_OTLP_LOGS_PROTOCOL matches what it accepts (Vector takes http/protobuf only) and, for Fluent Bit, RECEIVER_ATTRIBUTE_SHAPE=flat'
      else if (s === 401 || s === 403) hint = 'the collector refused the credentials: check OTEL_EXPORTER_OTLP_HEADERS'
      else if (s === 404 || s === 405) hint = 'nothing accepts OTLP logs there: check OTEL_EXPORTER_OTLP_ENDPOINT (base URL, /v1/logs is appended) or OTEL_EXPORTER_OTLP_LOGS_ENDPOINT (full URL)'
      else if (s === 413) hint = `the request (${size}) is too large for the collector: lower the batch size limit`
      else if (s === 415) hint = 'the collector does not accept this content type: check OTEL_EXPORTER_OTLP_LOGS_PROTOCOL'
      return new ExportError(`${where} rejected the export (${s})${said}${which}; ${hint}`, opts(false))
    }
    case 'grpc':
      return grpcExportError(f, { where, after, which, said }, opts)
    case 'network': {
      const code = f.errorCode ?? 'network error'
      let what: string
      if (code === 'ECONNREFUSED') what = 'refused the connection; is the OpenTelemetry Collector/Fluent Bit/Vector running and OTEL_EXPORTER_OTLP_ENDPOINT right?'
      else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') what = `could not be resolved (${code}); check the host name in OTEL_EXPORTER_OTLP_ENDPOINT`
      else if (TLS_CODE.test(code)) {
        what = `failed the TLS handshake (${code})`
        const client = clientCertificateProblem(code, f.message)
        if (client === 'required') {
          what += `: the collector requires a client certificate (mutual TLS); set ${CLIENT_CERT_SETTINGS} to a certificate it trusts and its key`
        } else if (client === 'refused') {
          what += `: the collector refused our client certificate (mutual TLS); check ${CLIENT_CERT_SETTINGS}, that the collector trusts the CA that issued the certificate, and that it has not expired`
        } else {
          what += '; check https vs http in OTEL_EXPORTER_OTLP_ENDPOINT and the certificate settings (OTEL_EXPORTER_OTLP_CERTIFICATE)'
          if (client === 'maybe') what += `; if the collector requires a client certificate (mutual TLS), also ${CLIENT_CERT_SETTINGS}`
        }
      } else {
        what = `could not be reached (${code}: ${f.message})`
        // A collector that refuses a client certificate after the handshake (TLS 1.3, or a Node.js server) just resets.
        if ((code === 'ECONNRESET' || code === 'EPIPE') && ctx.endpoint.startsWith('https:')) {
          what += `; if the collector requires mutual TLS, check ${CLIENT_CERT_SETTINGS}`
        }
      }
      return new ExportError(`${where} ${what}${after}${which}; will retry`, opts(true))
    }
    case 'timeout':
      return new ExportError(`${where} did not acknowledge the export within ${ctx.timeoutMs} ms (OTEL_EXPORTER_OTLP_TIMEOUT)${after}${which}; will retry`, opts(true))
    case 'aborted':
      return new ExportError(`export to ${where} abandoned: the receiver is shutting down${which}`, opts(true))
    case 'request':
      return new ExportError(`export to ${where} could not be sent: ${f.message}`, opts(false))
    case 'misconfigured': {
      const status = f.status === undefined ? '' : ` (it answered ${f.status}${said})`
      return new ExportError(`${where}: ${f.message}${status}; nothing is wrong with the records, they are kept until this is fixed`, opts(false))
    }
    default:
      return new ExportError(`export to ${where} failed: ${f.message}${which}; will retry`, opts(true))
  }
}

/** toExportError for a gRPC status (only the transient and `misconfigured` ones reach it; see grpcFailureKind). */
function grpcExportError(
  f: FailureFacts,
  m: { where: string; after: string; which: string; said: string },
  opts: (retryable: boolean) => { retryable: boolean; status?: number; retryAfterMs?: number; cause: unknown },
): ExportError {
  const code = f.grpcCode ?? GrpcCode.UNKNOWN
  const name = grpcCodeName(code)
  const { where, after, which, said } = m
  const wait = f.retryAfterMs === undefined ? '' : `, asked to retry after ${Math.ceil(f.retryAfterMs / 1000)} s`
  const kind = grpcFailureKind(code, f.message)
  if (kind !== 'misconfigured') {
    if (code === GrpcCode.RESOURCE_EXHAUSTED) return new ExportError(`${where} is throttling exports (${name}${wait})${said}${after}${which}; will retry with backoff`, opts(true))
    return new ExportError(`${where} answered ${name}${said}${wait}${after}${which}; the collector or its backend is failing, will retry`, opts(true))
  }
  let hint = 'the collector will not accept this request as it is'
  if (code === GrpcCode.UNAUTHENTICATED || code === GrpcCode.PERMISSION_DENIED) hint = 'the collector refused the credentials: check OTEL_EXPORTER_OTLP_HEADERS'
  else if (code === GrpcCode.UNIMPLEMENTED || code === GrpcCode.NOT_FOUND) {
    hint = 'the server there has no OTLP logs service: check that OTEL_EXPORTER_OTLP_ENDPOINT names an OTLP/gRPC receiver (the Collector\'s otlp receiver, Vector\'s opentelemetry source) that takes logs'
  }
  return new ExportError(`${where} refused the export (${name})${said}${which}; ${hint}; nothing is wrong with the records, they are kept until this is fixed`, opts(false))
}
