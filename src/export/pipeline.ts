import { ExportResultCode } from '@opentelemetry/core'
import type { ExportResult } from '@opentelemetry/core'
import type { LogRecordExporter, LogRecordLimits, ReadableLogRecord } from '@opentelemetry/sdk-logs'
import { ExportError } from '../errors.js'
import type { LogRecordParts } from '../mapping/types.js'
import { classifyFailure, displayEndpoint, failureStatus, rejectionReason, toExportError } from './errors.js'
import { OtlpHttpLogExporter } from './otlp-http-exporter.js'
import type { OtlpHttpLogExporterOptions } from './otlp-http-exporter.js'
import { OtlpGrpcLogExporter } from './otlp-grpc-exporter.js'
import { OtlpExporterBase } from './otlp-exporter-base.js'
import type { OtlpCompression, OtlpExportResult, OtlpProtocol } from './otlp-exporter-base.js'
import { SdkRecordFactory } from './sdk-records.js'
import { OtlpProtoLogsEncoder } from './otlp-proto-encoder.js'
import type { EncodedRecords } from './otlp-proto-encoder.js'
import { buildResource, SCOPE_NAME } from './resource.js'
import { otlpRedactor } from '../redact.js'
import { estimateRecordBytes, estimateRequestOverheadBytes } from './size.js'
import type { WireFormat } from './size.js'

/** Default records per request: RECEIVER_EXPORT_BATCH_SIZE's default, chosen with `npm run bench` (see the config schema). */
export const DEFAULT_MAX_BATCH_SIZE = 128
/** Default request size limit: Fluent Bit's opentelemetry input takes at most 4 MB per request; leave headroom. */
export const DEFAULT_MAX_BATCH_BYTES = 3 * 1024 * 1024

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
  /**
   * exportRecords() calls whose requests may be in flight at once (default 1). More overlaps the network with the
   * caller's parsing and mapping; the caller still learns the outcome of each call.
   */
  maxConcurrency?: number
  /**
   * Estimated uncompressed request size limit. Default 3 MiB. A single larger record is sent alone. After a 413 the
   * pipeline lowers it for its later calls (to half the estimate of the request that was too large).
   */
  maxBatchBytes?: number
  /**
   * Attribute limits (OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT, _VALUE_LENGTH_LIMIT), applied as the SDK applies them (by
   * our encoder on the protobuf path): sdk-logs 0.223 does not read them from the environment itself.
   */
  logRecordLimits?: LogRecordLimits
  /** https only: extra CA / client certificate (OTEL_EXPORTER_OTLP_CERTIFICATE, …). */
  tls?: OtlpHttpLogExporterOptions['tls']
  /** Forward proxy URL (HTTPS_PROXY/HTTP_PROXY unless NO_PROXY); its credentials are redacted from every message. */
  proxy?: string
  /** Where grpc-js's own log lines go (gRPC only). */
  grpcLog?: (message: string) => void
  /** Replaces the OTLP exporter (tests). The pipeline shuts it down. */
  exporter?: LogRecordExporter
  /**
   * Other secrets never to be quoted from a collector's answer (the SIEM API secret and its Basic token; see
   * siemSecretSource in src/redact.ts). Header values and the endpoint's credentials are redacted anyway.
   */
  otherSecrets?: () => Iterable<string>
}

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
  /** Request body bytes as sent (after compression); undefined when the exporter does not say (an injected one). */
  bytes: number | undefined
  /** Attributes dropped over the count limit (the records' droppedAttributesCount), summed over the acknowledged records. */
  droppedAttributes: number
  /**
   * Records the collector rejected: `rejected.length` plus the partial-success counts (`partialRejections`). Either
   * way sending them again will not help; they are not delivered and must be counted, not retried.
   */
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
  exportRecords(records: LogRecordParts[]): Promise<ExportReport>
  /** Abandons an export in flight (it rejects with a retryable ExportError) and releases connections. Idempotent. */
  shutdown(): Promise<void>
}

/** Splits records into batches by count and by estimated encoded size; a record over the size limit goes alone. */
export function planBatches(
  records: readonly LogRecordParts[],
  opts: { maxBatchSize: number; maxBatchBytes: number; overheadBytes: number; format: WireFormat },
): Array<{ records: LogRecordParts[]; estimatedBytes: number }> {
  return cutBatches(records.length, (i) => estimateRecordBytes(records[i]!, opts.format), opts).map(({ start, end, bytes }) => ({
    records: records.slice(start, end),
    estimatedBytes: bytes,
  }))
}

