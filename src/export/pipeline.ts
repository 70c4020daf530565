import { ExportResultCode } from '@opentelemetry/core'
import type { ExportResult } from '@opentelemetry/core'
import type { LogRecordExporter, LogRecordLimits, ReadableLogRecord } from '@opentelemetry/sdk-logs'
import { ExportError } from '../errors.js'
import type { MappedRecord } from '../mapping/types.js'
import { displayEndpoint, toExportError } from './errors.js'
import { OtlpHttpLogExporter } from './otlp-http-exporter.js'
import type { OtlpCompression, OtlpExportResult, OtlpHttpLogExporterOptions, OtlpProtocol } from './otlp-http-exporter.js'
import { SCOPE_NAME } from './resource.js'
import { SdkRecordFactory } from './sdk-records.js'
import { estimateRecordBytes, estimateRequestOverheadBytes } from './size.js'
import type { WireFormat } from './size.js'

/** Default records per request (the SDK's batch processor default). */
export const DEFAULT_MAX_BATCH_SIZE = 512
/** Default request size limit: Fluent Bit's opentelemetry input takes at most 4 MB per request; leave headroom. */
export const DEFAULT_MAX_BATCH_BYTES = 3 * 1024 * 1024

export interface ExportPipelineOptions {
  /** Full OTLP logs URL (…/v1/logs). */
  endpoint: string
  protocol: OtlpProtocol
  /** OTEL_EXPORTER_OTLP_HEADERS; values are never logged or put into errors. */
  headers: Record<string, string>
  compression: OtlpCompression
  /** Per batch, the exporter's own retries included. */
  timeoutMs: number
  serviceName: string
  serviceVersion: string
  resourceAttributes: Record<string, string>
  /** Records per request. Default 512. */
  maxBatchSize?: number
  /** Estimated uncompressed request size limit. Default 3 MiB. A single larger record is sent alone. */
  maxBatchBytes?: number
  /** SDK attribute limits (OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT, _VALUE_LENGTH_LIMIT): sdk-logs 0.223 does not read them. */
  logRecordLimits?: LogRecordLimits
  /** https only: extra CA / client certificate (OTEL_EXPORTER_OTLP_CERTIFICATE, …). */
  tls?: OtlpHttpLogExporterOptions['tls']
  /** Replaces the OTLP/HTTP exporter (tests). The pipeline shuts it down. */
  exporter?: LogRecordExporter
}

/** What one acknowledged exportRecords() call sent. */
export interface ExportReport {
  records: number
  batches: number
  /** Request body bytes as sent (after compression); undefined when the exporter does not say (an injected one). */
  bytes: number | undefined
  /** Attributes the SDK dropped over its count limit, summed over the records. */
  droppedAttributes: number
  /** OTLP partial success: records the collector accepted the request for but rejected; sending again will not help. */
  rejectedRecords: number
  /** The collector's partial-success messages, if any. */
  rejectionMessages: string[]
}

export interface ExportPipeline {
  /**
   * Sends every record and resolves only when the collector acknowledged all of them (a 2xx for every batch).
   * Throws ExportError otherwise, also when only a later batch failed: the caller sends the whole set again;
   * the records that had gone out arrive twice, with the same `log.record.uid`.
   */
  exportRecords(records: MappedRecord[]): Promise<ExportReport>
  /** Abandons an export in flight (it rejects with a retryable ExportError) and releases connections. Idempotent. */
  shutdown(): Promise<void>
}

/** Splits records into batches by count and by estimated encoded size; a record over the size limit goes alone. */
export function planBatches(
  records: readonly MappedRecord[],
  opts: { maxBatchSize: number; maxBatchBytes: number; overheadBytes: number; format: WireFormat },
): Array<{ records: MappedRecord[]; estimatedBytes: number }> {
  const batches: Array<{ records: MappedRecord[]; estimatedBytes: number }> = []
  let current: MappedRecord[] = []
  let bytes = opts.overheadBytes
  for (const r of records) {
    const size = estimateRecordBytes(r, opts.format)
    if (current.length > 0 && (current.length >= opts.maxBatchSize || bytes + size > opts.maxBatchBytes)) {
      batches.push({ records: current, estimatedBytes: bytes })
      current = []
      bytes = opts.overheadBytes
    }
    current.push(r)
    bytes += size
  }
  if (current.length > 0) batches.push({ records: current, estimatedBytes: bytes })
  return batches
}

