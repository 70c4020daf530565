import type { AnyValue, AnyValueMap } from '@opentelemetry/api-logs'
import type { LogRecordParts } from '../mapping/types.js'
import { varintSize } from './otlp-proto-encoder.js'

/**
 * Upper-bound estimates of how many bytes a record takes in an OTLP ExportLogsServiceRequest, without encoding it.
 * Protobuf: exact lengths of strings plus the largest possible tags, length prefixes and varints.
 * JSON: the JSON.stringify length of every string (escapes included) plus the fixed text around each value, with
 * numbers counted at their longest. Both only ever over-estimate, so a batch kept under the limit by the estimate
 * is under the limit on the wire (before compression).
 */
export type WireFormat = 'protobuf' | 'json'

/** A length-delimited protobuf field: tag (field numbers here are < 16: one byte) + length varint + content. */
function ld(contentBytes: number): number {
  return 1 + varintSize(contentBytes) + contentBytes
}

/** Length of JSON.stringify(s), quotes included. */
function jsonStringLength(s: string): number {
  let n = 2
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) {
      if (c === 0x22 || c === 0x5c) n += 2
      else if (c < 0x20) n += c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d ? 2 : 6
      else n += 1
    } else if (c < 0x800) {
      n += 2
    } else if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) {
        n += 4
        i++
      } else {
        n += 6 // lone surrogate: \udXXX
      }
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      n += 6
    } else {
      n += 3
    }
  }
  return n
}

/** AnyValue message content (protobuf) or object text (JSON). */
function anyValueSize(v: AnyValue, f: WireFormat): number {
  if (v === null || v === undefined) return f === 'json' ? 2 : 0
  switch (typeof v) {
    case 'string':
      // {"stringValue":…}
      return f === 'json' ? 16 + jsonStringLength(v) : ld(Buffer.byteLength(v))
    case 'boolean':
      return f === 'json' ? 19 : 2
    case 'number':
      // int_value: tag + up to 10 varint bytes; double_value: tag + 8. JSON: {"doubleValue":-1.7976931348623157e+308}
      return f === 'json' ? 40 : 11
    default:
      break
  }
  if (v instanceof Uint8Array) return f === 'json' ? 17 + Math.ceil(v.length / 3) * 4 : ld(v.length)
  if (Array.isArray(v)) {
    // {"arrayValue":{"values":[…]}}
    let n = 0
    for (const item of v) n += f === 'json' ? anyValueSize(item, f) + 1 : ld(anyValueSize(item, f))
    return f === 'json' ? 28 + n : ld(n)
  }
  // {"kvlistValue":{"values":[…]}}
  const n = keyValuesSize(v, f)
  return f === 'json' ? 29 + n : ld(n)
}

/** A repeated KeyValue field (attributes, kvlist values), separators and wrappers included. */
function keyValuesSize(map: AnyValueMap, f: WireFormat): number {
  let n = 0
  for (const key in map) {
    if (!Object.prototype.hasOwnProperty.call(map, key)) continue
    const value = map[key]
    if (f === 'json') {
      // {"key":…,"value":…},
      n += 18 + jsonStringLength(key) + anyValueSize(value, f)
    } else {
      n += ld(ld(Buffer.byteLength(key)) + ld(anyValueSize(value, f)))
    }
  }
  return n
}

/**
 * The bytes one record adds to a request. JSON fixed text: {"timeUnixNano":"…","observedTimeUnixNano":"…",
 * "severityNumber":…,"severityText":…,"body":…,"eventName":…,"attributes":[…],"droppedAttributesCount":…},
 * with every number at its longest (~200 bytes).
 */
export function estimateRecordBytes(r: LogRecordParts, f: WireFormat): number {
  if (f === 'json') {
    let n = 230 + jsonStringLength(r.severityText) + jsonStringLength(r.eventName) + keyValuesSize(r.attributes, f)
    if (r.body !== undefined) n += anyValueSize(r.body, f)
    return n
  }
  // time (9) + observed time (9) + severity (1 + 2) + dropped count (1 + 5) + flags reserve (5)
  let n = 32 + ld(Buffer.byteLength(r.severityText)) + ld(Buffer.byteLength(r.eventName)) + keyValuesSize(r.attributes, f)
  if (r.body !== undefined) n += ld(anyValueSize(r.body, f))
  return ld(n)
}

/** The bytes of a request around its records: resource, scope, wrappers (plus the outer length prefixes). */
export function estimateRequestOverheadBytes(resourceAttributes: AnyValueMap, scope: { name: string; version: string }, f: WireFormat): number {
  const attrs = keyValuesSize(resourceAttributes, f)
  if (f === 'json') {
    // {"resourceLogs":[{"resource":{"attributes":[…],"droppedAttributesCount":0},"scopeLogs":[{"scope":{"name":…,"version":…},"logRecords":[…]}]}]}
    return 256 + attrs + jsonStringLength(scope.name) + jsonStringLength(scope.version)
  }
  // The ResourceLogs and ScopeLogs length prefixes grow with the batch: reserve their largest size (5 bytes each).
  return 64 + attrs + Buffer.byteLength(scope.name) + Buffer.byteLength(scope.version)
}
