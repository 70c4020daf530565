import { ReceiverError } from '../errors.js'
import { GrpcCode, MESSAGE_TOO_LARGE } from './grpc-status.js'

/**
 * `misconfigured`: what came back shows the configuration is wrong (an http:// endpoint that speaks TLS).
 * `grpc`: a gRPC status other than OK (`grpcCode`).
 */
export type OtlpFailureReason = 'http' | 'grpc' | 'network' | 'timeout' | 'aborted' | 'request' | 'misconfigured'

/** What any exporter's error says, as failure-message.ts quotes it: an OtlpExportFailure says all of it. */
export interface FailureFacts {
  reason: OtlpFailureReason | 'unknown'
  message: string
  status?: number
  grpcCode?: number
  /** Node's error code for network failures (ECONNREFUSED, ENOTFOUND, CERT_HAS_EXPIRED, ...). */
  errorCode?: string
  attempts?: number
  retryAfterMs?: number
  /** The start of the collector's answer, printable characters only, credentials redacted. */
  responseText?: string
}

export type OtlpFailureFacts = Omit<FailureFacts, 'reason' | 'message'> & { attempts: number; cause?: unknown }

/**
 * A failed export as an exporter reports it (PSR_ERR_EXPORT_ATTEMPT), with what is needed to decide what to do next;
 * the pipeline turns it into an ExportError or rejected records. Never contains header values.
 */
export class OtlpExportFailure extends ReceiverError implements FailureFacts {
  readonly reason: OtlpFailureReason
  readonly status: number | undefined
  readonly grpcCode: number | undefined
  readonly errorCode: string | undefined
  readonly attempts: number
  readonly retryAfterMs: number | undefined
  readonly responseText: string | undefined
  constructor(reason: OtlpFailureReason, message: string, opts: OtlpFailureFacts) {
    super('PSR_ERR_EXPORT_ATTEMPT', message, { cause: opts.cause })
    this.reason = reason
    this.status = opts.status
    this.grpcCode = opts.grpcCode
    this.errorCode = opts.errorCode
    this.attempts = opts.attempts
    this.retryAfterMs = opts.retryAfterMs
    this.responseText = opts.responseText
  }
}

/** Statuses that say the endpoint, the credentials or the protocol are wrong, not the records: every request would fail. */
const MISCONFIGURED_STATUSES = new Set([401, 403, 404, 405, 407, 410, 411, 414, 415, 421, 426, 431])

/**
 * What a failed export means for its records:
 * - `transient`: the collector is unreachable, slow, throttling or failing: send the same records again later.
 * - `too-large`: the request is larger than the collector accepts; smaller requests may pass.
 * - `rejected`: the collector refused these records as data; sending them again cannot help. They are counted as
 *   rejected, and the receiver moves on.
 * - `misconfigured`: the endpoint, credentials or protocol are wrong (also a redirect, headers that cannot be sent):
 *   nothing is wrong with the records, so they are not counted as rejected; the export fails until it is fixed.
 */
export type FailureKind = 'transient' | 'too-large' | 'rejected' | 'misconfigured'

export function failureStatus(error: unknown): number | undefined {
  return factsOf(error).status
}

export function classifyFailure(error: unknown): FailureKind {
  const f = factsOf(error)
  // 'misconfigured': e.g. Go's 400 "Client sent an HTTP request to an HTTPS server.", which says nothing about the records.
  if (f.reason === 'request' || f.reason === 'misconfigured') return 'misconfigured'
  if (f.reason === 'grpc') return grpcFailureKind(f.grpcCode ?? GrpcCode.UNKNOWN, f.message)
  if (f.reason !== 'http') return 'transient'
  return httpFailureKind(f.status ?? 0)
}

/** The class of an HTTP status other than 2xx (a redirect is `misconfigured`: OTLP exporters do not follow them). */
export function httpFailureKind(s: number): FailureKind {
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
export function grpcFailureKind(code: number, message: string): FailureKind {
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

/** What an exporter's error tells us: ours, the SDK's OTLPExporterError (numeric `code` = HTTP status), a Node error. */
export function factsOf(error: unknown): FailureFacts {
  if (error instanceof OtlpExportFailure) return error
  if (error instanceof Error) {
    const code: unknown = (error as Error & { code?: unknown }).code
    if (typeof code === 'number') return { reason: 'http', status: code, message: error.message }
    if (typeof code === 'string') return { reason: 'network', errorCode: code, message: error.message }
    if (/timed out|timeout/i.test(error.message)) return { reason: 'timeout', message: error.message }
    return { reason: 'unknown', message: error.message }
  }
  return { reason: 'unknown', message: String(error) }
}