function exportBatch(exporter: LogRecordExporter, batch: ReadableLogRecord[]): Promise<OtlpExportResult> {
  return new Promise((resolve) => {
    try {
      exporter.export(batch, (result: ExportResult) => resolve(result))
    } catch (err) {
      resolve({ code: ExportResultCode.FAILED, error: err instanceof Error ? err : new Error(String(err)) })
    }
  })
}

export function createExportPipeline(opts: ExportPipelineOptions): ExportPipeline {
  const maxBatchSize = opts.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE
  const maxBatchBytes = opts.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) throw new RangeError(`maxBatchSize must be a positive integer, got ${maxBatchSize}`)
  if (!(maxBatchBytes > 0)) throw new RangeError(`maxBatchBytes must be positive, got ${maxBatchBytes}`)
  const format: WireFormat = opts.protocol === 'http/json' ? 'json' : 'protobuf'

  // The exporter first: it validates the endpoint.
  const exporter: LogRecordExporter =
    opts.exporter ??
    new OtlpHttpLogExporter({
      url: opts.endpoint,
      protocol: opts.protocol,
      headers: opts.headers,
      compression: opts.compression,
      timeoutMillis: opts.timeoutMs,
      userAgent: `${SCOPE_NAME}/${opts.serviceVersion}`,
      ...(opts.tls ? { tls: opts.tls } : {}),
    })

  const factory = new SdkRecordFactory({
    serviceName: opts.serviceName,
    serviceVersion: opts.serviceVersion,
    resourceAttributes: opts.resourceAttributes,
    ...(opts.logRecordLimits ? { logRecordLimits: opts.logRecordLimits } : {}),
  })
  // The resource and scope are the same on every request: measure them once.
  const overheadBytes = estimateRequestOverheadBytes(factory.resource.attributes, { name: SCOPE_NAME, version: opts.serviceVersion }, format)
  /** Calls are queued: one batch in flight for the whole pipeline. */
  let tail: Promise<unknown> = Promise.resolve()
  let shutdownPromise: Promise<void> | undefined

  async function run(records: MappedRecord[]): Promise<ExportReport> {
    const report: ExportReport = { records: 0, batches: 0, bytes: 0, droppedAttributes: 0, rejectedRecords: 0, rejectionMessages: [] }
    if (records.length === 0) return report
    const plan = planBatches(records, { maxBatchSize, maxBatchBytes, overheadBytes, format })
    for (const [i, planned] of plan.entries()) {
      if (shutdownPromise) {
        throw new ExportError(`export to collector at ${displayEndpoint(opts.endpoint)} abandoned: the receiver is shutting down`, { retryable: true })
      }
      // SDK records are built per batch, so memory holds one batch of them, not the whole window.
      const batch = factory.toSdkRecords(planned.records)
      const result = await exportBatch(exporter, batch)
      if (result.code !== ExportResultCode.SUCCESS) {
        throw toExportError(result.error ?? new Error('the exporter reported a failure without an error'), {
          endpoint: opts.endpoint,
          timeoutMs: opts.timeoutMs,
          batch: i + 1,
          batches: plan.length,
          records: batch.length,
          bytes: result.bytes,
        })
      }
      report.records += batch.length
      report.batches++
      report.bytes = report.bytes === undefined || result.bytes === undefined ? undefined : report.bytes + result.bytes
      for (const r of batch) report.droppedAttributes += r.droppedAttributesCount
      if (result.partialSuccess) {
        report.rejectedRecords += result.partialSuccess.rejectedLogRecords
        if (result.partialSuccess.errorMessage) report.rejectionMessages.push(result.partialSuccess.errorMessage)
      }
    }
    return report
  }

  return {
    exportRecords(records: MappedRecord[]): Promise<ExportReport> {
      if (shutdownPromise) {
        return Promise.reject(
          new ExportError(`export to collector at ${displayEndpoint(opts.endpoint)} refused: the pipeline is shut down`, { retryable: false }),
        )
      }
      const next = tail.then(() => run(records))
      tail = next.catch(() => undefined)
      return next
    },
    shutdown(): Promise<void> {
      shutdownPromise ??= (async () => {
        await exporter.shutdown()
        await tail
        await factory.shutdown()
      })()
      return shutdownPromise
    },
  }
}
