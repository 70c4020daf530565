/**
 * The defaults other modules need to know, each written once: the schema (schema.ts) takes its `default` values from
 * here, and the modules that keep a default of their own for callers that pass nothing (tests, the bench) import it
 * instead of repeating the number. No imports: any module may use it without pulling in the configuration code.
 */

const MIB = 1024 * 1024

/**
 * RECEIVER_EXPORT_BATCH_SIZE: records per OTLP request (each also kept under 3 MiB: Fluent Bit refuses requests over
 * 4 MB). 128 by measurement (npm run bench, 300k events): against 512, 15-20 % faster and 195 MB peak RSS instead of
 * 290 MB, as a batch's objects die young instead of reaching V8's old generation.
 */
export const DEFAULT_EXPORT_BATCH_SIZE = 128
/** RECEIVER_EXPORT_CONCURRENCY: memory while a window streams in is about batch size × (concurrency + 1) records. */
export const DEFAULT_EXPORT_CONCURRENCY = 2
/** RECEIVER_WINDOW_MAX_EVENTS: events in one window above which the following windows shrink. */
export const DEFAULT_WINDOW_MAX_EVENTS = 200_000
/** RECEIVER_WINDOW_MAX_MB, and the same in bytes as ReceiverConfig holds it. */
export const DEFAULT_WINDOW_MAX_MB = 256
export const DEFAULT_WINDOW_MAX_BYTES = DEFAULT_WINDOW_MAX_MB * MIB

// The OpenTelemetry specification's defaults (OTLP exporter configuration, resource and log record limits). The
// OTEL_* settings are '' (unset) in the schema and resolved in otel.ts, which applies these.
/** OTEL_EXPORTER_OTLP_ENDPOINT for http/protobuf and http/json: a base URL, to which OTLP_LOGS_PATH is appended. */
export const DEFAULT_OTLP_HTTP_ENDPOINT = 'http://localhost:4318'
/** OTEL_EXPORTER_OTLP_ENDPOINT for grpc: scheme://host:port. */
export const DEFAULT_OTLP_GRPC_ENDPOINT = 'http://localhost:4317'
/** The OTLP/HTTP logs path, appended to the general (not the _LOGS_) endpoint. */
export const OTLP_LOGS_PATH = '/v1/logs'
export const DEFAULT_OTLP_PROTOCOL = 'http/protobuf'
export const DEFAULT_OTLP_COMPRESSION = 'none'
/** OTEL_EXPORTER_OTLP_TIMEOUT, in milliseconds. */
export const DEFAULT_OTLP_TIMEOUT_MS = 10_000
/** OTEL_SERVICE_NAME when neither it nor a service.name in OTEL_RESOURCE_ATTRIBUTES is set. */
export const DEFAULT_SERVICE_NAME = 'proofpoint-siem-receiver'
/** OTEL_[LOGRECORD_]ATTRIBUTE_COUNT_LIMIT, the SDK's default; the value length is unlimited by default. */
export const DEFAULT_ATTRIBUTE_COUNT_LIMIT = 128
