import { ExportError } from '../errors.js'
import type { ExportErrorCode } from '../errors.js'
import { factsOf, grpcFailureKind, httpFailureKind } from './failure.js'
import type { FailureFacts } from './failure.js'
import { GrpcCode, grpcCodeName } from './grpc-status.js'

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

export interface ExportFailureContext {
  endpoint: string
  timeoutMs: number
  /** 1-based index of the failed batch and how many there were. */
  batch: number
  batches: number
  records: number
  bytes: number | undefined
  /** Removes credentials from quoted remote text again: an injected exporter's, and secrets the exporter does not know. */
  redact?: (text: string) => string
}

/** What to check when a collector cannot take the data (HTTP 400, gRPC INVALID_ARGUMENT). */
const CHECK_DATA_FORMAT =
  'check that OTEL_EXPORTER_OTLP_LOGS_PROTOCOL matches what it accepts (Vector takes http/protobuf only) and, for Fluent Bit, RECEIVER_ATTRIBUTE_SHAPE=flat'
/** Said of a misconfiguration (the records are held, not rejected). */
const RECORDS_KEPT = 'nothing is wrong with the records, they are kept until this is fixed'

/** What the collector said, quoted for messages (printable characters only, cut short by the exporter). */
function saidOf(f: FailureFacts): string {
  return f.responseText ? `: "${f.responseText}"` : ''
}

/** The facts with the remote text and messages passed through ctx.redact. */
function redactedFacts(error: unknown, ctx: ExportFailureContext): FailureFacts {
  const f = factsOf(error)
  const redact = ctx.redact
  if (!redact) return f
  return { ...f, message: redact(f.message), responseText: f.responseText && redact(f.responseText) }
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
      ? `the collector could not take the data: ${CHECK_DATA_FORMAT}`
      : 'sending them again cannot help'
  return `${where} rejected ${ctx.records} record${ctx.records === 1 ? '' : 's'}${status}${said}; ${hint}`
}

/** What the messages of one failure share. */
interface Words {
  where: string
  after: string
  which: string
  said: string
  /** ", asked to retry after N s", when the collector said. */
  wait: string
  /** The ExportError with this code and message, carrying the failure's status, Retry-After and cause. */
  error: (code: ExportErrorCode, message: string) => ExportError
}

/**
 * Turns whatever the exporter reported into an ExportError that says what is wrong and what to do. Its code follows
 * classifyFailure: PSR_ERR_EXPORT_FAILED (transient), PSR_ERR_EXPORT_MISCONFIGURED, or PSR_ERR_EXPORT_REJECTED
 * (rejected, too-large: the pipeline reports their records as rejected rather than throwing).
 */
export function toExportError(error: unknown, ctx: ExportFailureContext): ExportError {
  const f = redactedFacts(error, ctx)
  const w: Words = {
    where: `collector at ${displayEndpoint(ctx.endpoint)}`,
    after: f.attempts !== undefined && f.attempts > 1 ? ` after ${f.attempts} attempts` : '',
    which: ctx.batches > 1 ? ` (batch ${ctx.batch} of ${ctx.batches}; the whole set will be sent again)` : '',
    said: saidOf(f),
    wait: f.retryAfterMs === undefined ? '' : `, asked to retry after ${Math.ceil(f.retryAfterMs / 1000)} s`,
    error: (code, message) => new ExportError(code, message, { status: f.status, retryAfterMs: f.retryAfterMs, cause: error }),
  }
  const { where, after, which } = w
  switch (f.reason) {
    case 'http':
      return httpExportError(f.status ?? 0, w, ctx)
    case 'grpc':
      return grpcExportError(f, w)
    case 'network':
      return w.error(FAILED, `${where} ${networkProblem(f, ctx)}${after}${which}`)
    case 'timeout':
      return w.error(FAILED, `${where} did not acknowledge the export within ${ctx.timeoutMs} ms (OTEL_EXPORTER_OTLP_TIMEOUT)${after}${which}`)
    case 'aborted':
      return w.error(FAILED, `export to ${where} abandoned: the receiver is shutting down${which}`)
    case 'request':
      return w.error(MISCONFIGURED, `export to ${where} could not be sent: ${f.message}`)
    case 'misconfigured': {
      const status = f.status === undefined ? '' : ` (it answered ${f.status}${w.said})`
      return w.error(MISCONFIGURED, `${where}: ${f.message}${status}; ${RECORDS_KEPT}`)
    }
    default:
      return w.error(FAILED, `export to ${where} failed: ${f.message}${which}`)
  }
}

const FAILED = 'PSR_ERR_EXPORT_FAILED'
const MISCONFIGURED = 'PSR_ERR_EXPORT_MISCONFIGURED'
const REJECTED = 'PSR_ERR_EXPORT_REJECTED'

