/**
 * The defaults other modules need to know, each written once (schema.ts and the modules' own defaults for callers that
 * pass nothing). It imports only the receiver's name, so any module may use it without pulling in the configuration code.
 */
import { NAME } from '../version.js'

/**
 * RECEIVER_EXPORT_BATCH_SIZE: records per OTLP request (each also kept under 3 MiB: Fluent Bit refuses requests over
 * 4 MB). 128 by measurement (npm run bench, 300k events): against 512, 15-20 % faster and 195 MB peak RSS instead of
 * 290 MB, as a batch's objects die young instead of reaching V8's old generation.
 */
export const DEFAULT_EXPORT_BATCH_SIZE = 128
/** RECEIVER_EXPORT_CONCURRENCY: memory while a window streams in is about batch size × (concurrency + 1) records. */
export const DEFAULT_EXPORT_CONCURRENCY = 2
/** RECEIVER_WORKERS at most: past the cores a machine has, threads only cost memory (each has its own heap). */
export const MAX_WORKERS = 64
export const DEFAULT_WINDOW_MAX_EVENTS = 200_000
export const DEFAULT_WINDOW_MAX_MB = 256
export const DEFAULT_RETRY_MAX_BACKOFF_MS = 5 * 60_000

// The OpenTelemetry specification's defaults: the OTEL_* settings are '' (unset) in the schema; otel.ts applies these.
export const DEFAULT_OTLP_HTTP_ENDPOINT = 'http://localhost:4318'
export const DEFAULT_OTLP_GRPC_ENDPOINT = 'http://localhost:4317'
/** The OTLP/HTTP logs path, appended to the general (not the _LOGS_) endpoint. */
export const OTLP_LOGS_PATH = '/v1/logs'
export const DEFAULT_OTLP_PROTOCOL = 'http/protobuf'
export const DEFAULT_OTLP_COMPRESSION = 'none'
export const DEFAULT_OTLP_TIMEOUT_MS = 10_000
export const DEFAULT_SERVICE_NAME = NAME
/** OTEL_[LOGRECORD_]ATTRIBUTE_COUNT_LIMIT, the SDK's default; the value length is unlimited by default. */
export const DEFAULT_ATTRIBUTE_COUNT_LIMIT = 128
