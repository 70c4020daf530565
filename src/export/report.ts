import type { Batch } from './batches.js'
import type { OtlpExportResult } from './otlp-exporter-base.js'

/**
 * How the collector answered one OTLP request: `ok` acknowledged (a partial success too); `rejected` refused its
 * records as data; `too_large` over its size limit (413, gRPC RESOURCE_EXHAUSTED saying so), sent again in halves;
 * `error` anything to retry or fix (no answer, 429, 5xx, a timeout, a wrong endpoint or credentials).
 */
export const EXPORT_REQUEST_OUTCOMES = ['ok', 'rejected', 'too_large', 'error'] as const
export type ExportRequestOutcome = (typeof EXPORT_REQUEST_OUTCOMES)[number]
export type RequestCounts = Record<ExportRequestOutcome, number>

/** A record the collector refused as data: sending it again cannot help, so it is counted and the receiver moves on. */
export interface RejectedRecord {
  /** Index into the array given to exportRecords(). */
  index: number
  /** Why: the collector, its status and what it said (shared by the records of one request). Never header values. */
  reason: string
  /** The collector's HTTP status (400, 413, 422, …). */
  status: number | undefined
}

/**
 * OTLP partial success: the collector acknowledged a request but says it rejected `rejected` of its records.
 * OTLP does not say which ones, so the report can only name the request: input indexes `start` to `end` (exclusive).
 */
export interface PartialRejection {
  start: number
  end: number
  rejected: number
  message: string
}

/** What one exportRecords() call did: every record was either acknowledged (`records`) or rejected (`rejected`). */
export interface ExportReport {
  /** Records in requests the collector acknowledged with a 2xx (partial-success rejections included). */
  records: number
  /** Requests the collector acknowledged. */
  batches: number
  /** Every request sent (the exporter's retries included), by how it was answered. */
  requests: RequestCounts
  /** Request body bytes as sent (after compression); undefined when the exporter does not say (an injected one). */
  bytes: number | undefined
  /** Attributes dropped over the count limit (the records' droppedAttributesCount), summed over the acknowledged records. */
  droppedAttributes: number
  /** Records the collector rejected: `rejected.length` plus the partial-success counts. Counted, not retried. */
  rejectedRecords: number
  /** Why records were rejected: one message per rejected request and per partial-success answer that gave one. */
  rejectionMessages: string[]
  /** The records refused by a 400-class answer (or a single record still over the collector's size limit), in input order. */
  rejected: RejectedRecord[]
  /** Requests the collector refused as data (each one's records are in `rejected`). */
  rejectedBatches: number
  /** Partial-success answers: how many of which request's records the collector dropped (not which ones). */
  partialRejections: PartialRejection[]
  /** 413 answers that made the pipeline split a request in halves. Later calls plan smaller requests. */
  splits: number
  /**
   * What a collector said while taking every record (a partial success with 0 rejected and a message: OTLP's way to
   * warn), and partial successes whose count cannot be right (not counted).
   */
  warnings: string[]
}

export function emptyReport(): ExportReport {
  return {
    records: 0,
    batches: 0,
    requests: { ok: 0, rejected: 0, too_large: 0, error: 0 },
    bytes: 0,
    droppedAttributes: 0,
    rejectedRecords: 0,
    rejectionMessages: [],
    rejected: [],
    rejectedBatches: 0,
    partialRejections: [],
    splits: 0,
    warnings: [],
  }
}

/**
 * Adds a request the collector acknowledged: its records, bytes (unknown once one request's are) and dropped
 * attributes, and the records a partial success says it dropped (its message passed through `redact`).
 */
export function addAcknowledged(report: ExportReport, part: Batch, result: OtlpExportResult, droppedAttributes: number, redact: (text: string) => string): void {
  report.records += part.end - part.start
  report.batches++
  report.bytes = report.bytes === undefined || result.bytes === undefined ? undefined : report.bytes + result.bytes
  report.droppedAttributes += droppedAttributes
  const partial = result.partialSuccess
  if (!partial) return
  const message = redact(partial.errorMessage)
  const n = partial.rejectedLogRecords
  if (!(Number.isSafeInteger(n) && n >= 0)) {
    // A negative int64 reads as ~1.8e19 unsigned: no collector means that, and it would count the request rejected.
    report.warnings.push(`the collector's partial success says ${n} records were rejected, which cannot be: not counted${message ? `; it said: ${message}` : ''}`)
    return
  }
  if (n > 0) {
    const rejected = Math.min(n, part.end - part.start)
    report.rejectedRecords += rejected
    report.partialRejections.push({ start: part.start, end: part.end, rejected, message })
  } else if (message) {
    report.warnings.push(message)
  }
  if (message) report.rejectionMessages.push(message)
}

/**
 * Counts the requests one send made: `sent` of them (undefined: an exporter that does not say made one), the last
 * answered as `last`, the ones before it failed in a way the exporter retried.
 */
export function countRequests(report: ExportReport, sent: number | undefined, last: ExportRequestOutcome): void {
  const n = sent ?? 1
  if (!(n > 0)) return
  report.requests.error += n - 1
  report.requests[last]++
}

/** Adds a request the collector refused as data: each of its records is rejected, for `reason`. */
export function addRejected(report: ExportReport, part: Batch, reason: string, status: number | undefined): void {
  for (let i = part.start; i < part.end; i++) report.rejected.push({ index: i, reason, status })
  report.rejectedRecords += part.end - part.start
  report.rejectedBatches++
  report.rejectionMessages.push(reason)
}