function httpExportError(s: number, w: Words, ctx: ExportFailureContext): ExportError {
  const { where, after, which, said, wait } = w
  if (s === 429) return w.error(FAILED, `${where} is throttling exports (429${wait})${after}${which}`)
  if (s >= 500) {
    // Vector's opentelemetry source answers OTLP/JSON with a 500 naming the content-type (it takes protobuf only).
    const json = /content-type/i.test(said) ? '; if this is Vector, it takes http/protobuf only: set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf' : ''
    return w.error(FAILED, `${where} answered ${s}${said}${wait}${after}${which}; the collector or its backend is failing${json}`)
  }
  if (s === 408) return w.error(FAILED, `${where} timed the request out (408)${said}${after}${which}`)
  if (s >= 300 && s < 400) {
    return w.error(
      MISCONFIGURED,
      `${where} answered with a redirect (${s}); OTLP exporters do not follow redirects: set OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_LOGS_ENDPOINT to the final URL${which}`,
    )
  }
  let hint = 'the collector will not accept this request as it is'
  if (s === 400) hint = `the collector rejected the data: ${CHECK_DATA_FORMAT}`
  else if (s === 401 || s === 403) hint = 'the collector refused the credentials: check OTEL_EXPORTER_OTLP_HEADERS'
  else if (s === 404 || s === 405) hint = 'nothing accepts OTLP logs there: check OTEL_EXPORTER_OTLP_ENDPOINT (base URL, /v1/logs is appended) or OTEL_EXPORTER_OTLP_LOGS_ENDPOINT (full URL)'
  else if (s === 413) {
    hint = `the request (${ctx.records} records${ctx.bytes === undefined ? '' : `, ${ctx.bytes} bytes`}) is too large for the collector: lower the batch size limit (RECEIVER_EXPORT_BATCH_SIZE)`
  } else if (s === 415) hint = 'the collector does not accept this content type: check OTEL_EXPORTER_OTLP_LOGS_PROTOCOL'
  return w.error(httpFailureKind(s) === 'misconfigured' ? MISCONFIGURED : REJECTED, `${where} rejected the export (${s})${said}${which}; ${hint}`)
}

function grpcExportError(f: FailureFacts, w: Words): ExportError {
  const code = f.grpcCode ?? GrpcCode.UNKNOWN
  const name = grpcCodeName(code)
  const { where, after, which, said, wait } = w
  switch (grpcFailureKind(code, f.message)) {
    case 'transient':
      if (code === GrpcCode.RESOURCE_EXHAUSTED) return w.error(FAILED, `${where} is throttling exports (${name}${wait})${said}${after}${which}`)
      return w.error(FAILED, `${where} answered ${name}${said}${wait}${after}${which}; the collector or its backend is failing`)
    case 'rejected':
      return w.error(REJECTED, `${where} rejected the export (${name})${said}${which}; the collector rejected the data: ${CHECK_DATA_FORMAT}`)
    case 'too-large':
      return w.error(REJECTED, `${where} rejected the export (${name})${said}${which}; the request is too large for the collector: lower the batch size limit (RECEIVER_EXPORT_BATCH_SIZE)`)
    case 'misconfigured':
      break
  }
  let hint = 'the collector will not accept this request as it is'
  if (code === GrpcCode.UNAUTHENTICATED || code === GrpcCode.PERMISSION_DENIED) hint = 'the collector refused the credentials: check OTEL_EXPORTER_OTLP_HEADERS'
  else if (code === GrpcCode.UNIMPLEMENTED || code === GrpcCode.NOT_FOUND) {
    hint = "the server there has no OTLP logs service: check that OTEL_EXPORTER_OTLP_ENDPOINT names an OTLP/gRPC receiver (the Collector's otlp receiver, Vector's opentelemetry source) that takes logs"
  }
  return w.error(MISCONFIGURED, `${where} refused the export (${name})${said}${which}; ${hint}; ${RECORDS_KEPT}`)
}

/** What a network failure (reason `network`) says: refused, not resolved, TLS (and which certificate), or else. */
function networkProblem(f: FailureFacts, ctx: ExportFailureContext): string {
  const code = f.errorCode ?? 'network error'
  if (code === 'ECONNREFUSED') return 'refused the connection; is the OpenTelemetry Collector/Fluent Bit/Vector running and OTEL_EXPORTER_OTLP_ENDPOINT right?'
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `could not be resolved (${code}); check the host name in OTEL_EXPORTER_OTLP_ENDPOINT`
  if (TLS_CODE.test(code)) {
    const what = `failed the TLS handshake (${code})`
    const client = clientCertificateProblem(code, f.message)
    if (client === 'required') return `${what}: the collector requires a client certificate (mutual TLS); set ${CLIENT_CERT_SETTINGS} to a certificate it trusts and its key`
    if (client === 'refused') {
      return `${what}: the collector refused our client certificate (mutual TLS); check ${CLIENT_CERT_SETTINGS}, that the collector trusts the CA that issued the certificate, and that it has not expired`
    }
    const mutual = client === 'maybe' ? `; if the collector requires a client certificate (mutual TLS), also ${CLIENT_CERT_SETTINGS}` : ''
    if (code === 'EPROTO' && ctx.endpoint.startsWith('https:')) {
      // "wrong version number": the server answered in plain text. An endpoint given without a scheme is https.
      return `${what}: the server there most likely does not speak TLS; use http:// in OTEL_EXPORTER_OTLP_ENDPOINT (an endpoint without a scheme uses TLS unless OTEL_EXPORTER_OTLP_INSECURE=true)${mutual}`
    }
    return `${what}; check https vs http in OTEL_EXPORTER_OTLP_ENDPOINT and the certificate settings (OTEL_EXPORTER_OTLP_CERTIFICATE)${mutual}`
  }
  // A collector that refuses a client certificate after the handshake (TLS 1.3, or a Node.js server) just resets;
  // grpc-js loses the reason altogether ("Failed to connect", no code).
  const reset =
    (code === 'ECONNRESET' || code === 'EPIPE' || f.errorCode === undefined) && ctx.endpoint.startsWith('https:') ? `; if the collector requires mutual TLS, check ${CLIENT_CERT_SETTINGS}` : ''
  return `could not be reached (${code}: ${f.message})${reset}`
}
