import type { AnyValueMap } from '@opentelemetry/api-logs'
import { AttributeList } from '../mapping/attribute-list.js'
import { isEncoded, UNSET_TIME } from '../mapping/types.js'
import type { ExportRecord, HrTime, LogRecordParts } from '../mapping/types.js'

/**
 * What the encoder writes a record from: the parts, the attributes also as the mapper's list. `bodyUtf8`: the body
 * string's UTF-8 when the caller holds it already (a worker thread: the API's own bytes, checked to be valid UTF-8, so
 * exactly what encoding the string gives), copied instead of encoded again.
 */
export type EncodableRecord = Omit<LogRecordParts, 'attributes'> & { attributes: AnyValueMap | AttributeList; bodyUtf8?: Uint8Array }
import { DEFAULT_ATTRIBUTE_COUNT_LIMIT } from '../config/defaults.js'

/**
 * OTLP/protobuf encoding of LogRecordParts, byte for byte what the SDK's LoggerProvider + ProtobufLogsSerializer
 * produce for the same records (a test compares the two on fuzzed records), at a fraction of the cost: the SDK's was
 * 28–54 % of the receiver's CPU at 100k events per window (an SDK LogRecord per event, every string measured twice in
 * JavaScript). Here strings go through Buffer#write (native UTF-8), and each record is encoded once, its exact size
 * planning the requests.
 *
 * The SDK's log record rules are kept: attributes with an empty key or a value that is not an AnyValue are left out
 * (not counted); new keys beyond `attributeCountLimit` are left out and counted in `droppedAttributesCount`; string
 * values (also inside arrays and maps) longer than `attributeValueLengthLimit` are cut to it; a missing severity
 * number, an empty severity text and an empty event name are omitted; a body value that is not an AnyValue is written
 * as an empty AnyValue.
 */

interface ProtoEncoderOptions {
  resourceAttributes: AnyValueMap
  scope: { name: string; version: string }
  /** The SDK's defaults: 128 attributes, no length limit. */
  attributeCountLimit?: number
  attributeValueLengthLimit?: number
}

/** Records encoded one after another as `log_records` fields of a ScopeLogs message, ready to be cut into requests. */
export interface EncodedRecords {
  /** The encoded fields, back to back. */
  bytes: Buffer
  /** Record i is bytes[ends[i - 1] ?? 0, ends[i]). */
  ends: number[]
  /** Per record: attributes left out over the count limit (its droppedAttributesCount). */
  droppedAttributes: number[]
  /** The whole buffer `bytes` lies in: pass it to the next encodeRecords() once `bytes` is no longer needed. */
  storage: Buffer
}

/** Nesting deeper than this is treated like a circular value (which the SDK refuses): the mapper keeps 32 levels. */
const MAX_DEPTH = 1000

const INT64_MIN = -(2 ** 63)
const INT64_MAX_EXCLUSIVE = 2 ** 63

/** Bytes of a varint holding n (0 ≤ n < 2^35). */
export function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5
}

/** Strings shorter than this are encoded in JavaScript, longer ones natively (measured crossover on Node 20). */
const SHORT_STRING = 20

/** A growable output buffer with the few protobuf primitives OTLP logs need. */
class Writer {
  buf: Buffer
  pos = 0

  /** Writes into `reuse` when it is large enough (and grows out of it when not). */
  constructor(initialSize: number, reuse?: Buffer) {
    this.buf = reuse !== undefined && reuse.length >= initialSize ? reuse : Buffer.allocUnsafe(Math.max(256, initialSize))
  }

