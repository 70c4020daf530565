export { createExportPipeline, planBatches, DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_BATCH_SIZE } from './pipeline.js'
export type { ExportPipeline, ExportPipelineOptions, ExportReport, PartialRejection, RejectedRecord } from './pipeline.js'
export { OtlpHttpLogExporter, OtlpExportFailure, isRetryableStatus, parseRetryAfter } from './otlp-http-exporter.js'
export type {
  OtlpCompression,
  OtlpExportResult,
  OtlpFailureReason,
  OtlpHttpLogExporterOptions,
  OtlpProtocol,
} from './otlp-http-exporter.js'
export { toOtlpJson } from './otlp-json.js'
export type { OtlpJsonOptions } from './otlp-json.js'
export { buildResource, PROCESS_INSTANCE_ID, SCOPE_NAME } from './resource.js'
export type { ResourceOptions } from './resource.js'
export { SdkRecordFactory } from './sdk-records.js'
export { OtlpProtoLogsEncoder } from './otlp-proto-encoder.js'
export type { EncodedRecords, ProtoEncoderOptions } from './otlp-proto-encoder.js'
export type { RecordFactoryOptions } from './sdk-records.js'
export { CollectingLogRecordProcessor } from './collecting-processor.js'
export { classifyFailure, displayEndpoint, failureStatus, rejectionReason, toExportError } from './errors.js'
export type { ExportFailureContext, FailureKind } from './errors.js'
export { estimateRecordBytes, estimateRequestOverheadBytes } from './size.js'
export type { WireFormat } from './size.js'
