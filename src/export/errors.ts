import { ExportError } from '../errors.js'
import { OtlpExportFailure } from './otlp-http-exporter.js'

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

interface FailureFacts {
  reason: 'http' | 'network' | 'timeout' | 'aborted' | 'request' | 'unknown'
  status?: number
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
}

/**
 * Turns whatever the exporter reported into an ExportError that says what to do. Retryable: network errors,
 * timeouts, 429 and 5xx (the collector may come back). Permanent: other statuses (400 malformed, 401/403 auth,
 * 404 wrong path, 413 too large, 415 wrong protocol): sending the same bytes again cannot succeed.
 */
export function toExportError(error: unknown, ctx: ExportFailureContext): ExportError {
  const f = factsOf(error)
  const where = `collector at ${displayEndpoint(ctx.endpoint)}`
  const after = f.attempts !== undefined && f.attempts > 1 ? ` after ${f.attempts} attempts` : ''
  const which = ctx.batches > 1 ? ` (batch ${ctx.batch} of ${ctx.batches}; the whole set will be sent again)` : ''
  const said = f.responseText ? `: "${f.responseText}"` : ''
  const size = `${ctx.records} records${ctx.bytes === undefined ? '' : `, ${ctx.bytes} bytes`}`
  const opts = (retryable: boolean): { retryable: boolean; status?: number; cause: unknown } => ({
    retryable,
    ...(f.status === undefined ? {} : { status: f.status }),
    cause: error,
  })

  switch (f.reason) {
    case 'http': {
      const s = f.status ?? 0
      if (s === 429) {
        const wait = f.retryAfterMs === undefined ? '' : `, asked to retry after ${Math.ceil(f.retryAfterMs / 1000)} s`
        return new ExportError(`${where} is throttling exports (429${wait})${after}${which}; will retry with backoff`, opts(true))
      }
      if (s >= 500) {
        return new ExportError(`${where} answered ${s}${said}${after}${which}; the collector or its backend is failing, will retry`, opts(true))
      }
      let hint = 'the collector will not accept this request as it is'
      if (s === 400) hint = 'the collector rejected the data: check that OTEL_EXPORTER_OTLP_LOGS_PROTOCOL matches what it accepts (Vector takes http/protobuf only) and, for Fluent Bit, RECEIVER_ATTRIBUTE_SHAPE=flat'
      else if (s === 401 || s === 403) hint = 'the collector refused the credentials: check OTEL_EXPORTER_OTLP_HEADERS'
      else if (s === 404 || s === 405) hint = 'nothing accepts OTLP logs there: check OTEL_EXPORTER_OTLP_ENDPOINT (base URL, /v1/logs is appended) or OTEL_EXPORTER_OTLP_LOGS_ENDPOINT (full URL)'
      else if (s === 413) hint = `the request (${size}) is too large for the collector: lower the batch size limit`
      else if (s === 415) hint = 'the collector does not accept this content type: check OTEL_EXPORTER_OTLP_LOGS_PROTOCOL'
      return new ExportError(`${where} rejected the export (${s})${said}${which}; ${hint}`, opts(false))
    }
    case 'network': {
      const code = f.errorCode ?? 'network error'
      let what: string
      if (code === 'ECONNREFUSED') what = 'refused the connection; is the OpenTelemetry Collector/Fluent Bit/Vector running and OTEL_EXPORTER_OTLP_ENDPOINT right?'
      else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') what = `could not be resolved (${code}); check the host name in OTEL_EXPORTER_OTLP_ENDPOINT`
      else if (TLS_CODE.test(code)) what = `failed the TLS handshake (${code}); check https vs http in OTEL_EXPORTER_OTLP_ENDPOINT and the certificate settings (OTEL_EXPORTER_OTLP_CERTIFICATE)`
      else what = `could not be reached (${code}: ${f.message})`
      return new ExportError(`${where} ${what}${after}${which}; will retry`, opts(true))
    }
    case 'timeout':
      return new ExportError(`${where} did not acknowledge the export within ${ctx.timeoutMs} ms (OTEL_EXPORTER_OTLP_TIMEOUT)${after}${which}; will retry`, opts(true))
    case 'aborted':
      return new ExportError(`export to ${where} abandoned: the receiver is shutting down${which}`, opts(true))
    case 'request':
      return new ExportError(`export to ${where} could not be sent: ${f.message}`, opts(false))
    default:
      return new ExportError(`export to ${where} failed: ${f.message}${which}; will retry`, opts(true))
  }
}
