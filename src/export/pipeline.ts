import { ExportResultCode } from '@opentelemetry/core'
import type { LogRecordExporter, LogRecordLimits } from '@opentelemetry/sdk-logs'
import { DEFAULT_EXPORT_BATCH_SIZE, DEFAULT_EXPORT_CONCURRENCY } from '../config/defaults.js'
import { ExportError } from '../errors.js'
import type { ExportRecord } from '../mapping/types.js'
import { otlpRedactor } from '../redact.js'
import { DEFAULT_MAX_BATCH_BYTES } from './batches.js'
import type { Batch } from './batches.js'
import { protobufCodec, sdkCodec } from './codecs.js'
import type { CodecFactory } from './codecs.js'
import { classifyFailure, failureStatus } from './failure.js'
import { displayEndpoint, rejectionReason, toExportError } from './failure-message.js'
import { OtlpExporterBase } from './otlp-exporter-base.js'
import type { OtlpCompression, OtlpExporterBaseOptions, OtlpProtocol } from './otlp-exporter-base.js'
import { OtlpGrpcLogExporter } from './otlp-grpc-exporter.js'
import { OtlpHttpLogExporter } from './otlp-http-exporter.js'
import { OtlpProtoLogsEncoder } from './otlp-proto-encoder.js'
import { addAcknowledged, addRejected, countRequests, emptyReport } from './report.js'
import type { ExportReport } from './report.js'
import { buildResource, SCOPE_NAME } from './resource.js'
import { SdkRecordFactory } from './sdk-records.js'
import type { WireFormat } from './size.js'

export interface ExportPipelineOptions {
  /** Full OTLP logs URL (…/v1/logs); for gRPC scheme://host:port. */
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
  /** Records per request. Default 128. */
  maxBatchSize?: number
  /** Default: RECEIVER_EXPORT_CONCURRENCY's. More overlaps the network with the caller's parsing and mapping. */
  maxConcurrency?: number
  /** Estimated uncompressed request size limit. Default 3 MiB. A single larger record is sent alone; a 413 lowers it. */
  maxBatchBytes?: number
  /** OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT, _VALUE_LENGTH_LIMIT, applied as the SDK applies them (by our encoder for protobuf). */
  logRecordLimits?: LogRecordLimits
  /** https only: the CA and client certificate (OTEL_EXPORTER_OTLP_CERTIFICATE, …). */
  tls?: OtlpExporterBaseOptions['tls']
  /** Forward proxy URL (HTTPS_PROXY/HTTP_PROXY unless NO_PROXY); its credentials are redacted from every message. */
  proxy?: string
  /** Where grpc-js's own log lines go (gRPC only). */
  grpcLog?: (message: string) => void
  /** Replaces the OTLP exporter (tests). The pipeline shuts it down; records encoded by workers then cannot be sent. */
  exporter?: LogRecordExporter
  /** Other secrets never to be quoted from a collector's answer (siemSecretSource in src/redact.ts). */
  otherSecrets?: () => Iterable<string>
}

export interface ExportPipeline {
  /**
   * Sends every record, one request at a time, and resolves once each request was answered for good: acknowledged
   * (2xx), or refused as data (400 and other such 4xx: its records are listed in `rejected`, and the next requests
   * go on). A 413 splits the request in halves, down to single records; a single record still too large is rejected.
   *
   * Throws ExportError when the collector is unreachable, slow, throttling or failing (`retryable: true`, with the
   * collector's `retryAfterMs` when it gave one), or when the endpoint, credentials or protocol are wrong (401, 403,
   * 404, 415…: `retryable: false`, the records are not at fault). Then none of the records may be treated as
   * delivered: the caller sends the whole set again; the records that had gone out arrive twice, with the same
   * `log.record.uid`.
   */
  exportRecords(records: ExportRecord[]): Promise<ExportReport>
  /** exportRecords() calls that run at once (RECEIVER_EXPORT_CONCURRENCY); more wait their turn. */
  readonly maxConcurrency: number
  /** Abandons an export in flight (it rejects with a retryable ExportError) and releases connections. Idempotent. */
  shutdown(): Promise<void>
}