  ensure(extra: number): void {
    const needed = this.pos + extra
    if (needed <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < needed) size *= 2
    const next = Buffer.allocUnsafe(size)
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  /** A single-byte tag (field numbers < 16) or a small varint (< 128). */
  byte(b: number): void {
    this.ensure(1)
    this.buf[this.pos++] = b
  }

  /** Unsigned varint of a value < 2^32. */
  uvarint(v: number): void {
    this.ensure(5)
    this.pos = putVarint(this.buf, this.pos, v)
  }

  /** int64 varint of an integral number in [-2^63, 2^63) (negative: ten bytes, two's complement). */
  int64(value: number): void {
    if (value >= 0 && value <= 0xffffffff) {
      this.uvarint(value)
      return
    }
    this.ensure(10)
    let low: number
    let high: number
    if (value >= 0) {
      low = value >>> 0
      high = (value / 0x100000000) >>> 0
    } else {
      const abs = Math.abs(value)
      low = ~(abs >>> 0) >>> 0
      high = ~((abs / 0x100000000) >>> 0) >>> 0
      low = (low + 1) >>> 0
      if (low === 0) high = (high + 1) >>> 0
    }
    const buf = this.buf
    while (high > 0 || low > 0x7f) {
      buf[this.pos++] = (low & 0x7f) | 0x80
      low = ((low >>> 7) | (high << 25)) >>> 0
      high >>>= 7
    }
    buf[this.pos++] = low & 0x7f
  }

  double(v: number): void {
    this.ensure(8)
    this.buf.writeDoubleLE(v, this.pos)
    this.pos += 8
  }

  /**
   * HrTime as fixed64 nanoseconds, computed as the SDK does (exact below 2^64 without BigInt): seconds split at 16
   * bits so that every product stays below 2^53.
   */
  hrTime(t: HrTime): void {
    const [seconds, nanos] = t
    const lowerNanos = (seconds & 0xffff) * 1e9
    const upperNanos = ((seconds / 0x10000) >>> 0) * 1e9
    const low = (lowerNanos >>> 0) + (((upperNanos & 0xffff) * 0x10000) >>> 0) + nanos
    const high = Math.floor(lowerNanos / 0x100000000) + ((upperNanos / 0x10000) >>> 0) + Math.floor(low / 0x100000000)
    this.ensure(8)
    this.buf.writeUInt32LE(low >>> 0, this.pos)
    this.buf.writeUInt32LE(high >>> 0, this.pos + 4)
    this.pos += 8
  }

  /** Length-prefixed UTF-8 (lone surrogates become U+FFFD, as TextEncoder makes them). */
  string(s: string): void {
    const len = s.length
    if (len < SHORT_STRING) {
      // Short strings: an ASCII check and copy in JavaScript beats a native call (~100 ns, ~5 ns a character).
      this.ensure(1 + len * 3)
      const buf = this.buf
      const start = this.pos
      let i = 0
      for (; i < len; i++) {
        const c = s.charCodeAt(i)
        if (c > 0x7f) break
        buf[start + 1 + i] = c
      }
      const n = i === len ? len : buf.write(s, start + 1, 'utf8')
      buf[start] = n // at most 3 × 19 bytes: one length byte
      this.pos = start + 1 + n
      return
    }
    // Under 128 characters the text is most likely ASCII (hashes, URLs, addresses): a one-byte length, moved only if
    // the UTF-8 turns out longer.
    const reserve = len < 0x80 ? 1 : varintSize(len * 3)
    this.ensure(reserve + len * 3)
    const start = this.pos
    const n = this.buf.write(s, start + reserve, 'utf8')
    this.pos = start + reserve + n
    this.finish(start, reserve)
  }

  /** Bytes already encoded (a native copy: a JavaScript loop costs ~5 ns a byte, more than the call from ~16 bytes). */
  raw(b: Uint8Array): void {
    this.ensure(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
  }

  bytes(b: Uint8Array): void {
    this.uvarint(b.length)
    this.ensure(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
  }

  /** Reserves `reserve` bytes for a length prefix; finish() writes it. */
  start(reserve: number): number {
    this.ensure(reserve)
    const at = this.pos
    this.pos += reserve
    return at
  }

  /** Writes the length of what follows the reserved prefix, moving the content if the length needs more or fewer bytes. */
  finish(at: number, reserve: number): void {
    const contentStart = at + reserve
    const length = this.pos - contentStart
    const size = varintSize(length)
    if (size !== reserve) {
      this.ensure(size - reserve)
      this.buf.copyWithin(at + size, contentStart, this.pos)
      this.pos += size - reserve
    }
    putVarint(this.buf, at, length)
  }
}

/** Writes v (< 2^32) as a varint at `at`; returns the position after it. */
function putVarint(buf: Buffer, at: number, v: number): number {
  while (v > 0x7f) {
    buf[at++] = (v & 0x7f) | 0x80
    v >>>= 7
  }
  buf[at] = v
  return at + 1
}

/** Tags (field number << 3 | wire type) used below; all fit in one byte. */
const TAG = {
  requestResourceLogs: 0x0a, // ExportLogsServiceRequest.resource_logs = 1
  resourceLogsResource: 0x0a, // ResourceLogs.resource = 1
  resourceLogsScopeLogs: 0x12, // ResourceLogs.scope_logs = 2
  resourceAttributes: 0x0a, // Resource.attributes = 1
  resourceDropped: 0x10, // Resource.dropped_attributes_count = 2
  scopeLogsScope: 0x0a, // ScopeLogs.scope = 1
  scopeLogsRecord: 0x12, // ScopeLogs.log_records = 2
  scopeName: 0x0a, // InstrumentationScope.name = 1
  scopeVersion: 0x12, // InstrumentationScope.version = 2
  recordTime: 0x09, // LogRecord.time_unix_nano = 1 (fixed64)
  recordSeverityNumber: 0x10, // = 2
  recordSeverityText: 0x1a, // = 3
  recordBody: 0x2a, // = 5
  recordAttributes: 0x32, // = 6
  recordDropped: 0x38, // = 7
  recordObservedTime: 0x59, // = 11 (fixed64)
  recordEventName: 0x62, // = 12
  kvKey: 0x0a, // KeyValue.key = 1
  kvValue: 0x12, // KeyValue.value = 2
  anyString: 0x0a, // AnyValue.string_value = 1
  anyBool: 0x10, // = 2
  anyInt: 0x18, // = 3
  anyDouble: 0x21, // = 4 (fixed64)
  anyArray: 0x2a, // = 5
  anyKvlist: 0x32, // = 6
  anyBytes: 0x3a, // = 7
  listValue: 0x0a, // ArrayValue.values = 1, KeyValueList.values = 1
} as const

function isPlainObject(v: object): v is AnyValueMap {
  const ctor = (v as { constructor?: unknown }).constructor
  return ctor === Object || ctor === undefined
}

/**
 * Writes an AnyValue's content, its strings cut to `cut` characters. Attributes are strict: a value that is not an
 * AnyValue (function, symbol, bigint, Date, a class instance, a cycle) returns false and the caller drops the
 * attribute. A body is lenient: such a value is written as nothing (an empty AnyValue), as the SDK's serializer does.
 */
function writeAnyValue(w: Writer, v: unknown, cut: number, strict: boolean, depth: number): boolean {
  switch (typeof v) {
    case 'string': {
      w.byte(TAG.anyString)
      w.string(v.length > cut ? v.substring(0, cut) : v)
      return true
    }
    case 'boolean':
      w.byte(TAG.anyBool)
      w.byte(v ? 1 : 0)
      return true
    case 'number':
      if (Number.isInteger(v) && v >= INT64_MIN && v < INT64_MAX_EXCLUSIVE) {
        w.byte(TAG.anyInt)
        w.int64(v)
      } else {
        w.byte(TAG.anyDouble)
        w.double(v)
      }
      return true
    case 'undefined':
      return true
    case 'object':
      break
    default:
      return !strict
  }
  if (v === null) return true
  if (depth > MAX_DEPTH) return !strict
  if (v instanceof Uint8Array) {
    w.byte(TAG.anyBytes)
    w.bytes(v)
    return true
  }
  if (Array.isArray(v)) {
    w.byte(TAG.anyArray)
    // Length prefixes reserved by estimate: a wrong guess costs a copy of everything written after it.
    const reserve = reserveFor(arrayEstimate(v as unknown[]))
    const at = w.start(reserve)
    for (const item of v as unknown[]) {
      w.byte(TAG.listValue)
      const itemReserve = typeof item === 'string' ? reserveFor(item.length + 3) : 1
      const itemAt = w.start(itemReserve)
      if (!writeAnyValue(w, item, cut, strict, depth + 1)) return false
      w.finish(itemAt, itemReserve)
    }
    w.finish(at, reserve)
    return true
  }
  if (strict && !isPlainObject(v)) return false
  w.byte(TAG.anyKvlist)
  const at = w.start(2)
  const map = v as AnyValueMap
  for (const key in map) {
    if (!Object.prototype.hasOwnProperty.call(map, key)) continue
    w.byte(TAG.listValue)
    const value = map[key]
    const kvReserve = reserveFor(key.length + 4 + valueEstimate(value))
    const kvAt = w.start(kvReserve)
    if (!writeKeyValueContent(w, key, value, cut, strict, depth + 1)) return false
    w.finish(kvAt, kvReserve)
  }
  w.finish(at, 2)
  return true
}

/**
 * Length prefixes are reserved by estimate, since a wrong guess costs a copy of everything written after it: the
 * encoded size of a value, exact for ASCII strings and short arrays of them, a short value for a number or a boolean.
 */
function valueEstimate(v: unknown): number {
  if (typeof v === 'string') return v.length + 3
  if (Array.isArray(v)) return arrayEstimate(v as unknown[])
  return typeof v === 'object' && v !== null ? 0x80 : 12
}

function arrayEstimate(items: unknown[]): number {
  let estimate = 3
  for (const item of items) estimate += typeof item === 'string' ? item.length + 4 : 12
  return estimate
}

/** Bytes a length prefix for about `estimate` bytes takes. */
function reserveFor(estimate: number): number {
  return estimate < 0x80 ? 1 : estimate < 0x4000 ? 2 : 3
}

/** Encoded `KeyValue.key` fields (tag, length, UTF-8) and the value's tag, by key; bounded: keys come from the data. */
const keyFields = new Map<string, Buffer>()
const KEY_FIELDS_MAX = 4096
/** Longer keys are encoded each time, not kept: they come from the API, up to ~1 MiB each (real ones: a few dozen). */
const KEY_FIELD_KEY_MAX = 256

/** Keys kept by keyField (tests). */
export function keyFieldsKept(): number {
  return keyFields.size
}

function keyField(key: string): Buffer {
  const kept = key.length <= KEY_FIELD_KEY_MAX
  let field = kept ? keyFields.get(key) : undefined
  if (field === undefined) {
    const w = new Writer(key.length * 3 + 6)
    w.byte(TAG.kvKey)
    w.string(key)
    w.byte(TAG.kvValue)
    field = Buffer.from(w.buf.subarray(0, w.pos))
    if (kept && keyFields.size < KEY_FIELDS_MAX) keyFields.set(key, field)
  }
  return field
}

function writeKeyValueContent(w: Writer, key: string, value: unknown, cut: number, strict: boolean, depth: number): boolean {
  w.raw(keyField(key))
  const reserve = reserveFor(valueEstimate(value))
  const at = w.start(reserve)
  if (!writeAnyValue(w, value, cut, strict, depth)) return false
  w.finish(at, reserve)
  return true
}

/** Writes the attributes as repeated KeyValue fields with the SDK's rules; returns how many the count limit dropped. */
function writeAttributes(w: Writer, attributes: AnyValueMap | AttributeList, countLimit: number, cut: number): number {
  const tally = { count: 0, dropped: 0 }
  if (attributes instanceof AttributeList) {
    const { keys, values } = attributes
    for (let i = 0; i < keys.length; i++) writeAttribute(w, keys[i] as string, values[i], countLimit, cut, tally)
  } else {
    for (const key in attributes) {
      if (!Object.prototype.hasOwnProperty.call(attributes, key)) continue
      writeAttribute(w, key, attributes[key], countLimit, cut, tally)
    }
  }
  return tally.dropped
}

function writeAttribute(w: Writer, key: string, value: unknown, countLimit: number, cut: number, tally: { count: number; dropped: number }): void {
  if (key.length === 0) return
  const rollback = w.pos
  if (tally.count >= countLimit) {
    // The SDK validates before it checks the limit: an invalid value is not counted as dropped.
    const ok = writeAnyValue(w, value, cut, true, 0)
    w.pos = rollback
    if (ok) tally.dropped++
    return
  }
  w.byte(TAG.recordAttributes)
  const reserve = reserveFor(key.length + 4 + valueEstimate(value))
  const at = w.start(reserve)
  if (writeKeyValueContent(w, key, value, cut, true, 0)) {
    w.finish(at, reserve)
    tally.count++
  } else {
    w.pos = rollback
  }
}

function writeRecord(w: Writer, r: EncodableRecord, countLimit: number, cut: number): number {
  w.byte(TAG.scopeLogsRecord)
  const at = w.start(2)
  w.byte(TAG.recordTime)
  w.hrTime(r.timestamp ?? UNSET_TIME)
  if (r.severityNumber !== undefined && r.severityNumber !== 0) {
    w.byte(TAG.recordSeverityNumber)
    w.uvarint(r.severityNumber)
  }
  if (r.severityText) {
    w.byte(TAG.recordSeverityText)
    w.string(r.severityText)
  }
  const utf8 = r.bodyUtf8
  if (utf8 !== undefined) {
    // A string AnyValue: its tag, then the length-prefixed bytes.
    w.byte(TAG.recordBody)
    w.uvarint(1 + varintSize(utf8.length) + utf8.length)
    w.byte(TAG.anyString)
    w.bytes(utf8)
  } else if (r.body !== undefined) {
    w.byte(TAG.recordBody)
    const bodyAt = w.start(2)
    writeAnyValue(w, r.body, Infinity, false, 0)
    w.finish(bodyAt, 2)
  }
  const dropped = writeAttributes(w, r.attributes, countLimit, cut)
  w.byte(TAG.recordDropped)
  w.uvarint(dropped)
  w.byte(TAG.recordObservedTime)
  w.hrTime(r.observedTimestamp)
  if (r.eventName) {
    w.byte(TAG.recordEventName)
    w.string(r.eventName)
  }
  w.finish(at, 2)
  return dropped
}

export class OtlpProtoLogsEncoder {
  /** Resource (field 1) and the scope (field 1 of ScopeLogs), encoded once: they are the same on every request. */
  private readonly resourceField: Buffer
  private readonly scopeField: Buffer
  private readonly countLimit: number
  private readonly cut: number

  constructor(opts: ProtoEncoderOptions) {
    this.countLimit = opts.attributeCountLimit ?? DEFAULT_ATTRIBUTE_COUNT_LIMIT
    const limit = opts.attributeValueLengthLimit
    // The SDK ignores a limit ≤ 0.
    this.cut = limit !== undefined && limit > 0 ? limit : Infinity

    const w = new Writer(1024)
    w.byte(TAG.resourceLogsResource)
    const at = w.start(2)
    // Resource attributes are written as they are (the SDK's serializer does not limit them).
    for (const key in opts.resourceAttributes) {
      if (!Object.prototype.hasOwnProperty.call(opts.resourceAttributes, key)) continue
      w.byte(TAG.resourceAttributes)
      const kvAt = w.start(2)
      writeKeyValueContent(w, key, opts.resourceAttributes[key], Infinity, false, 0)
      w.finish(kvAt, 2)
    }
    w.byte(TAG.resourceDropped)
    w.byte(0)
    w.finish(at, 2)
    this.resourceField = Buffer.from(w.buf.subarray(0, w.pos))

    const s = new Writer(256)
    s.byte(TAG.scopeLogsScope)
    const scopeAt = s.start(1)
    s.byte(TAG.scopeName)
    s.string(opts.scope.name)
    if (opts.scope.version) {
      s.byte(TAG.scopeVersion)
      s.string(opts.scope.version)
    }
    s.finish(scopeAt, 1)
    this.scopeField = Buffer.from(s.buf.subarray(0, s.pos))
  }

  /**
   * Encodes each record once; requests are then cut from the result with {@link request}. `reuse`: a buffer to
   * write into (a previous result's `storage`), so that a steady stream of calls does not allocate megabytes each.
   */
  encodeRecords(records: readonly ExportRecord[], reuse?: Buffer): EncodedRecords {
    const out = this.recordsWriter(records.length, reuse)
    for (const r of records) out.add(r)
    return out.end()
  }

  /**
   * The same, one record at a time: a worker thread encodes each event as soon as it is mapped, so a batch's records
   * never live together (they die young, and a small young generation is enough).
   */
  recordsWriter(expected: number, reuse?: Buffer): { add(r: ExportRecord | EncodableRecord): void; end(): EncodedRecords } {
    const w = new Writer(expected * 2048, reuse)
    const ends: number[] = []
    const droppedAttributes: number[] = []
    const { countLimit, cut } = this
    return {
      add(r) {
        if (isEncoded(r)) {
          // A worker's encoder (same limits) wrote it already.
          w.raw(r.encoded)
          droppedAttributes.push(r.droppedAttributes)
        } else {
          droppedAttributes.push(writeRecord(w, r, countLimit, cut))
        }
        ends.push(w.pos)
      },
      end: () => ({ bytes: w.buf.subarray(0, w.pos), ends, droppedAttributes, storage: w.buf }),
    }
  }

  /** Bytes a request adds around its records (at most: the two outer length prefixes counted at 5 bytes). */
  get overheadBytes(): number {
    return 1 + 5 + this.resourceField.length + 1 + 5 + this.scopeField.length
  }

  /**
   * An ExportLogsServiceRequest holding already encoded records (a slice of EncodedRecords.bytes); none: an empty
   * body, what the SDK sends. `reuse`: a buffer to build it in (the `storage` of a previous request no longer needed).
   */
  request(records: Buffer, reuse?: Buffer): { body: Buffer; storage: Buffer } {
    if (records.length === 0) return { body: Buffer.alloc(0), storage: reuse ?? Buffer.alloc(0) }
    const scopeLogsLength = this.scopeField.length + records.length
    const resourceLogsLength = this.resourceField.length + 1 + varintSize(scopeLogsLength) + scopeLogsLength
    const total = 1 + varintSize(resourceLogsLength) + resourceLogsLength
    const w = new Writer(total, reuse)
    w.byte(TAG.requestResourceLogs)
    w.uvarint(resourceLogsLength)
    this.resourceField.copy(w.buf, w.pos)
    w.pos += this.resourceField.length
    w.byte(TAG.resourceLogsScopeLogs)
    w.uvarint(scopeLogsLength)
    this.scopeField.copy(w.buf, w.pos)
    w.pos += this.scopeField.length
    records.copy(w.buf, w.pos)
    w.pos += records.length
    return { body: w.buf.subarray(0, w.pos), storage: w.buf }
  }

  /** Records → one request (tests, check-config). */
  encodeRequest(records: readonly LogRecordParts[]): { body: Buffer; droppedAttributes: number[] } {
    const encoded = this.encodeRecords(records)
    return { body: this.request(encoded.bytes).body, droppedAttributes: encoded.droppedAttributes }
  }
}
