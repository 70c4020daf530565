import { ExportResultCode } from '@opentelemetry/core'
import type { ExportResult } from '@opentelemetry/core'
import type { LogRecordExporter, ReadableLogRecord } from '@opentelemetry/sdk-logs'
import { isEncoded } from '../mapping/types.js'
import type { ExportRecord, LogRecordParts } from '../mapping/types.js'
import { RecentNeed } from '../spare-buffers.js'
import { cutBatches } from './batches.js'
import type { Batch } from './batches.js'
import type { OtlpExporterBase, OtlpExportResult } from './otlp-exporter-base.js'
import type { EncodedRecords, OtlpProtoLogsEncoder } from './otlp-proto-encoder.js'
import { SCOPE_NAME } from './resource.js'
import type { SdkRecordFactory } from './sdk-records.js'
import { estimateRecordBytes, estimateRequestOverheadBytes } from './size.js'
import type { WireFormat } from './size.js'

/** How records become requests: our protobuf encoder, or the SDK's records and an exporter (JSON, injected exporters). */
interface Codec {
  /** Plans the requests for one exportRecords() call. */
  plan(records: readonly ExportRecord[], maxBatchBytes: number): Batch[]
  /** The request size of records [start, end) (for halves after a 413). */
  size(start: number, end: number): number
  send(batch: Batch): Promise<{ result: OtlpExportResult; droppedAttributes: number }>
  /** The call is over (its requests answered or abandoned). */
  release(): void
}

export interface CodecFactory {
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
 * OTLP/protobuf through our encoder: every record is encoded once per call, and the requests are cut from the encoded
 * bytes by their exact size. Memory: the encoded records of one exportRecords() call.
 */
export function protobufCodec(exporter: Pick<OtlpExporterBase, 'sendEncoded'>, encoder: OtlpProtoLogsEncoder, maxBatchSize: number): CodecFactory & { keptBytes(): number } {
  /**
   * Buffers of finished calls, reused by the next ones: the records (~2 KB each) and the request built from them
   * would otherwise be megabytes of fresh memory per call, which V8 frees only at its next full collection. A records
   * buffer much larger than recent calls need (a burst of big events) is let go; requests stay under maxBatchBytes.
   */
  const spare: Array<{ records?: Buffer; request?: Buffer }> = []
  const need = new RecentNeed()
  const letGoLarge = (buffers: { records?: Buffer }): void => {
    if (buffers.records !== undefined && !need.keeps(buffers.records.length)) delete buffers.records
  }
  const forCall = (): Codec => {
    const buffers = spare.pop() ?? {}
    let encoded: EncodedRecords | undefined
    const startOf = (i: number): number => (i === 0 ? 0 : encoded!.ends[i - 1]!)
    const size = (start: number, end: number): number => encoder.overheadBytes + startOf(end) - startOf(start)
    return {
      plan(records, maxBatchBytes) {
        encoded = encoder.encodeRecords(records, buffers.records)
        buffers.records = encoded.storage
        if (need.note(encoded.bytes.length)) spare.forEach(letGoLarge)
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
        letGoLarge(buffers)
        spare.push(buffers)
      },
    }
  }
  /** Bytes of the records buffers kept for later calls (tests). */
  const keptBytes = (): number => spare.reduce((n, b) => n + (b.records?.length ?? 0), 0)
  return { forCall, close: () => Promise.resolve(), keptBytes }
}

/** The SDK's records and serializers behind a LogRecordExporter: OTLP/JSON, and exporters injected by tests. */
export function sdkCodec(exporter: LogRecordExporter, factory: SdkRecordFactory, format: WireFormat, maxBatchSize: number): CodecFactory {
  // The resource and scope are the same on every request: measure them once.
  const overheadBytes = estimateRequestOverheadBytes(factory.resource.attributes, { name: SCOPE_NAME, version: factory.scopeVersion }, format)
  const forCall = (): Codec => {
    let records: readonly LogRecordParts[] = []
    return {
      plan(all, maxBatchBytes) {
        // The app runs workers only in front of the protobuf encoder (RECEIVER_WORKERS is 0 for http/json).
        if (all.some(isEncoded)) throw new TypeError('records encoded by a worker reached the SDK exporter: only OTLP/protobuf can send them')
        records = all as readonly LogRecordParts[]
        return cutBatches(all.length, (i) => estimateRecordBytes(records[i]!, format), { maxBatchSize, maxBatchBytes, overheadBytes })
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