/** A collector's refusal of a request's records as data (400, gRPC INVALID_ARGUMENT, a single record too large). */
interface Refusal {
  reason: string
  status: number | undefined
}

export function createExportPipeline(opts: ExportPipelineOptions): ExportPipeline {
  const maxBatchSize = opts.maxBatchSize ?? DEFAULT_EXPORT_BATCH_SIZE
  const maxBatchBytes = opts.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) throw new RangeError(`maxBatchSize must be a positive integer, got ${maxBatchSize}`)
  if (!(maxBatchBytes > 0)) throw new RangeError(`maxBatchBytes must be positive, got ${maxBatchBytes}`)
  const format: WireFormat = opts.protocol === 'http/json' ? 'json' : 'protobuf'
  const where = `collector at ${displayEndpoint(opts.endpoint)}`

  // The exporter first: it validates the endpoint.
  const transport = {
    url: opts.endpoint,
    headers: opts.headers,
    compression: opts.compression,
    timeoutMillis: opts.timeoutMs,
    userAgent: `${SCOPE_NAME}/${opts.serviceVersion}`,
    ...(opts.tls ? { tls: opts.tls } : {}),
    ...(opts.proxy ? { proxy: opts.proxy } : {}),
    ...(opts.otherSecrets ? { otherSecrets: opts.otherSecrets } : {}),
  }
  const exporter: LogRecordExporter =
    opts.exporter ??
    (opts.protocol === 'grpc'
      ? new OtlpGrpcLogExporter({ ...transport, ...(opts.grpcLog ? { log: opts.grpcLog } : {}) })
      : new OtlpHttpLogExporter({ ...transport, protocol: opts.protocol }))
  // Whatever the exporter (ours or an injected one) reports is quoted through this.
  const redactor = otlpRedactor(opts.endpoint, opts.headers)
  if (opts.proxy) redactor.addUrl(opts.proxy)
  if (opts.otherSecrets) redactor.addSource(opts.otherSecrets)
  const redact = (text: string): string => redactor.redact(text)
  const resourceOpts = { serviceName: opts.serviceName, serviceVersion: opts.serviceVersion, resourceAttributes: opts.resourceAttributes }
  const codecs: CodecFactory =
    exporter instanceof OtlpExporterBase && format === 'protobuf'
      ? protobufCodec(
          exporter,
          new OtlpProtoLogsEncoder({
            resourceAttributes: buildResource(resourceOpts).attributes,
            scope: { name: SCOPE_NAME, version: opts.serviceVersion },
            ...opts.logRecordLimits,
          }),
          maxBatchSize,
        )
      : sdkCodec(exporter, new SdkRecordFactory({ ...resourceOpts, logRecordLimits: opts.logRecordLimits }), format, maxBatchSize)
  const maxConcurrency = opts.maxConcurrency ?? DEFAULT_EXPORT_CONCURRENCY
  if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) throw new RangeError(`maxConcurrency must be a positive integer, got ${maxConcurrency}`)
  let active = 0
  const queued: Array<() => void> = []
  const running = new Set<Promise<unknown>>()
  const acquire = async (): Promise<void> => {
    if (active < maxConcurrency) {
      active++
      return
    }
    await new Promise<void>((resolve) => queued.push(resolve)) // the releasing call hands its slot over
  }
  const release = (): void => {
    const next = queued.shift()
    if (next) next()
    else active--
  }
  let shutdownPromise: Promise<void> | undefined
  /** Lowered after a 413 so later calls do not run into the collector's limit again; never raised (that limit is fixed). */
  let plannedMaxBatchBytes = maxBatchBytes

  async function run(records: ExportRecord[]): Promise<ExportReport> {
    const report = emptyReport()
    if (records.length === 0) return report
    const codec = codecs.forCall()
    const plan = codec.plan(records, plannedMaxBatchBytes)

    const halves = (part: Batch): [Batch, Batch] => {
      const middle = part.start + Math.ceil((part.end - part.start) / 2)
      return [
        { start: part.start, end: middle, bytes: codec.size(part.start, middle) },
        { start: middle, end: part.end, bytes: codec.size(middle, part.end) },
      ]
    }

    /**
     * Sends records[start, end) as one request (after a 413, each half on its own, see send). Resolves with the
     * collector's refusal of the records as data, not recorded yet; undefined once they are acknowledged and recorded.
     */
    const attempt = async (part: Batch, batch: number): Promise<Refusal | undefined> => {
      if (shutdownPromise) throw new ExportError('PSR_ERR_EXPORT_FAILED', `export to ${where} abandoned: the receiver is shutting down`)
      const count = part.end - part.start
      const { result, droppedAttributes } = await codec.send(part)
      if (result.code === ExportResultCode.SUCCESS) {
        countRequests(report, result.requests, 'ok')
        addAcknowledged(report, part, result, droppedAttributes, redact)
        return undefined
      }
      const error = result.error ?? new Error('the exporter reported a failure without an error')
      const ctx = { endpoint: opts.endpoint, timeoutMs: opts.timeoutMs, batch, batches: plan.length, records: count, bytes: result.bytes, redact }
      const kind = classifyFailure(error)
      const tooLarge = kind === 'too-large' && count > 1
      countRequests(report, result.requests, tooLarge ? 'too_large' : kind === 'too-large' || kind === 'rejected' ? 'rejected' : 'error')
      if (tooLarge) {
        report.splits++
        plannedMaxBatchBytes = Math.max(1, Math.min(plannedMaxBatchBytes, Math.floor(part.bytes / 2)))
        for (const half of halves(part)) await send(half, batch)
        return undefined
      }
      if (kind === 'too-large' || kind === 'rejected') return { reason: rejectionReason(error, ctx), status: failureStatus(error) }
      throw toExportError(error, ctx)
    }

    /**
     * Records a refusal of `part`. A collector refuses a whole request (400, gRPC INVALID_ARGUMENT) for one record it
     * cannot take (a number its JSON reader overflows on, say): the halves are sent again, and the half refused again
     * narrowed down the same way, so the others still arrive. When both halves are refused, the collector refuses
     * them all (or several records, spread): they are counted as refused, not split further (at most 2 more requests
     * per level, so a collector refusing everything costs a few requests, not one per record).
     */
    const narrow = async (part: Batch, refusal: Refusal, batch: number): Promise<void> => {
      if (part.end - part.start === 1) return addRejected(report, part, refusal.reason, refusal.status)
      const [a, b] = halves(part)
      const refusedA = await attempt(a, batch)
      const refusedB = await attempt(b, batch)
      if (refusedA !== undefined && refusedB !== undefined) {
        addRejected(report, a, refusedA.reason, refusedA.status)
        addRejected(report, b, refusedB.reason, refusedB.status)
        return
      }
      if (refusedA !== undefined) await narrow(a, refusedA, batch)
      if (refusedB !== undefined) await narrow(b, refusedB, batch)
    }

    const send = async (part: Batch, batch: number): Promise<void> => {
      const refusal = await attempt(part, batch)
      if (refusal !== undefined) await narrow(part, refusal, batch)
    }

    try {
      for (const [i, planned] of plan.entries()) await send(planned, i + 1)
    } catch (err) {
      // The requests before the failure were sent and answered all the same (some acknowledged): /metrics counts them.
      if (err instanceof ExportError) err.sent = { requests: report.requests, bytes: report.bytes }
      throw err
    } finally {
      codec.release()
    }
    return report
  }

  return {
    maxConcurrency,
    exportRecords(records: ExportRecord[]): Promise<ExportReport> {
      if (shutdownPromise) {
        const refused = new ExportError('PSR_ERR_EXPORT_SHUT_DOWN', `export to ${where} refused: the pipeline is shut down`)
        refused.sent = { requests: {}, bytes: 0 }
        return Promise.reject(refused)
      }
      const next = (async () => {
        await acquire()
        try {
          return await run(records)
        } finally {
          release()
        }
      })()
      const settled = next.catch(() => undefined)
      running.add(settled)
      void settled.then(() => running.delete(settled))
      return next
    },
    shutdown(): Promise<void> {
      shutdownPromise ??= (async () => {
        await exporter.shutdown()
        await Promise.all(running)
        await codecs.close()
      })()
      return shutdownPromise
    },
  }
}