/** Cuts n records (sizes by index) into runs of at most maxBatchSize records and maxBatchBytes (a larger record goes alone). */
function cutBatches(
  n: number,
  sizeOf: (i: number) => number,
  opts: { maxBatchSize: number; maxBatchBytes: number; overheadBytes: number },
): Array<{ start: number; end: number; bytes: number }> {
  const runs: Array<{ start: number; end: number; bytes: number }> = []
  let start = 0
  let bytes = opts.overheadBytes
  for (let i = 0; i < n; i++) {
    const size = sizeOf(i)
    const count = i - start
    if (count > 0 && (count >= opts.maxBatchSize || bytes + size > opts.maxBatchBytes)) {
      runs.push({ start, end: i, bytes })
      start = i
      bytes = opts.overheadBytes
    }
    bytes += size
  }
  if (n > start) runs.push({ start, end: n, bytes })
  return runs
}

/** One planned request: records [start, end) of the exportRecords() call. */
interface Batch {
  start: number
  end: number
  /** Exact (protobuf) or estimated (SDK path) request size, before compression. */
  bytes: number
}

/** How records become requests: our protobuf encoder, or the SDK's records and an exporter (JSON, injected exporters). */
interface Codec {
  /** Plans the requests for one exportRecords() call. */
  plan(records: readonly LogRecordParts[], maxBatchBytes: number): Batch[]
  /** The request size of records [start, end) (for halves after a 413). */
  size(start: number, end: number): number
  send(batch: Batch): Promise<{ result: OtlpExportResult; droppedAttributes: number }>
  /** The call is over (its requests answered or abandoned). */
  release(): void
}

interface CodecFactory {
  /** A codec for one exportRecords() call (calls may run concurrently). */
  forCall(): Codec
  /** Releases what the codec holds, once no call runs any more (the pipeline shuts the exporter down first). */
  close(): Promise<void>
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

/**
 * OTLP/protobuf through our encoder (byte for byte the SDK's encoding, several times faster): every record is encoded
 * once per call, and the requests are cut from the encoded bytes by their exact size. Memory: the encoded records of
 * one exportRecords() call (the poller calls with RECEIVER_EXPORT_BATCH_SIZE records).
 */
function protobufCodec(exporter: OtlpExporterBase, encoder: OtlpProtoLogsEncoder, maxBatchSize: number): CodecFactory {
  /**
   * Buffers of finished calls, reused by the next ones: the records (~2 KB each) and the request built from them
   * would otherwise be megabytes of fresh memory per call, which V8 frees only at its next full collection.
   */
  const spare: Array<{ records?: Buffer; request?: Buffer }> = []
  const forCall = (): Codec => {
    const buffers = spare.pop() ?? {}
    let encoded: EncodedRecords | undefined
    const startOf = (i: number): number => (i === 0 ? 0 : encoded!.ends[i - 1]!)
    const size = (start: number, end: number): number => encoder.overheadBytes + startOf(end) - startOf(start)
    return {
      plan(records, maxBatchBytes) {
        encoded = encoder.encodeRecords(records, buffers.records)
        buffers.records = encoded.storage
        return cutBatches(records.length, (i) => startOf(i + 1) - startOf(i), { maxBatchSize, maxBatchBytes, overheadBytes: encoder.overheadBytes })
      },
      size,
      async send(batch) {
        const { bytes, droppedAttributes } = encoded!
        // A call sends its requests one after the other, and the exporter is done with a body once it answered.
        const { body, storage } = encoder.request(bytes.subarray(startOf(batch.start), startOf(batch.end)), buffers.request)
        buffers.request = storage
        const result = await exporter.sendEncoded(body)
        let dropped = 0
        for (let i = batch.start; i < batch.end; i++) dropped += droppedAttributes[i]!
        return { result, droppedAttributes: dropped }
      },
      release() {
        encoded = undefined
        spare.push(buffers)
      },
    }
  }
  return { forCall, close: () => Promise.resolve() }
}

/** The SDK's records and serializers behind a LogRecordExporter: OTLP/JSON, and exporters injected by tests. */
function sdkCodec(exporter: LogRecordExporter, factory: SdkRecordFactory, format: WireFormat, maxBatchSize: number): CodecFactory {
  // The resource and scope are the same on every request: measure them once.
  const overheadBytes = estimateRequestOverheadBytes(factory.resource.attributes, { name: SCOPE_NAME, version: factory.scopeVersion }, format)
  const forCall = (): Codec => {
    let records: readonly LogRecordParts[] = []
    return {
      plan(all, maxBatchBytes) {
        records = all
        return cutBatches(all.length, (i) => estimateRecordBytes(all[i]!, format), { maxBatchSize, maxBatchBytes, overheadBytes })
      },
      size(start, end) {
        let n = overheadBytes
        for (let i = start; i < end; i++) n += estimateRecordBytes(records[i]!, format)
        return n
      },
      async send(batch) {
        // SDK records are built per request, so memory holds one batch of them, not the whole call.
        const sdkRecords = factory.toSdkRecords(records.slice(batch.start, batch.end))
        const result = await exportBatch(exporter, sdkRecords)
        let dropped = 0
        for (const r of sdkRecords) dropped += r.droppedAttributesCount
        return { result, droppedAttributes: dropped }
      },
      release() {
        records = []
      },
    }
  }
  return { forCall, close: () => factory.shutdown() }
}

export function createExportPipeline(opts: ExportPipelineOptions): ExportPipeline {
  const maxBatchSize = opts.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE
  const maxBatchBytes = opts.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) throw new RangeError(`maxBatchSize must be a positive integer, got ${maxBatchSize}`)
  if (!(maxBatchBytes > 0)) throw new RangeError(`maxBatchBytes must be positive, got ${maxBatchBytes}`)
  const format: WireFormat = opts.protocol === 'http/json' ? 'json' : 'protobuf'

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
      : sdkCodec(
          exporter,
          new SdkRecordFactory({ ...resourceOpts, ...(opts.logRecordLimits ? { logRecordLimits: opts.logRecordLimits } : {}) }),
          format,
          maxBatchSize,
        )
  /** At most maxConcurrency calls run at once; the others queue in order. */
  const maxConcurrency = opts.maxConcurrency ?? 1
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
  /**
   * The request size limit in use: lowered after a 413 to half the estimate of the request that was too large, so
   * later calls do not run into the collector's limit again. It never grows back (the collector's limit is fixed).
   */
  let plannedMaxBatchBytes = maxBatchBytes

