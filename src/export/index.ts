/** The export module as the rest of the receiver uses it. */
export { createExportPipeline } from './pipeline.js'
export type { ExportPipeline, ExportPipelineOptions } from './pipeline.js'
export { OtlpHttpLogExporter } from './otlp-http-exporter.js'
export { OtlpGrpcLogExporter } from './otlp-grpc-exporter.js'
export type { OtlpExporterBase, OtlpExportResult } from './otlp-exporter-base.js'
export { classifyFailure } from './failure.js'
export { displayEndpoint, toExportError } from './failure-message.js'
export { toOtlpJson } from './otlp-json.js'
