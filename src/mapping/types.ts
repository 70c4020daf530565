import type { AnyValue, AnyValueMap } from '@opentelemetry/api-logs'
import type { EventType } from '../siem/types.js'
import type { AttributeList } from './attribute-list.js'

/** [seconds, nanoseconds] as the OpenTelemetry SDK's HrTime. */
export type HrTime = [number, number]

/**
 * `timeUnixNano` 0 means "unknown" in OTLP. The SDK replaces a missing timestamp with Date.now(), which would
 * claim the event happened when we read it; an explicit [0, 0] goes through the SDK untouched and is encoded as 0.
 * (Here, not in sdk-records.ts: the encoder, also loaded by worker threads, must not pull the SDK in with it.)
 */
export const UNSET_TIME: HrTime = [0, 0]

export type AttributeShape = 'flat' | 'nested'
export type BodyMode = 'json' | 'map' | 'none'

export interface MappingOptions {
  attributeShape: AttributeShape
  body: BodyMode
  /** `related.*` indicator attributes (RECEIVER_INDICATORS); default false here, true in the receiver's config. */
  indicators?: boolean
  /** `email.*`, `url.*` and other standard attributes (RECEIVER_STANDARD_FIELDS); default false here, true in config. */
  standardFields?: boolean
  /**
   * Attribute string values longer than this many UTF-16 code units are cut (never inside a surrogate pair) and
   * counted in `MappedRecord.truncated`. Pass the SDK's `logRecordLimits.attributeValueLengthLimit`
   * (OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT, else OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT); undefined: no limit.
   * The body is never cut.
   */
  attributeValueLengthLimit?: number
}

/** Why an event is counted as malformed; it is still exported. */
export type MalformedReason = string

/** The parts of one OpenTelemetry log record, as the export pipeline takes them. Pure data, no SDK objects. */
export interface LogRecordParts {
  /** `proofpoint.message.delivered`, ..., or the receiver's own `proofpoint.receiver.*` events. */
  eventName: string
  /** log.record.uid: hex SHA-256 of the event's canonical JSON, prefixed with the event type. */
  uid: string
  /** Event time (messageTime/clickTime); undefined when absent or unparseable. */
  timestamp?: HrTime
  observedTimestamp: HrTime
  severityNumber: number
  severityText: string
  attributes: AnyValueMap
  body?: AnyValue
}

/** One SIEM event mapped to the parts of one OpenTelemetry log record. */
export interface MappedRecord extends LogRecordParts {
  eventType: EventType
  /** Empty when the event is well-formed. */
  malformed: MalformedReason[]
  /** How many attribute string values were cut to `attributeValueLengthLimit`; absent when none. */
  truncated?: number
}

/** A MappedRecord whose attributes may be the list the mapper built (what the protobuf encoder reads fastest). */
export type ListedRecord = Omit<MappedRecord, 'attributes'> & { attributes: AnyValueMap | AttributeList }

/**
 * A record a worker thread already encoded (RECEIVER_WORKERS): its `log_records` field of a ScopeLogs message, byte for
 * byte what OtlpProtoLogsEncoder writes for its parts. Only the protobuf encoder takes it (the SDK's JSON path cannot).
 */
export interface EncodedRecord {
  uid: string
  eventType: EventType
  encoded: Uint8Array
  /** Attributes the count limit left out (its droppedAttributesCount, already written into `encoded`). */
  droppedAttributes: number
  /** The batch `encoded` lies in: released (its buffer reused) once its last record was answered. */
  lease?: { left: number; release(): void }
  malformed: MalformedReason[]
  truncated?: number
}

/** What the export pipeline takes: a record's parts, or (from a worker) its encoded bytes. */
export type ExportRecord = LogRecordParts | EncodedRecord

export function isEncoded<R extends object>(r: R | EncodedRecord): r is EncodedRecord {
  return (r as Partial<EncodedRecord>).encoded !== undefined
}