  async function run(records: LogRecordParts[]): Promise<ExportReport> {
    const report: ExportReport = {
      records: 0,
      batches: 0,
      bytes: 0,
      droppedAttributes: 0,
      rejectedRecords: 0,
      rejectionMessages: [],
      rejected: [],
      rejectedBatches: 0,
      partialRejections: [],
      splits: 0,
    }
    if (records.length === 0) return report
    const codec = codecs.forCall()
    const plan = codec.plan(records, plannedMaxBatchBytes)

    /** Sends records[start, end) as one request; after a 413, each half on its own. */
    const send = async (part: Batch, batch: number): Promise<void> => {
      if (shutdownPromise) {
        throw new ExportError(`export to collector at ${displayEndpoint(opts.endpoint)} abandoned: the receiver is shutting down`, { retryable: true })
      }
      const count = part.end - part.start
      const { result, droppedAttributes } = await codec.send(part)
      if (result.code === ExportResultCode.SUCCESS) {
        report.records += count
        report.batches++
        report.bytes = report.bytes === undefined || result.bytes === undefined ? undefined : report.bytes + result.bytes
        report.droppedAttributes += droppedAttributes
        const partial = result.partialSuccess
        if (partial) {
          const message = redact(partial.errorMessage)
          if (partial.rejectedLogRecords > 0) {
            report.rejectedRecords += partial.rejectedLogRecords
            report.partialRejections.push({ start: part.start, end: part.end, rejected: partial.rejectedLogRecords, message })
          }
          if (message) report.rejectionMessages.push(message)
        }
        return
      }
      const error = result.error ?? new Error('the exporter reported a failure without an error')
      const ctx = { endpoint: opts.endpoint, timeoutMs: opts.timeoutMs, batch, batches: plan.length, records: count, bytes: result.bytes, redact }
      const kind = classifyFailure(error)
      if (kind === 'too-large' && count > 1) {
        report.splits++
        plannedMaxBatchBytes = Math.max(1, Math.min(plannedMaxBatchBytes, Math.floor(part.bytes / 2)))
        const middle = part.start + Math.ceil(count / 2)
        await send({ start: part.start, end: middle, bytes: codec.size(part.start, middle) }, batch)
        await send({ start: middle, end: part.end, bytes: codec.size(middle, part.end) }, batch)
        return
      }
      if (kind === 'too-large' || kind === 'rejected') {
        const reason = rejectionReason(error, ctx)
        const status = failureStatus(error)
        for (let i = part.start; i < part.end; i++) report.rejected.push({ index: i, reason, status })
        report.rejectedRecords += count
        report.rejectedBatches++
        report.rejectionMessages.push(reason)
        return
      }
      throw toExportError(error, ctx)
    }

    try {
      for (const [i, planned] of plan.entries()) await send(planned, i + 1)
    } finally {
      codec.release()
    }
    return report
  }

  return {
    exportRecords(records: LogRecordParts[]): Promise<ExportReport> {
      if (shutdownPromise) {
        return Promise.reject(
          new ExportError(`export to collector at ${displayEndpoint(opts.endpoint)} refused: the pipeline is shut down`, { retryable: false }),
        )
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
