import { JsonLogsSerializer } from '@opentelemetry/otlp-transformer'
import type { LogRecordParts } from '../mapping/types.js'
import type { ResourceOptions } from './resource.js'
import { SdkRecordFactory } from './sdk-records.js'

export interface OtlpJsonOptions {
  /** JSON.stringify indentation; compact when omitted. */
  space?: number
}

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

/**
 * The OTLP/JSON ExportLogsServiceRequest for the records, exactly as the exporter would build them (same SDK
 * records, same resource and scope), with the OTLP JSON encoding: lowerCamelCase names, enums as integers,
 * 64-bit integers (timestamps, intValue) as decimal strings. No network. Backs the `map FILE` command.
 */
export function toOtlpJson(records: readonly LogRecordParts[], resourceOpts: ResourceOptions, opts: OtlpJsonOptions = {}): string {
  const factory = new SdkRecordFactory(resourceOpts)
  try {
    const bytes = JsonLogsSerializer.serializeRequest(factory.toSdkRecords(records))
    const json = bytes === undefined ? '{"resourceLogs":[]}' : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
    // The SDK's JSON serializer writes intValue as a JSON number; the OTLP JSON mapping of int64 is a string.
    const request: unknown = JSON.parse(json, (_key: string, value: unknown) => {
      if (typeof value === 'object' && value !== null && 'intValue' in value && typeof value.intValue === 'number') {
        const n = value.intValue
        // Integers beyond int64 (the protobuf serializer sends them as doubles too) become doubleValue.
        if (!Number.isInteger(n) || BigInt(n) < INT64_MIN || BigInt(n) > INT64_MAX) return { doubleValue: n }
        return { intValue: BigInt(n).toString() }
      }
      return value
    })
    return JSON.stringify(request, null, opts.space)
  } finally {
    void factory.shutdown()
  }
}
